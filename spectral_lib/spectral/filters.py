"""Filters in Fourier space: :func:`lowpass` (keep the DFT coefficients up to a radial frequency), the post-hoc
transform behind FORGrad-style low-passed gradients (:func:`spectral_lib.explain.lowpass_grad`)."""
from __future__ import annotations

import math

import torch

from ..checks import check_nonnegative_finite, check_tensor

__all__ = ["lowpass", "CORNER_FREQUENCY"]

CORNER_FREQUENCY = math.sqrt(2.0) / 2.0  # largest radial frequency of a 2-D DFT grid, cycles/pixel (even sizes)


def _radial_frequency(h: int, w: int, device: torch.device) -> torch.Tensor:
    """(h, w) radial frequency ``sqrt(fy^2 + fx^2)`` in cycles per pixel of each unshifted 2-D DFT cell, float64."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64, device=device)
    fx = torch.fft.fftfreq(w, dtype=torch.float64, device=device)
    return torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def lowpass(maps: torch.Tensor, cutoff: float = 0.25) -> torch.Tensor:
    """Radial low-pass of each 2-D map: keep the DFT coefficients with radial frequency <= ``cutoff``, zero the rest.

    Per map (per channel for 4-D input): ``real(ifft2(fft2(m) * [sqrt(fy^2 + fx^2) <= cutoff]))``, fy and fx from
    ``torch.fft.fftfreq`` (cycles per pixel). The mask is symmetric under ``f -> -f``, so the result is real up to
    round-off. ``cutoff >= sqrt(2)/2`` (the corner frequency) keeps every coefficient: the maps are returned
    unchanged (a copy); ``cutoff = 0`` keeps the zero frequency only: each map becomes its mean.

    Args:
        maps: (N, H, W) or (N, C, H, W) real maps, any float dtype and device.
        cutoff: radial cut-off in cycles per pixel, finite and >= 0.
    Returns:
        maps' shape and dtype, on maps' device.
    """
    cutoff = check_nonnegative_finite("cutoff", cutoff)
    check_tensor("maps", maps, ndim=(3, 4))
    if maps.is_complex():
        raise TypeError(f"maps must be real, got dtype {maps.dtype}")
    h, w = maps.shape[-2:]
    keep = _radial_frequency(h, w, maps.device) <= cutoff
    if bool(keep.all()):
        return maps.clone()
    spec = torch.fft.fft2(maps)
    spec = spec * keep.to(spec.real.dtype)
    return torch.fft.ifft2(spec).real.to(maps.dtype).contiguous()
