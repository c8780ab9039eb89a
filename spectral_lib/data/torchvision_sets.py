"""torchvision's datasets (``mnist``, ``fashion_mnist``, ``cifar10``, ``imagenette``): downloaded only when asked,
decoded, resized and cropped once into a checksummed uint8 tensor cache ``<root>/<name>/spectral-<split>-<size>px.pt``
(atomic, see :mod:`spectral_lib.cache`), then served as :class:`~spectral_lib.data.tensors.ImageTensors`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset

from ..cache import CorruptCacheError
from ..cache import load as cache_load
from ..cache import save as cache_save
from .catalog import _TV_STATS, EMBEDDED, DatasetInfo, DatasetUnavailableError, Splits
from .tensors import ImageTensors

__all__ = ["load_torchvision", "TENSOR_CACHE_VERSION"]

TENSOR_CACHE_VERSION = 1  # bump when the decoding/resizing of the torchvision datasets changes


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


def load_torchvision(name: str, root: Path, download: bool, image_size: int | None, augment: bool) -> Splits:
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
