"""Lemma 1, numerically: smoothing ReLU lightens the tail of its power spectrum.

Lemma 1, analytically. ReLU's second derivative is a Dirac delta, so (as a tempered distribution, away from
omega = 0) ``|F[ReLU](omega)|^2 = 1 / omega^4``: a power-law tail. Any activation of the form ReLU * p (ReLU
convolved with a probability density p) has ``F = F[ReLU] * F[p]``:
* Gaussian p (GaussianReLU(sigma)): ``|F|^2 = omega^-4 exp(-sigma^2 omega^2)``;
* logistic p (SP(beta), whose derivative is the logistic CDF with scale 1/beta):
  ``|F|^2 = omega^-4 (pi omega / beta)^2 / sinh^2(pi omega / beta)``, an exponential tail ``~ exp(-2 pi omega/beta)``.
Lower beta (larger sigma) = lighter tail; beta -> inf recovers ReLU's ``omega^-4``. (omega in radians per unit of
the activation's input.)

Measurement. A function ``f`` sampled on ``[-L, L]`` is multiplied by a Gaussian window (std L/6, so the window is
~1.5e-8 at the ends), Fourier transformed, and ``|FFT|^2`` is reported against angular
frequency. The window's own spectrum is a Gaussian, far lighter than any tail studied here, so the measured tail
follows the function's: ``omega^-4`` for ReLU and for networks built from it, exponential for SP and Gaussian-ReLU.
The window does smooth the spectrum in frequency (std ``6 / L`` rad): on an exponential power tail ``exp(-a omega)``
(amplitude ``exp(-a omega / 2)``) that multiplies the measured power by ``exp((a * 6/L)^2 / 4)``; with the default
``L = 100`` and SP(1) (``a = 2 pi``) that is a 3.6% excess, and it vanishes as beta grows. Power-law tails are
unaffected away from omega = 0. Two limits of the measurement: sampling folds a kink's ``omega^-4`` tail onto itself,
multiplying it by ``((omega dx/2) / sin(omega dx/2))^4`` (+1% at omega = 10 with the defaults, +44% at
omega = 60); and the window's small value at the ends times ``f(+-L)`` (about 1.5e-6 for ReLU) leaves a jump whose
power, about ``1e-12 / omega^2``, is a floor under which exponential tails cannot be followed.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..checks import check_positive_finite, check_positive_int
from ..nn.activations import make_activation

__all__ = ["relu_power", "softplus_power", "gaussian_relu_power", "measure_power_1d", "tail_mass", "random_mlp",
           "activation_tail", "TAIL_FLOOR"]

# Tail masses below this are double-precision round-off of the FFT measurement (:func:`activation_tail`), not power.
TAIL_FLOOR = 1e-14

def relu_power(omega: torch.Tensor) -> torch.Tensor:
    """Analytic ``|F[ReLU](omega)|^2 = omega^-4`` (omega != 0), elementwise, any shape."""
    omega = torch.as_tensor(omega, dtype=torch.float64)
    return omega.abs().pow(-4)


def softplus_power(omega: torch.Tensor, beta: float) -> torch.Tensor:
    """Analytic ``|F[SP(beta)](omega)|^2 = omega^-4 (pi omega/beta)^2 / sinh^2(pi omega/beta)``, elementwise."""
    beta = check_positive_finite("beta", beta)
    omega = torch.as_tensor(omega, dtype=torch.float64).abs()
    a = math.pi * omega / beta
    # a / sinh(a) computed stably: 2 a e^-a / (1 - e^-2a)
    ratio = torch.where(a > 1e-6, 2 * a * torch.exp(-a) / (-torch.expm1(-2 * a)), torch.ones_like(a))
    return omega.pow(-4) * ratio.square()


def gaussian_relu_power(omega: torch.Tensor, sigma: float) -> torch.Tensor:
    """Analytic ``|F[GaussianReLU(sigma)](omega)|^2 = omega^-4 exp(-sigma^2 omega^2)``, elementwise."""
    sigma = check_positive_finite("sigma", sigma)
    omega = torch.as_tensor(omega, dtype=torch.float64).abs()
    return omega.pow(-4) * torch.exp(-(sigma**2) * omega.square())


def measure_power_1d(
    f: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
    half_width: float = 100.0,
    n_points: int = 8192,
) -> tuple[torch.Tensor, torch.Tensor]:
    """FFT-measured power spectrum of a scalar function of one variable (see the module docstring).

    ``f`` maps a (n_points,) float64 tensor of positions in ``[-half_width, half_width)`` to values of the same shape
    (an activation module works). Returns ``(omega, power)``: (n_points//2,) positive angular frequencies (radians per
    unit) and ``|FFT(f * window)|^2 * dx^2`` there (so it approximates ``|F[f * window](omega)|^2``).
    """
    half_width = check_positive_finite("half_width", half_width)
    n_points = check_positive_int("n_points", n_points, minimum=16)
    x = torch.linspace(-half_width, half_width, n_points + 1, dtype=torch.float64)[:-1]
    dx = 2 * half_width / n_points
    with torch.no_grad():
        y = f(x) if not isinstance(f, nn.Module) else f.double()(x)
    y = torch.as_tensor(y, dtype=torch.float64)
    if y.shape != x.shape:
        raise ValueError(f"f must return shape {tuple(x.shape)}, got {tuple(y.shape)}")
    window = torch.exp(-0.5 * (x / (half_width / 6)) ** 2)
    spec = torch.fft.rfft(y * window) * dx
    omega = 2 * math.pi * torch.fft.rfftfreq(n_points, d=dx, dtype=torch.float64)
    power = spec.real.square() + spec.imag.square()
    return omega[1 : n_points // 2 + 1], power[1 : n_points // 2 + 1]


def tail_mass(omega: torch.Tensor, power: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Fraction of the power above ``cutoff`` (same units as ``omega``): ``sum_{omega > cutoff} P / sum P``.
    power: (..., K) for omega (K,); returns (...)."""
    sel = omega > cutoff
    return power[..., sel].sum(-1) / power.sum(-1)


def random_mlp(in_dim: int, width: int, activation, depth: int = 1, seed: int = 0) -> nn.Module:
    """A randomly initialised MLP ``R^in_dim -> R`` (He-scaled weights, uniform biases in [-1, 1]) with the given
    activation spec: a "small network built from" an activation, for Lemma 1. float64."""
    g = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(check_positive_int("depth", depth)):
        lin = nn.Linear(d, width).double()
        with torch.no_grad():
            lin.weight.copy_(torch.randn(width, d, generator=g, dtype=torch.float64) * math.sqrt(2.0 / d))
            lin.bias.copy_(torch.rand(width, generator=g, dtype=torch.float64) * 2 - 1)
        layers += [lin, make_activation(activation).double()]
        d = width
    head = nn.Linear(d, 1).double()
    with torch.no_grad():
        head.weight.copy_(torch.randn(1, d, generator=g, dtype=torch.float64) / math.sqrt(d))
        head.bias.zero_()
    return nn.Sequential(*layers, head)


# ------------------------------------------------------------------------------------------------------ Lemma 1
def activation_tail(spec: str, cutoff: float, half_width: float = 100.0, n_points: int = 8192) -> float:
    """Lemma 1's object for any activation: the share of its FFT-measured power spectrum above angular frequency
    ``cutoff`` (radians per unit pre-activation), ``tail_mass(measure_power_1d(activation))`` as in the Lemma 1
    chapter. Values below :data:`TAIL_FLOOR` are round-off (the spectrum has reached double precision's floor)."""
    cutoff = check_positive_finite("cutoff", cutoff)
    omega, power = measure_power_1d(make_activation(spec), half_width=half_width, n_points=n_points)
    if cutoff >= float(omega[-1]):
        raise ValueError(f"cutoff {cutoff} is at or above the highest measured frequency {float(omega[-1]):.4g}")
    return float(tail_mass(omega, power, cutoff))
