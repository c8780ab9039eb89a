"""Data: every dataset the book uses as ``(train, test, info)`` splits of normalised image tensors, offline first,
and the input conditions applied to them (pixel permutation, input smoothing, neighbour correlation).

* :func:`load`: ``mnist5k`` (the default), ``digits``, ``lfw`` (shipped inside PyPI packages) and torchvision's
  ``mnist``, ``fashion_mnist``, ``cifar10``, ``imagenette`` (download only when asked).
* :func:`dataset_info`: a dataset's shapes and split sizes without loading anything (for validating a configuration).
* :func:`take`: the first n test examples as tensors, so that every method and network sees the same images.
* :mod:`~spectral_lib.data.conditions`: pixel permutation, Gaussian smoothing, :func:`neighbour_correlation`.

May import only the package's root infrastructure (``checks``, ``cache``, ``paths``)."""
from .catalog import DATASETS, EMBEDDED, TORCHVISION, DatasetInfo, DatasetShape, DatasetUnavailableError, Splits, dataset_info
from .conditions import (Condition, apply_input_condition, gaussian_smooth, neighbour_correlation, parse_condition,
                         parse_conditions, permute_pixels, pixel_permutation, unpermute_pixels)
from .loader import load
from .tensors import ImageTensors, fingerprint, take

__all__ = ["load", "dataset_info", "take", "fingerprint", "DATASETS", "EMBEDDED", "TORCHVISION", "DatasetInfo",
           "DatasetShape", "DatasetUnavailableError", "Splits", "ImageTensors", "Condition", "parse_condition",
           "parse_conditions", "apply_input_condition", "pixel_permutation", "permute_pixels", "unpermute_pixels",
           "gaussian_smooth", "neighbour_correlation"]
