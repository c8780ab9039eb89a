"""What the datasets are, known without loading them: names, input shapes, classes, split sizes, normalisation,
and the types :func:`spectral_lib.data.load` returns (:class:`Splits`, :class:`DatasetInfo`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from torch.utils.data import Dataset

from ..checks import check_choice, check_positive_int

__all__ = ["EMBEDDED", "TORCHVISION", "JPEG_COPY_NAMES", "DEGRADED_NAMES", "DATASETS", "DatasetUnavailableError", "DatasetInfo", "Splits", "DatasetShape",
           "dataset_info"]

EMBEDDED = ("mnist5k", "digits", "lfw")


TORCHVISION = ("mnist", "fashion_mnist", "cifar10", "imagenette")


# JPEG copies of natural images (spectral_lib.data.jpeg_copies): not bit-identical to the official files
JPEG_COPY_NAMES = ("cifar10_jpeg", "imagenette_jpeg224")


# mnist5k after a JPEG or a resize round trip (spectral_lib.data.degraded): what the copies' processing does to EF
DEGRADED_NAMES = ("mnist5k_jpeg75", "mnist5k_resized")


DATASETS = EMBEDDED + TORCHVISION + JPEG_COPY_NAMES + DEGRADED_NAMES


_TV_STATS = {
    "mnist": ((0.1307,), (0.3081,), (1, 28, 28), 10),
    "fashion_mnist": ((0.5,), (0.5,), (1, 28, 28), 10),  # the authors normalise with 0.5 / 0.5
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), (3, 32, 32), 10),
    "imagenette": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), (3, 224, 224), 10),
}


# name -> (native (C, H, W), classes, train size, test size): what dataset_info knows without loading anything
_SHAPES = {
    "mnist5k": ((1, 28, 28), 10, 4000, 1000),
    "digits": ((1, 8, 8), 10, 1438, 359),
    "lfw": ((1, 25, 25), 2, 150, 50),
    "mnist": ((1, 28, 28), 10, 60000, 10000),
    "fashion_mnist": ((1, 28, 28), 10, 60000, 10000),
    "cifar10": ((3, 32, 32), 10, 50000, 10000),
    "imagenette": ((3, 224, 224), 10, 9469, 3925),
    "cifar10_jpeg": ((3, 32, 32), 10, 50000, 10000),
    "imagenette_jpeg224": ((3, 224, 224), 10, 9469, 3925),
    "mnist5k_jpeg75": ((1, 28, 28), 10, 4000, 1000),
    "mnist5k_resized": ((1, 28, 28), 10, 4000, 1000),
}


class DatasetUnavailableError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable here; the message says where it was looked for and the fix."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset: name, input shape (C, H, W), classes, normalisation."""

    name: str
    in_shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]


class Splits(NamedTuple):
    train: Dataset
    test: Dataset
    info: DatasetInfo


class DatasetShape(NamedTuple):
    """A dataset's shapes without its data: input shape (C, H, W) after ``image_size``, classes, split sizes."""

    name: str
    in_shape: tuple[int, int, int]
    num_classes: int
    n_train: int
    n_test: int


def dataset_info(name: str, image_size: int | None = None) -> DatasetShape:
    """What :func:`load` would give for ``(name, image_size)``, known without loading (microseconds): the input
    shape (C, H, W) that models see, the number of classes and the sizes of the two splits."""
    check_choice("dataset", name, DATASETS)
    if image_size is not None:
        check_positive_int("image_size", image_size, minimum=4)
    (c, h, w), k, n_train, n_test = _SHAPES[name]
    if image_size is not None:
        h = w = image_size
    return DatasetShape(name, (c, h, w), k, n_train, n_test)
