"""Batches of a training split as :func:`spectral_lib.training.train` draws them, and accuracy on a split.

``_batches``: a ``TensorDataset`` or an :class:`~spectral_lib.data.ImageTensors` split sliced directly (the same
batches, bit for bit, as a ``DataLoader`` with the same generator), any other dataset through a ``DataLoader``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ..data import ImageTensors

__all__ = ["accuracy"]


def _item_numel(dataset: Dataset) -> int:
    """Input values of one example (C*H*W), read without drawing an augmentation (no random numbers used)."""
    if isinstance(dataset, TensorDataset):
        return max(1, dataset.tensors[0][0].numel()) if len(dataset) else 1
    images = getattr(dataset, "images", None)
    if isinstance(images, torch.Tensor) and len(images):
        return max(1, images[0].numel())
    return max(1, dataset[0][0].numel()) if len(dataset) else 1


@torch.no_grad()
def accuracy(model: nn.Module, dataset: Dataset, batch_size: int | None = None, device=None) -> float:
    """Fraction of correctly classified examples of ``dataset`` (eval mode, restored afterwards). ``batch_size``
    None: 1024, fewer for large inputs (at most 2**24 input values a batch: 111 images at 3x224x224), so that
    peak memory stays bounded; the result does not depend on it."""
    device = device or next(model.parameters()).device
    if batch_size is None:
        batch_size = max(1, min(1024, 2**24 // _item_numel(dataset)))
    was = model.training
    model.eval()
    correct = total = 0
    for x, y in _batches(dataset, batch_size, shuffle=False):
        correct += int((model(x.to(device)).argmax(1) == y.to(device)).sum())
        total += len(y)
    model.train(was)
    return correct / max(total, 1)


def _batches(dataset: Dataset, batch_size: int, shuffle: bool, generator: torch.Generator | None = None):
    if isinstance(dataset, TensorDataset):
        x, y = dataset.tensors
        idx = torch.randperm(len(x), generator=generator) if shuffle else torch.arange(len(x))
        for i in range(0, len(x), batch_size):
            j = idx[i : i + batch_size]
            yield x[j], y[j]
    elif isinstance(dataset, ImageTensors) and (generator is not None or not shuffle):
        yield from _image_batches(dataset, batch_size, shuffle, generator)
    else:
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0)


def _image_batches(dataset: ImageTensors, batch_size: int, shuffle: bool, generator: torch.Generator | None):
    """The batches ``DataLoader(dataset, batch_size, shuffle, generator=generator, num_workers=0)`` yields, bit for
    bit, without its per-item machinery (``__getitems__`` then unbind and re-stack: 30-60% of a CIFAR epoch's
    data time): ``dataset.batch`` of each slice of the same permutation. The generators are drawn exactly as the
    DataLoader draws them (the iterator's base seed, then ``RandomSampler``'s permutation, then its second, empty
    permutation once the first is used up, just before a last partial batch), so the random streams, hence the
    trained weights, are those of the DataLoader path (``tests/test_jpeg_datasets.py``)."""
    n = len(dataset)
    # the DataLoader iterator's base seed: from the generator, or from torch's global one when there is none (so the
    # global stream, which draws the flips, moves on as with the DataLoader at every cap check)
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    if not shuffle:
        for i in range(0, n, batch_size):
            yield dataset.batch(slice(i, i + batch_size))
        return
    perm = torch.randperm(n, generator=generator)
    full = n - n % batch_size
    for i in range(0, full, batch_size):
        yield dataset.batch(perm[i : i + batch_size])
    torch.randperm(n, generator=generator)  # RandomSampler draws a second permutation (of which it yields nothing)
    if full < n:
        yield dataset.batch(perm[full:])
