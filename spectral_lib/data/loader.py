"""One entry point for every dataset: :func:`load` (train and test splits, normalised, with the dataset's info)."""
from __future__ import annotations

import os
from pathlib import Path

from ..checks import check_choice, check_positive_int
from ..paths import default_cache_dir
from .catalog import DATASETS, EMBEDDED, Splits
from .embedded import load_embedded
from .torchvision_sets import load_torchvision

__all__ = ["load"]

def load(
    name: str = "mnist5k",
    root: str | os.PathLike | None = None,
    download: bool = False,
    image_size: int | None = None,
    augment: bool = False,
) -> Splits:
    """Load a dataset as ``Splits(train, test, info)``.

    Args:
        name: one of :data:`DATASETS`.
        root: where datasets are cached/stored (default ``<cache>/datasets``, see :mod:`spectral_lib.paths`).
        download: let torchvision download (needs a network). Ignored for embedded datasets.
        image_size: resize images to ``image_size x image_size`` (bilinear); None keeps the native size.
        augment: random horizontal flips on the training split (cifar10, imagenette only, as in the paper).
    Returns:
        Splits whose datasets yield ``(x, y)`` with x a (C, H, W) float32 normalised tensor and y an int64 label.
    Raises:
        ValueError for an unknown name or bad image_size; DatasetUnavailableError (a FileNotFoundError) when a
        torchvision dataset is missing and cannot be downloaded, naming the root searched and the fix.
    """
    check_choice("name", name, DATASETS)
    if image_size is not None:
        check_positive_int("image_size", image_size, minimum=4)
    cache = default_cache_dir()
    if name in EMBEDDED:
        return load_embedded(name, image_size, cache)
    root_path = Path(root).expanduser() if root is not None else cache / "datasets"
    return load_torchvision(name, root_path, download, image_size, augment)
