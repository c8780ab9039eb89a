"""Radially averaged power spectra of explanation maps, Expected Frequency (EF), the explanation gap, spectral tails.

Conventions (the paper's, as in the authors' code): for an (H, W) map, the power is ``|DFT|^2``; after ``fftshift``
the zero frequency sits at index ``(H//2, W//2)``; a pixel's radius is its Euclidean distance from there, truncated
to an integer; the power is averaged over the pixels of each integer radius, corners (beyond the inscribed circle)
included. That gives ``R = floor(sqrt((H//2)^2 + (W//2)^2)) + 1`` bins, bin 0 holding the zero frequency.

Implementation: ``torch.fft.rfft2`` (half the spectrum; a real map's power is symmetric, ``P(k) = P(-k)``, and the
two mirrored cells share a radius) and one ``index_add`` per batch, on the input's device.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

import math
import torch

from ._checks import check_choice, check_tensor

__all__ = [
    "radial_bins",
    "radial_profile",
    "expected_frequency",
    "explanation_gap",
    "tail_exponent",
    "bin_frequencies",
    "EF_DEFINITIONS",
]

EF_DEFINITIONS = ("paper", "nyquist")


@lru_cache(maxsize=64)
def _bins_cpu(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Radius index of each rfft2 cell, the cell's multiplicity (1 or 2), pixels per radius in the full grid, R."""
    dy_full = torch.arange(h) - h // 2  # centred row offsets of the shifted grid
    dx_full = torch.arange(w) - w // 2
    r_full = torch.sqrt(dy_full[:, None].double() ** 2 + dx_full[None, :].double() ** 2).long()
    n_bins = int(r_full.max()) + 1
    counts = torch.bincount(r_full.flatten(), minlength=n_bins).double()
    # rfft2 cell (k, j): row frequency k (unshifted, 0..h-1), column frequency j (0..w//2).
    k = torch.arange(h)
    dy = (k + h // 2) % h - h // 2
    j = torch.arange(w // 2 + 1)
    dx = (j + w // 2) % w - w // 2
    r_half = torch.sqrt(dy[:, None].double() ** 2 + dx[None, :].double() ** 2).long()
    mult = torch.full((w // 2 + 1,), 2.0, dtype=torch.float64)
    mult[0] = 1.0
    if w % 2 == 0:
        mult[w // 2] = 1.0  # the Nyquist column is its own mirror image
    weight = mult[None, :].expand(h, -1)
    return r_half.flatten(), weight.flatten(), counts, n_bins


def radial_bins(height: int, width: int) -> int:
    """Number of radial bins R for an (height, width) map under the paper's convention."""
    return _bins_cpu(int(height), int(width))[3]


def bin_frequencies(n_bins: int, definition: str = "paper", size: int | None = None) -> torch.Tensor:
    """Frequency assigned to each radial bin: ``"paper"``: evenly from 0 to 1 over the R bins (dimensionless);
    ``"nyquist"``: radius / min(H, W) in cycles per pixel (needs ``size = min(H, W)``). Shape (R,), float64."""
    check_choice("definition", definition, EF_DEFINITIONS)
    if definition == "paper":
        return torch.linspace(0.0, 1.0, n_bins, dtype=torch.float64)
    if size is None:
        raise ValueError("size (min(H, W) of the maps) is required for definition='nyquist'")
    return torch.arange(n_bins, dtype=torch.float64) / float(size)


def radial_profile(maps: torch.Tensor) -> torch.Tensor:
    """Radially averaged power spectrum of each map.

    Args:
        maps: (N, H, W) real maps (any float dtype, any device). A single (H, W) map is accepted too.
    Returns:
        (N, R) mean power ``|DFT|^2`` per integer radius (bin 0 = zero frequency), float64 for float64 input,
        else float32, on the maps' device. (R,) for a single (H, W) map.
    """
    check_tensor("maps", maps, ndim=(2, 3))
    single = maps.ndim == 2
    if single:
        maps = maps[None]
    n, h, w = maps.shape
    r_idx, weight, counts, n_bins = _bins_cpu(h, w)
    dtype = torch.float64 if maps.dtype == torch.float64 else torch.float32
    dev = maps.device
    spec = torch.fft.rfft2(maps.to(dtype))
    power = (spec.real.square() + spec.imag.square()).reshape(n, -1)
    power = power * weight.to(device=dev, dtype=dtype)
    out = torch.zeros(n, n_bins, device=dev, dtype=dtype)
    out.index_add_(1, r_idx.to(dev), power)
    out = out / counts.to(device=dev, dtype=dtype)
    return out[0] if single else out


def expected_frequency(
    maps: torch.Tensor,
    definition: Literal["paper", "nyquist"] = "paper",
) -> torch.Tensor:
    """Expected Frequency (EF) of each map's radially averaged power spectrum.

    ``"paper"`` (the published computation): normalise the radial profile ``P`` (R bins, zero frequency and corners
    included) to sum 1, weight bin r by ``f_r = r / (R - 1)``, and take the *mean over bins*:
    ``EF = (1/R) sum_r f_r P_r / sum_r P_r``. Dimensionless; because rank-normalised maps have a large mean, bin 0
    dominates and values are small (the paper's tables show EF x 1e5).

    ``"nyquist"`` (a cleaner variant, not comparable to the paper's numbers): drop bin 0 (the map's mean), keep only
    radii up to ``min(H, W) // 2`` (the inscribed circle, so every direction is sampled up to the Nyquist frequency
    and corner bins, which see only diagonal frequencies, do not count), express frequency in cycles per pixel
    ``f_r = r / min(H, W)`` and take the true expectation ``sum_r f_r P_r / sum_r P_r``. Range [1/min(H,W), 0.5];
    white noise gives about 0.25 - 0.3, independent of the map's mean and of the image size's effect on R.

    Args:
        maps: (N, H, W) real maps, or one (H, W) map.
    Returns:
        (N,) EF per map (or a 0-d tensor for one map), float64 for float64 input else float32.
    """
    check_choice("definition", definition, EF_DEFINITIONS)
    profile = radial_profile(maps)
    return _ef_from_profile(profile, definition, min(maps.shape[-2:]))


def _ef_from_profile(profile: torch.Tensor, definition: str, size: int) -> torch.Tensor:
    n_bins = profile.shape[-1]
    if definition == "paper":
        f = bin_frequencies(n_bins, "paper").to(device=profile.device, dtype=profile.dtype)
        p = profile / profile.sum(-1, keepdim=True)
        return (f * p).mean(-1)
    keep = min(size // 2, n_bins - 1)
    f = bin_frequencies(n_bins, "nyquist", size).to(device=profile.device, dtype=profile.dtype)[1 : keep + 1]
    p = profile[..., 1 : keep + 1]
    return (f * p).sum(-1) / p.sum(-1)


GapKind = Literal["ef", "spectral_l2"]


def explanation_gap(
    reference_maps: torch.Tensor,
    surrogate_maps: torch.Tensor,
    kind: GapKind = "ef",
    definition: Literal["paper", "nyquist"] = "paper",
) -> torch.Tensor:
    """Explanation gap between a surrogate's maps and the model's own (VanillaGrad) maps, per image.

    ``kind="ef"``: ``|EF(surrogate) - EF(reference)|`` (Delta EF, the number the paper's gap tables are built from),
        in the units of :func:`expected_frequency` with the given ``definition``.
    ``kind="spectral_l2"``: squared L2 distance between the two normalised radial power spectra
        ``sum_r (P_s(r) / sum P_s - P_ref(r) / sum P_ref)^2``: the paper's formal gap (a squared L2 norm between the
        surrogate's and the original's spectra), computed on the radially averaged, sum-normalised spectra.

    Args:
        reference_maps, surrogate_maps: (N, H, W) maps of the same shape (image i of one against image i of the other).
    Returns:
        (N,) gap per image.
    """
    check_tensor("reference_maps", reference_maps, ndim=(2, 3))
    check_tensor("surrogate_maps", surrogate_maps, ndim=(2, 3))
    if reference_maps.shape != surrogate_maps.shape:
        raise ValueError(
            f"reference_maps and surrogate_maps must have the same shape, got {tuple(reference_maps.shape)} "
            f"and {tuple(surrogate_maps.shape)}"
        )
    check_choice("kind", kind, ("ef", "spectral_l2"))
    check_choice("definition", definition, EF_DEFINITIONS)
    if kind == "ef":
        return (expected_frequency(surrogate_maps, definition) - expected_frequency(reference_maps, definition)).abs()
    ps = radial_profile(surrogate_maps)
    pr = radial_profile(reference_maps)
    ps = ps / ps.sum(-1, keepdim=True)
    pr = pr / pr.sum(-1, keepdim=True)
    return (ps - pr).square().sum(-1)


def tail_exponent(
    profile: torch.Tensor,
    fit_range: tuple[float, float] = (0.25, 1.0),
    frequencies: torch.Tensor | None = None,
) -> torch.Tensor:
    """Slope of the high-frequency tail of power spectra on log-log axes (a power law ``P ~ f^slope``).

    Args:
        profile: (N, R) or (R,) non-negative power per frequency bin (e.g. from :func:`radial_profile`).
        fit_range: (lo, hi), the part of the frequency axis fitted, as fractions of the largest frequency; bins with
            ``lo <= f / f_max <= hi`` and ``f > 0`` are used (default: the top three quarters of the axis).
        frequencies: (R,) positive-or-zero frequencies of the bins; default ``0, 1, ..., R-1`` (bin index).
    Returns:
        (N,) least-squares slope of ``log P`` against ``log f`` over the fit range (or a 0-d tensor for one profile).
        More negative = lighter tail. Bins with zero power are excluded from the fit.
    """
    check_tensor("profile", profile, ndim=(1, 2))
    if (profile < 0).any():
        raise ValueError("profile must be non-negative (a power spectrum)")
    lo, hi = fit_range
    if not (0.0 <= lo < hi <= 1.0):
        raise ValueError(f"fit_range must satisfy 0 <= lo < hi <= 1, got {fit_range!r}")
    single = profile.ndim == 1
    p = (profile[None] if single else profile).double()
    n_bins = p.shape[-1]
    if frequencies is None:
        frequencies = torch.arange(n_bins, dtype=torch.float64)
    frequencies = torch.as_tensor(frequencies, dtype=torch.float64).to(p.device)
    if frequencies.shape != (n_bins,):
        raise ValueError(f"frequencies must have shape ({n_bins},), got {tuple(frequencies.shape)}")
    rel = frequencies / frequencies.max()
    sel = (rel >= lo) & (rel <= hi) & (frequencies > 0)
    if int(sel.sum()) < 2:
        raise ValueError(f"fit_range {fit_range!r} selects fewer than 2 frequency bins out of {n_bins}")
    x = torch.log(frequencies[sel])[None].expand(p.shape[0], -1)
    y = p[:, sel]
    valid = y > 0
    y = torch.log(torch.where(valid, y, torch.ones_like(y)))
    w = valid.double()
    nw = w.sum(-1).clamp(min=1)
    xm = (w * x).sum(-1) / nw
    ym = (w * y).sum(-1) / nw
    cov = (w * (x - xm[:, None]) * (y - ym[:, None])).sum(-1)
    var = (w * (x - xm[:, None]) ** 2).sum(-1)
    slope = torch.where(var > 0, cov / var.clamp(min=1e-300), torch.full_like(var, math.nan))
    return slope[0] if single else slope
