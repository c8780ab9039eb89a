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

The window's artefact in the tail *mass*. None of these activations has finite energy (ReLU grows linearly, Tanh and
Sigmoid tend to constants), so the total power that :func:`tail_mass` divides by is the window's: it grows as
``L^3`` for ReLU and as ``L`` for Tanh, and :func:`activation_tail` falls with ``L`` without limit (ReLU's about as
``L^-3``). Window-free measures: :func:`activation_power`, the closed-form ``|F[phi](omega)|^2`` of every activation
here (ReLU-like ones as ``|F[phi''](omega)|^2 / omega^4``: ``phi''`` is a density or an integrable function);
:func:`tail_power`, the energy of the part of ``phi`` above a frequency, ``(1/pi) int_c^inf |F[phi]|^2 domega``
(finite, by Parseval the energy of the high-passed activation); :func:`tail_band_ratio`, its scale-free ratio
between two cut-offs; and :func:`measure_power_1d_free`, the same spectrum measured from second differences with no
window, which converges to the closed form once ``[-L, L]`` holds ``phi''`` (tested).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..checks import check_positive_finite, check_positive_int
from ..nn.activations import make_activation

__all__ = ["relu_power", "softplus_power", "gaussian_relu_power", "measure_power_1d", "tail_mass", "random_mlp",
           "activation_tail", "TAIL_FLOOR", "activation_power", "tail_power", "tail_band_ratio",
           "measure_power_1d_free", "measured_tail_power"]

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


# ---------------------------------------------------------------------------------------- window-free tail measures
def _omega(omega) -> torch.Tensor:
    return torch.as_tensor(omega, dtype=torch.float64).abs()


def _a_over_sinh(a: torch.Tensor) -> torch.Tensor:
    """``a / sinh(a)`` for a >= 0, stable at 0 and for large a."""
    return torch.where(a > 1e-6, 2 * a * torch.exp(-a) / (-torch.expm1(-2 * a)).clamp(min=1e-300),
                       torch.ones_like(a))


def activation_power(spec: str, omega) -> torch.Tensor:
    """Closed-form power spectrum ``|F[phi](omega)|^2`` of activation ``spec`` at angular frequencies ``omega != 0``
    (radians per unit input), elementwise, float64; no window. (Constant offsets, e.g. the centred variants', change
    only ``omega = 0``.)

    ReLU-like activations have ``phi''`` integrable (a density or an integrable function), so
    ``|F[phi]|^2 = |F[phi'']|^2 / omega^4`` with: ReLU 1; LeakyReLU(a) ``(1 - a)^2``; SP(beta)
    ``(pi omega/beta / sinh(pi omega/beta))^2``; Gauss(sigma) ``exp(-sigma^2 omega^2)``; GELU (``phi'' = (2 - x^2)
    pdf(x)``) ``(1 + omega^2)^2 exp(-omega^2)``; SiLU (``phi'' = 2 s'(x) + x s''(x)``, s the logistic sigmoid)
    ``((pi omega)^2 cosh(pi omega) / sinh^2(pi omega))^2``; ELU(alpha) ``|(1 - alpha) + alpha / (1 - i omega)|^2``.
    Bounded ones: Tanh ``(pi / sinh(pi omega / 2))^2``, Sigmoid ``(pi / sinh(pi omega))^2``. Raises ValueError for
    any other activation."""
    from ..nn.activations import GaussianReLU

    m = make_activation(spec)
    w = _omega(omega)
    if isinstance(m, nn.Tanh):
        return (math.pi * _a_over_sinh(math.pi * w / 2) / (math.pi * w / 2)).square()
    if isinstance(m, nn.Sigmoid):
        return (math.pi * _a_over_sinh(math.pi * w) / (math.pi * w)).square()
    if isinstance(m, nn.ReLU):
        d2 = torch.ones_like(w)
    elif isinstance(m, nn.LeakyReLU):
        d2 = torch.full_like(w, (1.0 - m.negative_slope) ** 2)
    elif isinstance(m, nn.Softplus):
        d2 = _a_over_sinh(math.pi * w / m.beta).square()
    elif isinstance(m, GaussianReLU):
        d2 = torch.exp(-(m.sigma**2) * w.square())
    elif isinstance(m, nn.GELU):
        if m.approximate != "none":
            raise ValueError(f"activation_power: no closed form for the tanh-approximated GELU ({spec!r})")
        d2 = (1 + w.square()).square() * torch.exp(-w.square())
    elif isinstance(m, nn.SiLU):
        a = math.pi * w
        d2 = (a.square() * _cosh_over_sinh2(a)).square()
    elif isinstance(m, nn.ELU):
        al = float(m.alpha)
        d2 = ((1 - al) + al / (1 + w.square())).square() + (al * w / (1 + w.square())).square()
    else:
        raise ValueError(f"activation_power: no closed form for activation {spec!r} ({type(m).__name__})")
    return d2 / w.pow(4)


def _cosh_over_sinh2(a: torch.Tensor) -> torch.Tensor:
    """``cosh(a) / sinh(a)^2`` for a > 0 without overflow: ``2 e^-a (1 + e^-2a) / (1 - e^-2a)^2``."""
    e = torch.exp(-2 * a)
    return 2 * torch.exp(-a) * (1 + e) / (1 - e).square().clamp(min=1e-300)


def tail_power(spec: str, cutoff: float) -> float:
    """Window-free tail of activation ``spec``: ``(1/pi) int_cutoff^inf |F[phi](omega)|^2 domega``, the energy (both
    signs of omega, Parseval) of the part of ``phi`` above angular frequency ``cutoff`` (radians per unit
    pre-activation), from :func:`activation_power` by quadrature (ReLU: ``1 / (3 pi c^3)``; Tanh:
    ``2 (coth(pi c / 2) - 1)``; Sigmoid: ``coth(pi c) - 1``, in closed form). Unlike :func:`activation_tail` it has no
    window to depend on; it is not scale-free (``2 phi`` has 4 times the tail power, see :func:`tail_band_ratio`)."""
    from scipy.integrate import quad

    c = check_positive_finite("cutoff", cutoff)
    m = make_activation(spec)
    if isinstance(m, nn.ReLU):
        return 1.0 / (3 * math.pi * c**3)
    if isinstance(m, nn.Tanh):
        return 2 * (1 / math.tanh(math.pi * c / 2) - 1) if math.pi * c / 2 < 20 else 4 * math.exp(-math.pi * c)
    if isinstance(m, nn.Sigmoid):
        return (1 / math.tanh(math.pi * c) - 1) if math.pi * c < 20 else 2 * math.exp(-2 * math.pi * c)

    def f(w: float) -> float:
        return float(activation_power(spec, torch.tensor([w], dtype=torch.float64))[0])

    total, edge = 0.0, c
    for span in (1.0, 10.0, 100.0, math.inf):  # piecewise, so that quad sees exponential tails' scale
        hi = c + span if math.isfinite(span) else math.inf
        part, _ = quad(f, edge, hi, limit=200, epsabs=0.0, epsrel=1e-9)
        total, edge = total + part, hi
    return total / math.pi


def tail_band_ratio(spec: str, cutoff: float, reference: float) -> float:
    """Scale-free and window-free: ``tail_power(spec, cutoff) / tail_power(spec, reference)`` for ``reference <
    cutoff``, the share of the energy above ``reference`` that lies above ``cutoff`` (ReLU: ``(reference /
    cutoff)^3``). NaN when the reference tail power is 0 (underflow)."""
    c, r = check_positive_finite("cutoff", cutoff), check_positive_finite("reference", reference)
    if not r < c:
        raise ValueError(f"reference must be below cutoff, got reference={r} and cutoff={c}")
    den = tail_power(spec, r)
    return tail_power(spec, c) / den if den > 0 else math.nan


def measure_power_1d_free(
    f: Callable[[torch.Tensor], torch.Tensor] | nn.Module,
    half_width: float = 100.0,
    n_points: int = 2**16,
    d_omega: float = 0.02,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Power spectrum of a scalar function measured without a window, from its second differences.

    ``phi`` is sampled with step ``h = 2 half_width / n_points`` on ``[-half_width - h, half_width + h]``; its second
    differences ``(phi(x+h) - 2 phi(x) + phi(x-h)) / h^2`` (``phi''`` at scale h, which decays for every activation
    here) are Fourier transformed and divided by the discrete symbol ``(2 sin(omega h / 2) / h)^4`` (``omega^4`` for
    ``omega h << 1``). The result is the sampled ``phi``'s ``|F|^2`` wherever ``phi''`` has decayed inside the range,
    whatever the range: no window, and so no window artefact. The second differences are zero-padded (exact once
    they have decayed) so that the frequency grid's spacing is at most ``d_omega`` rad whatever the range (the
    range alone would give ``pi / half_width``; a coarse grid biases sums over it). Returns ``(omega, power)``:
    the positive angular frequencies of the padded grid up to Nyquist (``pi / h``) and their power."""
    half_width = check_positive_finite("half_width", half_width)
    n_points = check_positive_int("n_points", n_points, minimum=16)
    h = 2 * half_width / n_points
    x = -half_width + h * torch.arange(-1, n_points + 1, dtype=torch.float64)
    with torch.no_grad():
        y = f(x) if not isinstance(f, nn.Module) else f.double()(x)
    y = torch.as_tensor(y, dtype=torch.float64)
    if y.shape != x.shape:
        raise ValueError(f"f must return shape {tuple(x.shape)}, got {tuple(y.shape)}")
    d2 = (y[2:] - 2 * y[1:-1] + y[:-2]) / h**2
    d_omega = check_positive_finite("d_omega", d_omega)
    n_fft = max(n_points, 2 * math.ceil(math.pi / (h * d_omega)))
    spec = torch.fft.rfft(d2, n=n_fft) * h
    omega = 2 * math.pi * torch.fft.rfftfreq(n_fft, d=h, dtype=torch.float64)
    symbol = (2 * torch.sin(omega * h / 2) / h).pow(4)
    power = (spec.real.square() + spec.imag.square()) / symbol
    return omega[1 : n_fft // 2 + 1], power[1 : n_fft // 2 + 1]


def measured_tail_power(spec: str, cutoff: float, half_width: float = 100.0, n_points: int = 2**16) -> float:
    """:func:`tail_power` measured: ``(1/pi) sum_{omega > cutoff} P(omega) d omega`` over
    :func:`measure_power_1d_free`'s spectrum of the activation ``spec`` (up to the sampling's Nyquist frequency
    ``pi / h``). It agrees with :func:`tail_power` once ``[-half_width, half_width]`` holds ``phi''`` (tested). SP is
    measured as the function ``log(1 + exp(beta x)) / beta`` itself: ``nn.Softplus`` returns x above its threshold
    (``beta x > 20``), a jump of about ``exp(-20) / beta`` whose tail power (about ``1e-17 / beta^2`` above
    omega = 2) would hide the lightest tails."""
    cutoff = check_positive_finite("cutoff", cutoff)
    m = make_activation(spec)
    f = m
    if isinstance(m, nn.Softplus):
        b, shift = float(m.beta), (math.log(2.0) / float(m.beta) if getattr(m, "centered", False) else 0.0)
        f = lambda x: torch.logaddexp(torch.zeros_like(x), b * x) / b - shift  # noqa: E731
    omega, power = measure_power_1d_free(f, half_width=half_width, n_points=n_points)
    if cutoff >= float(omega[-1]):
        raise ValueError(f"cutoff {cutoff} is at or above the highest measured frequency {float(omega[-1]):.4g}")
    # trapezoid rule from the cut-off itself (the power there interpolated), so that the grid's spacing pi / L adds
    # no first-order bias
    k = int(torch.searchsorted(omega, torch.tensor(cutoff, dtype=torch.float64)))
    w0, w1 = float(omega[k - 1]) if k > 0 else 0.0, float(omega[k])
    p1 = float(power[k])
    p0 = float(power[k - 1]) if k > 0 else p1
    p_c = p0 + (p1 - p0) * (cutoff - w0) / (w1 - w0) if w1 > w0 else p1
    head = 0.5 * (p_c + p1) * (w1 - cutoff)
    return (head + float(torch.trapezoid(power[k:], omega[k:]))) / math.pi
