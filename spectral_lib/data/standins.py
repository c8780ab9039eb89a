"""Synthetic stand-ins for the paper's datasets, for the smoke mode (``scripts/build_book.py --smoke``): the shapes
and class counts of the real ones, a handful of images, no file and no network.

:func:`load` serves :func:`load_standin` instead of every non-embedded dataset (``fashion_mnist`` 1x28x28/10,
``cifar10`` 3x32x32/10, ``imagenette`` 3x224x224/10, any other catalogued dataset with its catalogued shape) when
``SPECTRAL_LIB_STANDINS=1``; ``imagenet`` (3x224x224/1000) exists only here, for probing ImageNet-sized models. The
embedded datasets (``mnist5k``, ``digits``, ``lfw``) ship with the packages and stay real.

The images play the role of torchvision's ``FakeData`` but are learnable, so that a network passes a low accuracy
cap within a couple of epochs and the chapters' capped code paths run: image ``i`` has label ``i mod K`` and is
``128 + 50 * P[label] + 40 * noise`` (clipped to uint8), ``P[k]`` a smooth per-class pattern (uniform 4x4 per
channel, bilinearly upsampled), noise i.i.d. standard normal; all drawn from generators seeded by the dataset's name,
so every process sees the same images. Normalisation: mean 0.5, std 0.25 per channel (the generated pixels' scale).
Sizes: ``SPECTRAL_LIB_STANDIN_TRAIN`` (default 16) and ``SPECTRAL_LIB_STANDIN_TEST`` (default 32) images.
"""
from __future__ import annotations

import os
import zlib

import torch
import torch.nn.functional as F

from ..checks import check_positive_int
from .catalog import DATASETS, DatasetInfo, Splits, dataset_info
from .tensors import ImageTensors

__all__ = ["ENV", "EXTRA", "enabled", "standin_shape", "load_standin"]

ENV = "SPECTRAL_LIB_STANDINS"
EXTRA = {"imagenet": ((3, 224, 224), 1000)}  # not a dataset of the book; only its stand-in exists
_MEAN, _STD = 0.5, 0.25


def enabled() -> bool:
    """Whether :func:`spectral_lib.data.load` serves stand-ins (``SPECTRAL_LIB_STANDINS=1``)."""
    return os.environ.get(ENV, "") == "1"


def standin_shape(name: str) -> tuple[tuple[int, int, int], int]:
    """((C, H, W), classes) of the stand-in for ``name``: the catalogued shape, or :data:`EXTRA`'s."""
    if name in EXTRA:
        return EXTRA[name]
    if name not in DATASETS:
        raise ValueError(f"no stand-in for dataset {name!r}; known: {sorted([*DATASETS, *EXTRA])}")
    info = dataset_info(name)
    return info.in_shape, info.num_classes


def _size(var: str, default: int) -> int:
    v = os.environ.get(var, "")
    return check_positive_int(var, int(v)) if v.strip() else default


def _images(name: str, split: str, n: int, shape: tuple[int, int, int], k: int) -> tuple[torch.Tensor, torch.Tensor]:
    c, h, w = shape
    seed = zlib.crc32(name.encode())
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % k
    used = torch.unique(labels)
    patterns = torch.rand(len(used), c, 4, 4, generator=g) * 2 - 1  # the class patterns, shared by both splits
    patterns = F.interpolate(patterns, size=(h, w), mode="bilinear", align_corners=False)
    index = torch.full((k,), -1, dtype=torch.long)
    index[used] = torch.arange(len(used))
    gs = torch.Generator().manual_seed(seed + (1 if split == "train" else 2))
    x = 128 + 50 * patterns[index[labels]] + 40 * torch.randn(n, c, h, w, generator=gs)
    return x.round().clamp(0, 255).to(torch.uint8), labels.to(torch.int64)


def load_standin(name: str, image_size: int | None = None, augment: bool = False, n_train: int | None = None,
                 n_test: int | None = None) -> Splits:
    """``Splits(train, test, info)`` of the stand-in for ``name`` (see the module docstring): ``n_train`` / ``n_test``
    images (defaults from the environment, 16 / 32) of the dataset's shape, at ``image_size`` if given; random
    horizontal flips on the training split with ``augment``. Items are (C, H, W) float32 normalised tensors."""
    (c, h, w), k = standin_shape(name)
    if image_size is not None:
        h = w = check_positive_int("image_size", image_size, minimum=4)
    n_train = n_train if n_train is not None else _size("SPECTRAL_LIB_STANDIN_TRAIN", 16)
    n_test = n_test if n_test is not None else _size("SPECTRAL_LIB_STANDIN_TEST", 32)
    mean, std = (_MEAN,) * c, (_STD,) * c
    train = ImageTensors(*_images(name, "train", n_train, (c, h, w), k), mean, std, flip=augment)
    test = ImageTensors(*_images(name, "test", n_test, (c, h, w), k), mean, std)
    return Splits(train, test, DatasetInfo(name, (c, h, w), k, mean, std))
