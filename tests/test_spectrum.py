"""spectral_lib.spectrum against analytic spectra, Parseval, statistics of white noise and the published formula."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spectral_lib.spectral import (bin_frequencies, expected_frequency, explanation_gap, radial_bins, radial_profile, tail_exponent)
from spectral_lib.theory import checkerboard, gaussian_blob, sinusoid, white_noise

SIZES = [(7, 7), (8, 8), (9, 12), (16, 11), (25, 25), (28, 28), (32, 20)]


def _radii(h: int, w: int) -> np.ndarray:
    """Integer radius of each pixel of the fftshift-ed grid, measured from (H//2, W//2) and truncated."""
    y, x = np.indices((h, w))
    return np.sqrt((y - h // 2) ** 2 + (x - w // 2) ** 2).astype(int)


def paper_ef_numpy(m: np.ndarray) -> float:
    """The published EF, written out directly: fft2, fftshift, integer radius from the centre (truncated),
    mean power per radius (corners included), normalised to sum 1, weights linspace(0, 1, R), mean over bins."""
    m = np.asarray(m, dtype=np.float64)
    power = np.abs(np.fft.fftshift(np.fft.fft2(m))) ** 2
    r = _radii(*m.shape)
    profile = np.bincount(r.ravel(), power.ravel()) / np.bincount(r.ravel())
    profile = profile / profile.sum()
    freqs = np.linspace(0.0, 1.0, len(profile))
    return float(np.mean(freqs * profile))


# --------------------------------------------------------------------------------------------- radial profile


@pytest.mark.parametrize("h,w,fy,fx", [(32, 32, 3, 4), (31, 24, 2, 5), (17, 20, 4, 4), (28, 28, 0, 6),
                                       (27, 33, 7, 0), (64, 48, 10, 13)])
def test_sinusoid_lands_in_its_radius_bin(h, w, fy, fx):
    m = sinusoid(h, w, fy, fx, phase=0.3)
    prof = radial_profile(m)
    counts = torch.from_numpy(np.bincount(_radii(h, w).ravel())).double()
    assert prof.shape == (radial_bins(h, w),) == (len(counts),)
    energy = prof * counts  # total power per bin
    r = int(math.floor(math.hypot(fy, fx)))
    total = float(energy.sum())
    assert total > 0
    assert float(energy[r]) == pytest.approx(total, rel=1e-10)
    others = torch.cat([energy[:r], energy[r + 1 :]])
    assert float(others.abs().max()) < 1e-10 * total


@pytest.mark.parametrize("h,w", SIZES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_parseval_profile_times_counts_is_total_power(h, w, dtype):
    g = torch.Generator().manual_seed(h * 100 + w)
    maps = torch.randn(3, h, w, generator=g, dtype=dtype) + 0.5
    prof = radial_profile(maps)
    assert prof.dtype == dtype
    counts = torch.from_numpy(np.bincount(_radii(h, w).ravel())).to(dtype)
    fft_power = torch.fft.fft2(maps.double()).abs().square().sum(dim=(1, 2))
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close((prof.double() * counts.double()).sum(-1), fft_power, rtol=tol, atol=0)
    # and Parseval proper: sum |DFT|^2 = H W sum x^2
    torch.testing.assert_close(fft_power, h * w * maps.double().square().sum(dim=(1, 2)), rtol=1e-10, atol=0)


def test_radial_profile_matches_fftshift_reference_bin_by_bin():
    for h, w in SIZES:
        m = torch.rand(h, w, generator=torch.Generator().manual_seed(h + w), dtype=torch.float64)
        power = np.abs(np.fft.fftshift(np.fft.fft2(m.numpy()))) ** 2
        r = _radii(h, w)
        ref = np.bincount(r.ravel(), power.ravel()) / np.bincount(r.ravel())
        np.testing.assert_allclose(radial_profile(m).numpy(), ref, rtol=1e-10, atol=1e-12 * ref.max())


def test_white_noise_profile_is_flat():
    n, h, w = 400, 32, 32
    prof = radial_profile(white_noise(n, h, w, seed=3)).mean(0)  # E|DFT|^2 = H W sigma^2 at every frequency
    r_max = prof.shape[0] - 1
    low = prof[1 : r_max // 4 + 1].mean()
    high = prof[r_max // 2 :].mean()
    assert float(high / low) == pytest.approx(1.0, abs=0.06)
    assert float(prof[1:].mean()) / (h * w) == pytest.approx(1.0, abs=0.03)
    # every bin with enough samples is within 5 standard errors of H W
    counts = torch.from_numpy(np.bincount(_radii(h, w).ravel())).double()
    se = 1.0 / torch.sqrt(counts * n / 2)  # mirrored DFT cells are not independent
    assert bool(((prof / (h * w) - 1).abs()[1:] < 5 * se[1:] + 0.01).all())


# --------------------------------------------------------------------------------------------- EF


@pytest.mark.parametrize("definition", ["paper", "nyquist"])
def test_ef_orders_noise_above_blob_and_falls_as_blob_widens(definition):
    noise = white_noise(16, 64, 64, seed=1)
    ef_noise = expected_frequency(noise, definition)
    sigmas = [0.8, 1.2, 2.0, 3.0, 4.5, 6.0]
    ef_blobs = torch.stack([expected_frequency(gaussian_blob(64, 64, s), definition) for s in sigmas])
    assert float(ef_noise.min()) > float(ef_blobs.max())
    assert bool((ef_blobs[1:] < ef_blobs[:-1]).all()), ef_blobs
    # the zero-mean one-pixel checkerboard (all its power in the highest, corner, bin) sits above white noise
    assert float(expected_frequency(checkerboard(64, 64) - 0.5, definition)) > float(ef_noise.max())


@pytest.mark.parametrize("h,w", SIZES + [(1, 5), (2, 3)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_paper_ef_equals_published_formula(h, w, dtype):
    g = torch.Generator().manual_seed(7 * h + w)
    maps = torch.rand(4, h, w, generator=g, dtype=torch.float64)
    maps[1] = (maps[1].flatten().argsort().argsort().view(h, w).double() + 1.0) / (h * w)  # a rank map
    maps[2] = torch.randn(h, w, generator=g, dtype=torch.float64)
    ours = expected_frequency(maps.to(dtype), "paper")
    assert ours.dtype == dtype and ours.shape == (4,)
    ref = torch.tensor([paper_ef_numpy(m.to(dtype).numpy()) for m in maps], dtype=torch.float64)
    rtol = 1e-10 if dtype == torch.float64 else 2e-3
    torch.testing.assert_close(ours.double(), ref, rtol=rtol, atol=1e-12 if dtype == torch.float64 else 1e-9)
    # a single (H, W) map gives a 0-d result equal to its batched value
    single = expected_frequency(maps[0].to(dtype), "paper")
    assert single.ndim == 0 and float(single) == pytest.approx(float(ours[0]), rel=1e-5)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 2e-3)])
def test_nyquist_ef_invariant_to_constant_and_in_range(dtype, tol):
    g = torch.Generator().manual_seed(0)
    maps = torch.cat([white_noise(4, 20, 24, seed=2), torch.rand(4, 20, 24, generator=g, dtype=torch.float64),
                      gaussian_blob(20, 24, 3.0)[None]]).to(dtype)
    base = expected_frequency(maps, "nyquist")
    # f_r = r / min(H, W) for r = 1 .. R-1 (corner bins included): EF between the first and the last bin's frequency
    f_max = (radial_bins(20, 24) - 1) / 20
    assert bool(((base >= 1.0 / 20 - 1e-6) & (base <= f_max + 1e-6)).all())
    assert bool((base <= 0.5).all())  # none of these maps is concentrated in the corners
    for c in (-3.0, 10.0, 100.0):
        torch.testing.assert_close(expected_frequency(maps + c, "nyquist"), base, rtol=tol, atol=0)
    # the paper definition is *not* invariant: a larger mean puts more weight on bin 0 (f = 0) and lowers EF
    paper = expected_frequency(maps.double(), "paper")
    assert bool((expected_frequency(maps.double() + 10.0, "paper") < paper).all())


def test_nyquist_ef_extremes():
    # period-2 stripes sit exactly at radius H/2: EF 0.5 cycles/pixel (Nyquist along an axis)
    stripes = sinusoid(16, 16, 8, 0)
    assert float(expected_frequency(stripes, "nyquist")) == pytest.approx(0.5, abs=1e-12)
    lowest = sinusoid(16, 16, 1, 0)
    assert float(expected_frequency(lowest, "nyquist")) == pytest.approx(1 / 16, abs=1e-12)
    # a one-pixel checkerboard is all in the corner bin, radius floor(sqrt(2) H/2)
    for n in (8, 16, 64):
        ef = float(expected_frequency(checkerboard(n, n), "nyquist"))
        assert ef == pytest.approx(math.floor(math.sqrt(2) * n / 2) / n, abs=1e-12)
    # a constant map has no power beyond bin 0: NaN as documented (not the EF of the FFT's round-off, ~0.23)
    for const in (torch.full((3, 28, 28), 0.5006), torch.full((2, 25, 25), 0.37, dtype=torch.float64)):
        assert bool(torch.isnan(expected_frequency(const, "nyquist")).all())
    with pytest.raises(ValueError, match="2x2"):
        expected_frequency(torch.rand(3, 1, 9), "nyquist")


def test_bin_frequencies():
    torch.testing.assert_close(bin_frequencies(5), torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64))
    torch.testing.assert_close(bin_frequencies(4, "nyquist", size=8), torch.arange(4.0, dtype=torch.float64) / 8)
    with pytest.raises(ValueError, match="size"):
        bin_frequencies(4, "nyquist")
    with pytest.raises(ValueError, match="definition"):
        bin_frequencies(4, "other")


# --------------------------------------------------------------------------------------------- gap


@pytest.mark.parametrize("definition", ["paper", "nyquist"])
def test_explanation_gap_properties(definition):
    a = white_noise(5, 16, 18, seed=0)
    b = gaussian_blob(16, 18, 2.0)[None].expand(5, -1, -1) + 0.1 * white_noise(5, 16, 18, seed=1)
    c = torch.rand(5, 16, 18, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    for kind in ("ef", "radial_spectrum_l2"):
        assert bool((explanation_gap(a, a, kind, definition) == 0).all())
        torch.testing.assert_close(explanation_gap(a, b, kind, definition), explanation_gap(b, a, kind, definition))
        gab = explanation_gap(a, b, kind, definition)
        assert gab.shape == (5,) and bool((gab > 0).all())
    l2 = explanation_gap(a, b, "radial_spectrum_l2", definition)
    assert bool(((l2 >= 0) & (l2 <= 2)).all())  # squared distance of two probability vectors
    # |EF| gap obeys the triangle inequality
    gac, gab, gbc = (explanation_gap(p, q, "ef", definition) for p, q in ((a, c), (a, b), (b, c)))
    assert bool((gac <= gab + gbc + 1e-15).all())
    # the 'ef' gap is the difference of the two EFs, in the same units
    torch.testing.assert_close(gab, (expected_frequency(b, definition) - expected_frequency(a, definition)).abs())


def test_explanation_gap_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        explanation_gap(torch.rand(2, 8, 8), torch.rand(2, 8, 9))
    with pytest.raises(ValueError, match="kind"):
        explanation_gap(torch.rand(2, 8, 8), torch.rand(2, 8, 8), kind="l1")


# --------------------------------------------------------------------------------------------- tail exponent


def test_tail_exponent_recovers_power_law():
    r = torch.arange(40, dtype=torch.float64)
    slopes = torch.tensor([-1.0, -2.5, -3.0, -4.0], dtype=torch.float64)
    prof = 7.0 * r[None].clamp(min=1) ** slopes[:, None]
    est = tail_exponent(prof)
    torch.testing.assert_close(est, slopes, rtol=0, atol=1e-10)
    assert float(tail_exponent(prof[2])) == pytest.approx(-3.0, abs=1e-10)  # single profile -> 0-d
    # given frequencies (log-spaced, in any unit): the slope is unit-free
    f = torch.logspace(-1, 2, 30, dtype=torch.float64)
    assert float(tail_exponent(3e-4 * f**-3, frequencies=f)) == pytest.approx(-3.0, abs=1e-10)


def test_tail_exponent_fits_only_the_requested_range():
    r = torch.arange(1, 101, dtype=torch.float64)
    broken = torch.where(r <= 40, r**-2.0, 40.0**3 * r**-5.0)  # slope -2 below 40, -5 above
    assert float(tail_exponent(broken, (0.5, 1.0), frequencies=r)) == pytest.approx(-5.0, abs=1e-10)
    assert float(tail_exponent(broken, (0.0, 0.4), frequencies=r)) == pytest.approx(-2.0, abs=1e-10)
    # bins with zero power are left out of the fit
    holes = r**-3.0
    holes[::3] = 0
    assert float(tail_exponent(holes, frequencies=r)) == pytest.approx(-3.0, abs=1e-10)


@pytest.mark.parametrize("fit_range", [(0.5, 0.5), (-0.1, 1.0), (0.0, 1.5), (0.7, 0.2), (float("nan"), 1.0),
                                       (0.999, 1.0), (0.1,), (0.1, 0.5, 0.9), None, ("a", "b")])
def test_tail_exponent_rejects_bad_fit_range(fit_range):
    with pytest.raises(ValueError, match="fit_range"):
        tail_exponent(torch.rand(20, dtype=torch.float64) + 0.1, fit_range)


def test_tail_exponent_rejects_bad_inputs():
    with pytest.raises(ValueError, match="non-negative"):
        tail_exponent(-torch.rand(10))
    with pytest.raises(ValueError, match="frequencies"):
        tail_exponent(torch.rand(10), frequencies=torch.arange(9.0))
    with pytest.raises(ValueError, match="frequencies"):
        tail_exponent(torch.rand(10), frequencies=-torch.arange(10.0))
    with pytest.raises(ValueError, match="profile"):
        tail_exponent(torch.rand(2, 3, 4))
