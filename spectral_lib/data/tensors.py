"""Preprocessed image tensors: :class:`ImageTensors` (uint8 images normalised on access, batch-wise) and
:func:`take` (the first n examples of any dataset as tensors)."""
from __future__ import annotations

import hashlib

import torch
from torch.utils.data import Dataset, TensorDataset

from ..checks import check_positive_int
from .catalog import Splits

__all__ = ["ImageTensors", "take", "fingerprint"]

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
