"""A fixed, class-balanced part of a training split (:func:`balanced_head`), for runs that train on fewer images
than the split holds (e.g. the CIFAR-10 chapter of the quick book)."""
from __future__ import annotations

import torch
from torch.utils.data import Dataset, TensorDataset

from ..checks import check_positive_int
from .tensors import ImageTensors

__all__ = ["balanced_order", "balanced_head"]


def balanced_order(labels: torch.Tensor) -> torch.Tensor:
    """Indices of ``labels`` (N,) round-robin over the classes: the first example of each class (classes in
    ascending order), then the second of each, ...; within a class the split's own order is kept. Any prefix is
    therefore as class-balanced as it can be. Returns (N,) int64."""
    labels = torch.as_tensor(labels).long()
    rank = torch.empty_like(labels)
    for c in labels.unique():
        where = (labels == c).nonzero().flatten()
        rank[where] = torch.arange(len(where))
    # sort by (rank within the class, class); stable, so ties keep the split's order
    return torch.argsort(rank * (int(labels.max()) + 1) + labels, stable=True)


def balanced_head(dataset: Dataset, n: int | None) -> Dataset:
    """The first ``n`` examples of ``dataset`` in :func:`balanced_order` (None, or n >= its size: the dataset
    itself), of the same kind: a ``TensorDataset``, an :class:`ImageTensors` (flips and normalisation kept) or a
    dataset with a ``subset(indices)`` method. Deterministic: every network trained with ``n`` sees the same images."""
    if n is None:
        return dataset
    n = check_positive_int("n_train", n)
    if n >= len(dataset):
        return dataset
    if isinstance(dataset, TensorDataset):
        labels = dataset.tensors[1]
    elif isinstance(dataset, ImageTensors):
        labels = dataset.labels
    else:
        raise TypeError(f"n_train needs a dataset held as tensors, got {type(dataset).__name__}")
    idx = torch.sort(balanced_order(labels)[:n]).values  # the chosen examples, in the split's order
    if hasattr(dataset, "subset"):
        return dataset.subset(idx)
    if isinstance(dataset, TensorDataset):
        return TensorDataset(*(t[idx] for t in dataset.tensors))
    mean = tuple(dataset.mean.flatten().tolist())
    std = tuple(dataset.std.flatten().tolist())
    return ImageTensors(dataset.images[idx], dataset.labels[idx], mean, std, flip=dataset.flip)
