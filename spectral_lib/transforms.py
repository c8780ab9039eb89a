"""Input conditions that test Theorem 1's assumption of spatially correlated inputs.

A fixed random permutation of the pixels, applied identically to every image (train and test), keeps all the
information (a network can learn the same classifier) but destroys spatial correlation: neighbours in the array are no
longer neighbours in the image. Smoothing the *permuted* images with a Gaussian of width ``sigma`` brings spatial
correlation back in a controlled amount, so correlation becomes a dial rather than a switch.

Shapes: images are (N, C, H, W); a permutation is a (H*W,) int64 tensor ``perm`` with
``permuted.flatten(2)[..., i] = image.flatten(2)[..., perm[i]]``.
"""
from __future__ import annotations

import math

import torch
from torch.utils.data import TensorDataset

from ._checks import check_nonnegative_finite, check_positive_int, check_tensor

__all__ = ["pixel_permutation", "permute_pixels", "unpermute_pixels", "gaussian_smooth", "apply_input_condition",
           "INPUT_CONDITIONS", "condition_name"]

INPUT_CONDITIONS = ("natural", "permuted", "permuted+smoothed")


def pixel_permutation(height: int, width: int, seed: int) -> torch.Tensor:
    """A fixed random permutation of ``height * width`` pixel positions, drawn from ``seed``. Returns (H*W,) int64."""
    height = check_positive_int("height", height)
    width = check_positive_int("width", width)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"permutation seed must be an int, got {type(seed).__name__} {seed!r}")
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(height * width, generator=g)


def _check_perm(x: torch.Tensor, perm: torch.Tensor) -> None:
    check_tensor("x", x, ndim=4, finite=False)
    if not isinstance(perm, torch.Tensor) or perm.shape != (x.shape[-2] * x.shape[-1],):
        raise ValueError(f"perm must be a ({x.shape[-2] * x.shape[-1]},) permutation for {tuple(x.shape[-2:])} "
                         f"images, got {tuple(perm.shape) if isinstance(perm, torch.Tensor) else type(perm).__name__}")


def permute_pixels(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Move pixel ``perm[i]`` of every image (and channel) to position ``i``. (N, C, H, W) -> (N, C, H, W)."""
    _check_perm(x, perm)
    return x.flatten(2)[..., perm.to(x.device)].reshape(x.shape)


def unpermute_pixels(x: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`permute_pixels`: ``unpermute_pixels(permute_pixels(x, p), p) == x``. Use it to see a
    gradient map of a network trained on permuted images in the original pixel order. (N, C, H, W) -> same."""
    _check_perm(x, perm)
    return x.flatten(2)[..., torch.argsort(perm).to(x.device)].reshape(x.shape)


def gaussian_smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of each image with standard deviation ``sigma`` pixels (kernel 2*ceil(3 sigma)+1, reflect
    padding); ``sigma = 0`` returns x unchanged. (N, C, H, W) -> (N, C, H, W)."""
    sigma = check_nonnegative_finite("sigma", sigma)
    if sigma == 0:
        return x
    from torchvision.transforms.functional import gaussian_blur

    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur(x, [k, k], [sigma, sigma])


def condition_name(permutation_seed: int | None, smoothing_sigma: float) -> str:
    """A label for an input condition: 'natural', 'permuted' or 'permuted+smoothed(sigma)'."""
    if permutation_seed is None:
        return "natural" if smoothing_sigma == 0 else f"smoothed({smoothing_sigma:g})"
    return "permuted" if smoothing_sigma == 0 else f"permuted+smoothed({smoothing_sigma:g})"


def apply_input_condition(splits, permutation_seed: int | None, smoothing_sigma: float = 0.0):
    """Apply a pixel permutation (``permutation_seed``; None: none) and then a Gaussian smoothing of width
    ``smoothing_sigma`` pixels to every image of both splits, identically. Smoothed inputs are re-standardised with
    the training split's mean and std (per channel), so that the networks see inputs on the usual scale.

    ``splits``: :class:`spectral_lib.data.Splits` whose train and test sets are ``TensorDataset`` of (N, C, H, W)
    images (the embedded datasets). Returns new Splits; the input is not modified.
    """
    smoothing_sigma = check_nonnegative_finite("input_smoothing_sigma", smoothing_sigma)
    if permutation_seed is None and smoothing_sigma == 0:
        return splits
    if not (isinstance(splits.train, TensorDataset) and isinstance(splits.test, TensorDataset)):
        raise ValueError("input conditions (pixel_permutation, input_smoothing_sigma) need a dataset held in memory "
                         f"as tensors (mnist5k, digits, lfw), got {type(splits.train).__name__}")
    (xtr, ytr), (xte, yte) = splits.train.tensors, splits.test.tensors
    if permutation_seed is not None:
        perm = pixel_permutation(xtr.shape[-2], xtr.shape[-1], permutation_seed)
        xtr, xte = permute_pixels(xtr, perm), permute_pixels(xte, perm)
    if smoothing_sigma > 0:
        xtr, xte = gaussian_smooth(xtr, smoothing_sigma), gaussian_smooth(xte, smoothing_sigma)
        mean = xtr.mean(dim=(0, 2, 3), keepdim=True)
        std = xtr.std(dim=(0, 2, 3), keepdim=True).clamp(min=1e-8)
        xtr, xte = (xtr - mean) / std, (xte - mean) / std
    return splits._replace(train=TensorDataset(xtr, ytr), test=TensorDataset(xte, yte))
