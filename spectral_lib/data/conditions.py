"""Input conditions: what is done to every image, identically for train and test, to test Theorem 1's assumption of
spatially correlated inputs, and how correlated the inputs are.

A fixed random permutation of the pixels keeps all the information (a network can learn the same classifier) but
destroys spatial correlation: neighbours in the array are no longer neighbours in the image. Smoothing the *permuted*
images with a Gaussian of width ``sigma`` brings spatial correlation back in a controlled amount, so correlation
becomes a dial rather than a switch. :func:`gaussian_smooth` is the package's one Gaussian blur (also the training
blur of the ablations). :func:`neighbour_correlation` measures how correlated neighbouring inputs are.

Shapes: images are (N, C, H, W); a permutation is a (H*W,) int64 tensor ``perm`` with
``permuted.flatten(2)[..., i] = image.flatten(2)[..., perm[i]]``.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
from torch.utils.data import TensorDataset

from ..checks import check_nonnegative_finite, check_positive_int, check_tensor

__all__ = ["pixel_permutation", "permute_pixels", "unpermute_pixels", "gaussian_smooth", "apply_input_condition",
           "Condition", "parse_condition", "parse_conditions", "neighbour_correlation"]

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


class Condition(NamedTuple):
    """An input condition: its spec as given (``"permuted+smoothed:1"``), the :class:`~spectral_lib.training.TrainConfig`
    fields it sets, and a label for tables (``"permuted+smoothed(1)"``)."""

    spec: str
    label: str
    pixel_permutation: int | None
    input_smoothing_sigma: float


_CONDITION_HELP = ("'natural', 'permuted' or 'permuted+smoothed:<sigma>' (sigma: the Gaussian's width in pixels, "
                   "> 0, e.g. 'permuted+smoothed:1')")


def parse_condition(spec: str, permutation_seed: int = 0) -> Condition:
    """An input condition from its spec: ``"natural"`` (the images as they are), ``"permuted"`` (a fixed random pixel
    permutation drawn from ``permutation_seed``, the same for train and test) or ``"permuted+smoothed:<sigma>"`` (then
    a Gaussian smoothing of ``sigma`` pixels). Raises TypeError/ValueError naming the spec or the seed."""
    if not isinstance(spec, str):
        raise TypeError(f"an input condition must be a string, {_CONDITION_HELP}; got {type(spec).__name__} {spec!r}")
    if spec != "natural" and (isinstance(permutation_seed, bool) or not isinstance(permutation_seed, int)
                              or permutation_seed < 0):
        raise TypeError(f"permutation_seed must be a non-negative int (the seed of the pixel permutation), got "
                        f"{type(permutation_seed).__name__} {permutation_seed!r}")
    name, sep, arg = spec.partition(":")
    if name == "natural" and not sep:
        return Condition(spec, "natural", None, 0.0)
    if name == "permuted" and not sep:
        return Condition(spec, "permuted", permutation_seed, 0.0)
    if name == "permuted+smoothed":
        try:
            sigma = float(arg)
        except ValueError:
            sigma = math.nan
        if not sep or not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"input condition {spec!r}: expected 'permuted+smoothed:<sigma>' with a positive finite "
                             f"sigma in pixels, e.g. 'permuted+smoothed:1'")
        return Condition(spec, f"permuted+smoothed({sigma:g})", permutation_seed, sigma)
    raise ValueError(f"unknown input condition {spec!r}; expected {_CONDITION_HELP}")


def parse_conditions(specs: Sequence[str], permutation_seed: int = 0) -> list[Condition]:
    """:func:`parse_condition` for a non-empty list of distinct specs; raises naming the first bad one."""
    if isinstance(specs, str) or not isinstance(specs, (list, tuple)) or not specs:
        raise ValueError(f"conditions must be a non-empty list of input conditions ({_CONDITION_HELP}), got {specs!r}")
    out = [parse_condition(s, permutation_seed) for s in specs]
    labels = [c.label for c in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"conditions {list(specs)!r} name the same condition twice: {dup}")
    return out


# ------------------------------------------------------------------------------------------------- measurements
def neighbour_correlation(x: torch.Tensor) -> float:
    """How spatially correlated inputs are: the Pearson correlation between each pixel and its right and lower
    neighbour, pooled over every image, channel and position. x: (N, C, H, W) or (N, H, W) with H, W >= 2.

    About 0.8 for MNIST digits, about 0 for the same digits with their pixels permuted, near 1 for heavily smoothed
    images. NaN when the inputs are constant (no variance to correlate)."""
    check_tensor("x", x, ndim=(3, 4))
    if min(x.shape[-2:]) < 2:
        raise ValueError(f"neighbour_correlation needs images of at least 2x2 pixels, got shape {tuple(x.shape)}")
    x = x.double()
    a = torch.cat([x[..., :, :-1].flatten(), x[..., :-1, :].flatten()])
    b = torch.cat([x[..., :, 1:].flatten(), x[..., 1:, :].flatten()])
    a, b = a - a.mean(), b - b.mean()
    den = torch.sqrt((a * a).sum() * (b * b).sum())
    if float(den) <= 1e-300:
        return math.nan
    return float((a * b).sum() / den)
