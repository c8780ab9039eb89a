"""Synthetic maps with known spectra, for checking the spectral tools and for teaching them."""
from __future__ import annotations

import math

import torch

from ..checks import check_nonnegative_finite, check_positive_finite, check_positive_int

__all__ = ["sinusoid", "white_noise", "gaussian_blob", "checkerboard"]


def sinusoid(height: int, width: int, fy: int, fx: int, phase: float = 0.0) -> torch.Tensor:
    """A pure 2-D cosine with ``fy`` cycles per image vertically and ``fx`` horizontally. Returns (H, W) float64;
    its power sits at integer radius ``floor(sqrt(fy^2 + fx^2))`` of :func:`spectral_lib.spectral.radial_profile`."""
    check_positive_int("height", height)
    check_positive_int("width", width)
    y = torch.arange(height, dtype=torch.float64)[:, None]
    x = torch.arange(width, dtype=torch.float64)[None, :]
    return torch.cos(2 * math.pi * (fy * y / height + fx * x / width) + phase)


def white_noise(n: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """(n, H, W) i.i.d. standard normal maps (flat expected power spectrum), float64."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(check_positive_int("n", n), height, width, generator=g, dtype=torch.float64)


def gaussian_blob(height: int, width: int, sigma: float, center: tuple[float, float] | None = None) -> torch.Tensor:
    """(H, W) isotropic Gaussian bump of std ``sigma`` pixels (centred by default), float64. Wider = smoother."""
    sigma = check_positive_finite("sigma", sigma)
    cy, cx = center if center is not None else ((height - 1) / 2, (width - 1) / 2)
    y = torch.arange(height, dtype=torch.float64)[:, None]
    x = torch.arange(width, dtype=torch.float64)[None, :]
    return torch.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * sigma**2))


def checkerboard(height: int, width: int, period: int = 2, amplitude: float = 1.0) -> torch.Tensor:
    """(H, W) checkerboard with squares of ``period // 2`` pixels: the most "grainy" map, float64."""
    check_positive_int("period", period, minimum=2)
    check_nonnegative_finite("amplitude", amplitude)
    y = torch.arange(height)[:, None] // (period // 2)
    x = torch.arange(width)[None, :] // (period // 2)
    return amplitude * ((x + y) % 2).double()
