"""Lemma 1's analytic spectra, their FFT measurement, tail ordering, and correlated inputs for Theorem 1."""
from __future__ import annotations

import math

import pytest
import torch

from spectral_lib import theory
from spectral_lib.activations import SP, GaussianReLU, beta_to_sigma
from spectral_lib.theory import (correlated_images, gaussian_relu_power, measure_power_1d, relu_power,
                                 softplus_power, tail_mass)

L, N = 100.0, 8192  # measure_power_1d's defaults
DX = 2 * L / N
WINDOW_FREQ_STD = 6.0 / L  # std (rad) of the Gaussian window's spectrum


def _sampling_factor(omega: torch.Tensor) -> torch.Tensor:
    """Sampling folds a kink's omega^-4 tail onto itself: the DFT of a sampled ReLU has power
    omega^-4 * ((omega dx / 2) / sin(omega dx / 2))^4 (sum over aliases of 1 / (omega + 2 pi k / dx)^2)."""
    a = omega * DX / 2
    return (a / torch.sin(a)) ** 4


def test_softplus_power_tends_to_relu_power():
    omega = torch.logspace(-1, 1.5, 40, dtype=torch.float64)
    prev = None
    for beta in (1.0, 10.0, 100.0, 1e3, 1e4):
        rel = (softplus_power(omega, beta) / relu_power(omega) - 1).abs().max()
        # (a / sinh a)^2 = 1 - a^2 / 3 + O(a^4), a = pi omega / beta
        a = math.pi * float(omega.max()) / beta
        if a < 0.1:
            assert float(rel) == pytest.approx(a * a / 3, rel=0.02)
        if prev is not None:
            assert rel < prev
        prev = rel
    assert float(prev) < 1e-4
    # and always below it: smoothing only removes power
    assert bool((softplus_power(omega, 2.0) < relu_power(omega)).all())


def test_gaussian_relu_power_tends_to_relu_power_and_orders_with_sigma():
    omega = torch.linspace(0.5, 20, 50, dtype=torch.float64)
    assert torch.allclose(gaussian_relu_power(omega, 1e-6), relu_power(omega), rtol=1e-9)
    p = torch.stack([gaussian_relu_power(omega, s) for s in (0.1, 0.3, 1.0)])
    assert bool((p[1:] < p[:-1]).all())


def test_softplus_power_is_stable_for_large_and_small_omega():
    omega = torch.tensor([1e-8, 1e-3, 1.0, 1e3, 1e6], dtype=torch.float64)
    p = softplus_power(omega, 0.1)
    assert bool(torch.isfinite(p).all()) and bool((p >= 0).all())
    assert float(p[0] * omega[0] ** 4) == pytest.approx(1.0, rel=1e-9)  # ReLU's value at low frequency


def test_measured_relu_power_is_omega_to_the_minus_4():
    omega, power = measure_power_1d(torch.relu)
    assert omega.shape == power.shape == (N // 2,)
    mid = (omega >= 1) & (omega <= 10)
    ratio = power[mid] / relu_power(omega[mid])
    assert float((ratio - 1).abs().max()) < 0.03
    # with the sampling (aliasing) factor, the law holds up to 100 rad, near Nyquist (128 rad)
    wide = (omega >= 1) & (omega <= 100)
    ratio = power[wide] / (relu_power(omega[wide]) * _sampling_factor(omega[wide]))
    assert float((ratio - 1).abs().max()) < 0.03
    # a fitted slope is -4
    fit = (omega >= 1) & (omega <= 10)
    slope = theory.tail_exponent(power[fit], (0.0, 1.0), frequencies=omega[fit])
    assert float(slope) == pytest.approx(-4.0, abs=0.05)


@pytest.mark.parametrize("beta", [1.0, 2.0, 5.0])
def test_measured_softplus_matches_analytic_within_window_bias(beta):
    omega, power = measure_power_1d(SP(beta))
    _, relu_measured = measure_power_1d(torch.relu)
    analytic = softplus_power(omega, beta)
    sel = (omega >= 1) & (omega <= 6) & (analytic > 1e-9)  # above the measurement's floor (see theory's docstring)
    assert int(sel.sum()) > 20
    # the documented window bias on an exponential tail: power x exp((a * 6/L)^2 / 4), a = 2 pi / beta
    bias = math.exp((2 * math.pi / beta * WINDOW_FREQ_STD) ** 2 / 4)
    # divided by what the same measurement does to ReLU's power law (low-frequency window effect and sampling)
    ratio = power[sel] / analytic[sel] / (relu_measured[sel] / relu_power(omega[sel]))
    assert float((ratio / bias - 1).abs().max()) < 0.01
    # plainly: the measurement overestimates (window smoothing adds power to a decaying tail), by a few percent
    plain = power[sel] / analytic[sel]
    assert float(plain.min()) > 0.999 and float(plain.max()) < 1.08


def test_measured_gaussian_relu_matches_analytic():
    sigma = beta_to_sigma(4.0)
    omega, power = measure_power_1d(GaussianReLU(sigma))
    analytic = gaussian_relu_power(omega, sigma)
    sel = (omega >= 1) & (omega <= 6) & (analytic > 1e-9)
    # a Gaussian tail amplitude exp(-s^2 w^2 / 2) under a window of frequency std d is multiplied by
    # exp(s^4 d^2 w^2 / (2 (1 + s^2 d^2)))-ish; at these widths that is within 2%
    ratio = power[sel] / analytic[sel]
    assert float((ratio - 1).abs().max()) < 0.05


def test_lower_beta_means_less_tail_mass():
    cutoff = 2.0
    masses = []
    for act in (SP(0.5), SP(1.0), SP(2.0), SP(5.0), torch.nn.ReLU()):
        omega, power = measure_power_1d(act)
        masses.append(float(tail_mass(omega, power, cutoff)))
    assert all(a < b for a, b in zip(masses, masses[1:])), masses
    # the same ordering analytically
    omega = torch.linspace(0.05, 60, 4000, dtype=torch.float64)
    analytic = [float(tail_mass(omega, softplus_power(omega, b), cutoff)) for b in (0.5, 1.0, 2.0, 5.0)]
    analytic.append(float(tail_mass(omega, relu_power(omega), cutoff)))
    assert all(a < b for a, b in zip(analytic, analytic[1:])), analytic


def test_measure_power_1d_validates():
    with pytest.raises(ValueError, match="half_width"):
        measure_power_1d(torch.relu, half_width=0)
    with pytest.raises(ValueError, match="n_points"):
        measure_power_1d(torch.relu, n_points=8)
    with pytest.raises(ValueError, match="shape"):
        measure_power_1d(lambda x: x[:-1])


@pytest.mark.parametrize("corr_length", [1.0, 2.0, 3.0])
def test_correlated_images_have_the_requested_correlation_length(corr_length):
    x = correlated_images(64, 32, corr_length, seed=0).double()
    assert x.shape == (64, 1, 32, 32) and x.dtype == torch.float64
    assert torch.allclose(x.mean(dim=(2, 3)), torch.zeros(64, 1, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(dim=(2, 3)), torch.ones(64, 1, dtype=torch.float64), atol=1e-5)
    # white noise filtered by a Gaussian of std l has correlation exp(-d^2 / (4 l^2)) at lag d (periodic field)
    for lag in (1, 2):
        emp = 0.5 * ((x * torch.roll(x, lag, dims=2)).mean() + (x * torch.roll(x, lag, dims=3)).mean())
        assert float(emp) == pytest.approx(math.exp(-lag**2 / (4 * corr_length**2)), abs=0.04)


def test_lag1_correlation_increases_with_corr_length():
    lag1 = []
    for ell in (0.5, 1.0, 1.5, 2.5, 4.0):
        x = correlated_images(32, 32, ell, seed=1).double()
        lag1.append(float((x * torch.roll(x, 1, dims=3)).mean()))
    assert all(a < b for a, b in zip(lag1, lag1[1:])), lag1


def test_random_mlp_and_theorem1_summary_run():
    mlp = theory.random_mlp(3, 16, "sp:1", depth=2, seed=0)
    assert mlp(torch.randn(5, 3, dtype=torch.float64)).shape == (5, 1)
    torch.manual_seed(0)
    from spectral_lib.models import build_model

    model = build_model("simple_cnn", "relu", (1, 16, 16), 3, width=4, fc=16).eval()
    x = correlated_images(4, 16, 2.0, seed=0)
    out = theory.theorem1_summary(model, x, n_points=64)
    assert set(out) == {"line_tail_slope", "line_tail_mass", "grad_tail_slope", "grad_ef", "grad_ef_nyquist"}
    assert all(math.isfinite(v) for v in out.values())
    assert 0 < out["line_tail_mass"] < 1 and 0 < out["grad_ef_nyquist"] <= 0.5
