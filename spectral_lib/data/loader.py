"""One entry point for every dataset: :func:`load` (train and test splits, normalised, with the dataset's info)."""
from __future__ import annotations

import os
from pathlib import Path

from ..checks import check_choice, check_positive_int
from ..paths import default_cache_dir
from .catalog import DATASETS, DEGRADED_NAMES, EMBEDDED, JPEG_COPY_NAMES, Splits
from .embedded import load_embedded
from .standins import enabled as _standins, load_standin
from .torchvision_sets import load_torchvision

__all__ = ["load"]

def load(
    name: str = "mnist5k",
    root: str | os.PathLike | None = None,
    download: bool = False,
    image_size: int | None = None,
    augment: bool = False,
    n_train: int | None = None,
    source: str | os.PathLike | None = None,
) -> Splits:
    """Load a dataset as ``Splits(train, test, info)``.

    Args:
        name: one of :data:`DATASETS`.
        root: where datasets are cached/stored (default ``<cache>/datasets``, see :mod:`spectral_lib.paths`).
        download: let torchvision download (needs a network). Ignored for embedded datasets.
        image_size: resize images to ``image_size x image_size`` (bilinear); None keeps the native size.
        augment: random horizontal flips on the training split (cifar10, imagenette, cifar10_jpeg, as in the
            paper); the authors' Imagenette training augmentation for imagenette_jpeg224.
        n_train: train on a fixed class-balanced part of the training split (:func:`.subsets.balanced_head`).
        source: where a JPEG copy's images are (``cifar10_jpeg``, ``imagenette_jpeg224``; see
            :mod:`.jpeg_copies`), else its environment variable / the shipped archive.
    Returns:
        Splits whose datasets yield ``(x, y)`` with x a (C, H, W) float32 normalised tensor and y an int64 label.
    Raises:
        ValueError for an unknown name or bad image_size; DatasetUnavailableError (a FileNotFoundError) when a
        torchvision dataset is missing and cannot be downloaded, naming the root searched and the fix.
    """
    check_choice("name", name, DATASETS)
    if image_size is not None:
        check_positive_int("image_size", image_size, minimum=4)
    if n_train is not None:
        check_positive_int("n_train", n_train)
    cache = default_cache_dir()
    root_path = Path(root).expanduser() if root is not None else cache / "datasets"
    if name not in EMBEDDED and _standins():  # smoke mode: synthetic images of the dataset's shape (.standins)
        splits = load_standin(name, image_size, augment)
    elif name in EMBEDDED:
        splits = load_embedded(name, image_size, cache)
    elif name in DEGRADED_NAMES:
        from .degraded import load_degraded

        splits = load_degraded(name, image_size, cache)
    elif name in JPEG_COPY_NAMES:
        from .jpeg_copies import load_jpeg_copy

        splits = load_jpeg_copy(name, root_path, image_size, augment, source)
    else:
        splits = load_torchvision(name, root_path, download, image_size, augment)
    if n_train is not None:
        from .subsets import balanced_head

        splits = splits._replace(train=balanced_head(splits.train, n_train))
    return splits
