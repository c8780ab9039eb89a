"""Data: every dataset the book uses as ``(train, test, info)`` splits of normalised image tensors, offline first,
and the input conditions applied to them (pixel permutation, input smoothing, neighbour correlation).

* :func:`load`: ``mnist5k`` (the default), ``digits``, ``lfw`` (shipped inside PyPI packages), torchvision's
  ``mnist``, ``fashion_mnist``, ``cifar10``, ``imagenette`` (download only when asked) and the JPEG copies
  ``cifar10_jpeg`` (shipped in the repository) and ``imagenette_jpeg224`` (a data folder you name), see
  :mod:`~spectral_lib.data.jpeg_copies`; ``mnist5k_jpeg75`` and ``mnist5k_resized``, mnist5k after the copies'
  processing (:mod:`~spectral_lib.data.degraded`).
* :func:`dataset_info`: a dataset's shapes and split sizes without loading anything (for validating a configuration).
* :func:`take`: the first n test examples as tensors, so that every method and network sees the same images.
* :mod:`~spectral_lib.data.conditions`: pixel permutation, Gaussian smoothing, :func:`neighbour_correlation`.

May import only the package's root infrastructure (``checks``, ``cache``, ``paths``)."""
from .catalog import DATASETS, DEGRADED_NAMES, EMBEDDED, JPEG_COPY_NAMES, TORCHVISION, DatasetInfo, DatasetShape, DatasetUnavailableError, Splits, dataset_info
from .conditions import (Condition, apply_input_condition, gaussian_smooth, neighbour_correlation, parse_condition,
                         parse_conditions, permute_pixels, pixel_permutation, unpermute_pixels)
from .jpeg_copies import DatasetFormatError
from .loader import load
from .subsets import balanced_head
from .tensors import ImageTensors, fingerprint, take

__all__ = ["load", "dataset_info", "take", "fingerprint", "balanced_head", "DATASETS", "EMBEDDED", "TORCHVISION",
           "JPEG_COPY_NAMES", "DEGRADED_NAMES", "DatasetFormatError", "DatasetInfo",
           "DatasetShape", "DatasetUnavailableError", "Splits", "ImageTensors", "Condition", "parse_condition",
           "parse_conditions", "apply_input_condition", "pixel_permutation", "permute_pixels", "unpermute_pixels",
           "gaussian_smooth", "neighbour_correlation"]
