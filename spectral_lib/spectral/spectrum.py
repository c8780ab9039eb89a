"""Radially averaged power spectra of explanation maps, their Expected Frequency (EF) and their tails.

Conventions (the paper's, as in the authors' code): for an (H, W) map, the power is ``|DFT|^2``; after ``fftshift``
the zero frequency sits at index ``(H//2, W//2)``; a pixel's radius is its Euclidean distance from there, truncated
to an integer; the power is averaged over the pixels of each integer radius, corners (beyond the inscribed circle)
included. That gives ``R = floor(sqrt((H//2)^2 + (W//2)^2)) + 1`` bins, bin 0 holding the zero frequency.

Implementation: ``torch.fft.rfft2`` (half the spectrum; a real map's power is symmetric, ``P(k) = P(-k)``, and the
two mirrored cells share a radius) and one ``scatter_add`` per chunk of maps (up to 2^23 rfft2 cells, which bounds
the temporaries), on the input's device.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal

import math
import torch

from ..checks import check_choice, check_tensor

__all__ = [
    "radial_bins",
    "radial_profile",
    "expected_frequency",
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


_CHUNK_CELLS = 1 << 23  # rfft2 cells per pass of radial_profile (64 MiB of complex64): bounds the temporaries
# for large N; typical batches (5,000 maps of 32x32, 200 of 224x224) take one pass, since every pass costs a handful
# of parallel kernels and on a busy machine each parallel region can wait a scheduler slice for its threads.


@lru_cache(maxsize=64)
def _bins_on(
    h: int, w: int, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """:func:`_bins_cpu`'s tables on ``device``, weights (shaped (h, w // 2 + 1)) and counts in ``dtype``."""
    r_idx, weight, counts, n_bins = _bins_cpu(h, w)
    return (r_idx.to(device), weight.view(h, -1).to(device=device, dtype=dtype),
            counts.to(device=device, dtype=dtype), n_bins)


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
        else float32 (float64 where the power of float32 maps would overflow or underflow float32, e.g. values
        near 1e18 or 1e-38), on the maps' device. (R,) for a single (H, W) map.
    """
    check_tensor("maps", maps, ndim=(2, 3), finite=False)  # finiteness: checked below, on the (small) result
    single = maps.ndim == 2
    if single:
        maps = maps[None]
    dtype = torch.float64 if maps.dtype == torch.float64 else torch.float32
    out = _profile(maps, dtype)
    # A NaN/inf anywhere in a map makes every cell of its DFT (so its profile, so this sum) non-finite: a finite sum
    # proves finite maps without a pass over them; otherwise (or on overflow) the full check decides, as before.
    # Finite maps with a non-finite sum overflowed float32 (values ~1e18); a zero profile of a map that is not zero
    # underflowed it (~1e-38): those are recomputed in float64. Only the zero rows' maps are looked at.
    finite = math.isfinite(float(out.sum()))
    if not finite:
        check_tensor("maps", maps, ndim=(2, 3))
    if dtype == torch.float32:
        zero = out.sum(1) == 0
        if not finite or (bool(zero.any()) and bool((maps[zero] != 0).any())):
            out = _profile(maps, torch.float64)
    return out[0] if single else out


def _profile(maps: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(N, R) radial profile of (N, H, W) ``maps`` computed in ``dtype``."""
    n, h, w = maps.shape
    r_idx, weight, counts, n_bins = _bins_on(h, w, maps.device, dtype)
    out = torch.zeros(n, n_bins, device=maps.device, dtype=dtype)
    step = max(1, _CHUNK_CELLS // weight.numel())  # maps per pass
    for i in range(0, n, step):
        spec = torch.fft.rfft2(maps[i : i + step].to(dtype))
        sq = torch.view_as_real(spec).square_()  # re^2, im^2 in place (contiguous)
        power = sq[..., 0] + sq[..., 1]
        power *= weight
        # per map, cells are added to their bin in cell order: the same sums (bit for bit) as index_add_ did
        out[i : i + step].scatter_add_(1, r_idx.expand(len(power), -1), power.view(len(power), -1))
    out /= counts
    return out


def expected_frequency(
    maps: torch.Tensor,
    definition: Literal["paper", "nyquist"] = "paper",
) -> torch.Tensor:
    """Expected Frequency (EF) of each map's radially averaged power spectrum.

    ``"paper"`` (the published computation): normalise the radial profile ``P`` (R bins, zero frequency and corners
    included) to sum 1, weight bin r by ``f_r = r / (R - 1)``, and take the *mean over bins*:
    ``EF = (1/R) sum_r f_r P_r / sum_r P_r``. Dimensionless; because rank-normalised maps have a large mean, bin 0
    dominates and values are small (the paper's tables show EF x 1e5).

    ``"nyquist"`` (a cleaner variant, not comparable to the paper's numbers): drop bin 0 (the map's mean, which
    for rank-normalised maps is the same for every map and dominates the paper's normalisation), express frequency in
    cycles per pixel ``f_r = r / min(H, W)`` and take the true expectation ``sum_{r>=1} f_r P_r / sum_{r>=1} P_r``.
    Range ``[1/min(H,W), ~0.71]``: up to 0.5 along the axes (Nyquist), up to sqrt(2)/2 in the corner bins, which hold
    only diagonal frequencies (a checkerboard lives there). White noise gives about 0.3; NaN for a constant map
    (no power outside bin 0). Invariant to adding a constant to the map.

    Args:
        maps: (N, H, W) real maps, or one (H, W) map.
    Returns:
        (N,) EF per map (or a 0-d tensor for one map), float64 for float64 input else float32.
    """
    check_choice("definition", definition, EF_DEFINITIONS)
    if definition == "nyquist" and isinstance(maps, torch.Tensor) and maps.ndim >= 2 and min(maps.shape[-2:]) < 2:
        raise ValueError(f"definition='nyquist' needs maps of at least 2x2 pixels, got shape {tuple(maps.shape)}")
    profile = radial_profile(maps)
    ef = _ef_from_profile(profile, definition, min(maps.shape[-2:]))
    if definition == "nyquist":
        # A constant map (e.g. a rank-normalised all-zero Grad-CAM map) has no power beyond bin 0, but what the FFT
        # leaves there is round-off (~1e-12), whose "EF" would look like white noise's (~0.23): return the
        # documented NaN instead.
        flat = maps.amax(dim=(-2, -1)) == maps.amin(dim=(-2, -1))
        ef = torch.where(flat.to(ef.device), torch.full_like(ef, math.nan), ef)
    return ef


def _ef_from_profile(profile: torch.Tensor, definition: str, size: int) -> torch.Tensor:
    n_bins = profile.shape[-1]
    if definition == "paper":
        f = bin_frequencies(n_bins, "paper").to(device=profile.device, dtype=profile.dtype)
        p = profile / profile.sum(-1, keepdim=True)
        return (f * p).mean(-1)
    f = bin_frequencies(n_bins, "nyquist", size).to(device=profile.device, dtype=profile.dtype)[1:]
    p = profile[..., 1:]
    return (f * p).sum(-1) / p.sum(-1)


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
    if (
        not isinstance(fit_range, (tuple, list))
        or len(fit_range) != 2
        or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in fit_range)
    ):
        raise ValueError(f"fit_range must be a pair of numbers (lo, hi) with 0 <= lo < hi <= 1, got {fit_range!r}")
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
    if not bool(torch.isfinite(frequencies).all()) or bool((frequencies < 0).any()):
        raise ValueError("frequencies must be finite and non-negative")
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
