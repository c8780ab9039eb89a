"""Theorem 1, numerically. For a network ``g`` and a set of spatially correlated inputs ``x``: (a) the network's power
spectrum along random lines ``t -> g(x + t v)`` through the inputs (its tail: how sharp ``g`` is), against (b) the
radially averaged spatial power spectrum of the input gradient maps ``d g / d x`` (the explanation's graininess).
The theorem predicts that (a) and (b) get lighter together as the activation gets smoother.
"""
from __future__ import annotations

import copy
import math
from typing import Callable

import torch
from torch import nn

from ..checks import check_positive_finite, check_positive_int, check_tensor
from ..explain import predict, vanilla_grad
from ..explain.core import _eval_mode
from ..spectral import expected_frequency, radial_profile, tail_exponent, to_map
from .lemma1 import tail_mass

__all__ = ["line_power_spectrum", "gradient_power_spectrum", "correlated_images", "theorem1_summary",
           "tail_mass_resolved", "LINE_FLOOR_FACTOR"]

def _line_points(x: torch.Tensor, v: torch.Tensor, t: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """Points ``start:stop`` of the flattened (N * T) stack of line points ``x[i] + t[j] * v[i]`` (point ``p`` is
    image ``p // T``, position ``p % T``), built without materialising the stack. x, v: (N, ...); t: (T,).
    Returns (stop - start, ...), bitwise equal to the same rows of the flattened (N, T, ...) stack
    ``x[:, None] + t[None, :, None, ...] * v[:, None]``
    (the product ``t * v`` is rounded first, then ``x`` is added)."""
    n_t = len(t)
    out = torch.empty((stop - start, *x.shape[1:]), dtype=x.dtype, device=x.device)
    shape = (-1, *[1] * (x.ndim - 1))
    p = start
    while p < stop:
        i, a = divmod(p, n_t)
        b = min(n_t, a + stop - p)
        seg = out[p - start : p - start + b - a]
        torch.mul(t[a:b].view(shape), v[i], out=seg)
        seg.add_(x[i])
        p += b - a
    return out


def line_power_spectrum(
    fn: Callable[..., torch.Tensor],
    x: torch.Tensor,
    half_width: float = 3.0,
    n_points: int = 512,
    seed: int = 0,
    batch_size: int = 8192,
    pass_index: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Power spectrum of a network restricted to random lines through its inputs, averaged over the lines.

    For each input ``x_i`` a random unit direction ``v_i`` (Gaussian, normalised; all N drawn at once from a
    generator seeded with ``seed``) gives the scalar function ``t -> fn(x_i + t v_i)`` for ``t`` in
    ``[-half_width, half_width)`` (``n_points`` samples), windowed and FFT'd
    as in :func:`~spectral_lib.theory.lemma1.measure_power_1d`.

    The N * n_points line points are taken in image-major order (image 0's points, then image 1's, ...) and built
    and evaluated ``batch_size`` at a time, so at most ``batch_size`` points (``batch_size * x[0].numel()``
    values) are held at once, whatever N is; a chunk may span several images or part of one.

    ``fn`` maps a batch of points (B, ...) (B <= batch_size, same trailing shape, dtype and device as x) to (B,)
    scalars (e.g. the log-softmax of a fixed class). With ``pass_index=True`` it is called as
    ``fn(points, image_index)`` where ``image_index`` (B,) int64 (on x's device) is the row of ``x`` whose line
    each point lies on, so per-image quantities (such as each image's own target class) can be looked up.

    Args: x: (N, ...) inputs. Returns ``(omega, power)``: (n_points//2,) angular frequencies (radians per unit of
    input-space distance) and (N, n_points//2) power per line.
    """
    check_tensor("x", x, ndim=(2, 3, 4))
    half_width, n_points, batch_size = _check_line_args(half_width, n_points, batch_size)
    v = _line_directions(x, seed)
    t = _line_positions(x, half_width, n_points)
    vals = _evaluate_lines(fn, x, v, t, batch_size, pass_index)
    return _line_spectrum(vals, t, half_width)


def _check_line_args(half_width: float, n_points: int, batch_size: int) -> tuple[float, int, int]:
    """The line spectra's ``half_width`` (> 0, finite), ``n_points`` (>= 16) and ``batch_size`` (>= 1), checked."""
    return (check_positive_finite("half_width", half_width), check_positive_int("n_points", n_points, minimum=16),
            check_positive_int("batch_size", batch_size))


def _line_directions(x: torch.Tensor, seed: int) -> torch.Tensor:
    """One random unit direction per input: (N, ...) like x (Gaussian, normalised; all N drawn at once, so the
    first k directions do not depend on N)."""
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(x.shape, generator=g).to(x)
    return v / v.flatten(1).norm(dim=1).view(-1, *[1] * (x.ndim - 1))


def _line_positions(x: torch.Tensor, half_width: float, n_points: int) -> torch.Tensor:
    """The (n_points,) positions ``t`` in [-half_width, half_width), in x's dtype and device."""
    return torch.linspace(-half_width, half_width, n_points + 1, dtype=x.dtype, device=x.device)[:-1]


def _evaluate_lines(fn: Callable[..., torch.Tensor], x: torch.Tensor, v: torch.Tensor, t: torch.Tensor,
                    batch_size: int, pass_index: bool) -> torch.Tensor:
    """``fn`` on the N * T line points ``x_i + t_j v_i``, ``batch_size`` points per call (see
    :func:`line_power_spectrum`). Returns (N, T) float64."""
    n_points = len(t)
    total = len(x) * n_points
    vals = []
    with torch.no_grad():
        for start in range(0, total, batch_size):
            stop = min(start + batch_size, total)
            pts = _line_points(x, v, t, start, stop)
            if pass_index:
                idx = torch.arange(start, stop, device=x.device) // n_points
                out = fn(pts, idx)
            else:
                out = fn(pts)
            out = torch.as_tensor(out)
            if out.numel() != stop - start:
                raise ValueError(f"fn must return {stop - start} values (shape (B,)), got shape {tuple(out.shape)}")
            vals.append(out.reshape(-1).double())
            del pts
    return torch.cat(vals).reshape(len(x), n_points)


def _tail_cutoff(omega: torch.Tensor) -> float:
    """Where a line spectrum's tail begins: a quarter of its largest angular frequency (``line_tail_mass`` and both
    floors use it)."""
    return float(omega.max()) / 4


def _line_spectrum(vals: torch.Tensor, t: torch.Tensor, half_width: float,
                   centre: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Power spectra of (N, T) line values sampled at positions t (T,): mean removed (unless ``centre=False``),
    Gaussian window of width ``half_width / 6``, rFFT. Returns (T//2,) angular frequencies and (N, T//2) power (the
    DC bin dropped)."""
    n_points = vals.shape[1]
    dt = 2 * half_width / n_points
    window = torch.exp(-0.5 * (t.double().to(vals.device) / (half_width / 6)) ** 2)  # exp(-18) at the ends
    if centre:
        vals = vals - vals.mean(1, keepdim=True)
    spec = torch.fft.rfft(vals * window, dim=1) * dt
    omega = 2 * math.pi * torch.fft.rfftfreq(n_points, d=dt, dtype=torch.float64)
    power = spec.real.square() + spec.imag.square()
    return omega[1 : n_points // 2 + 1].cpu(), power[:, 1 : n_points // 2 + 1].cpu()


def gradient_power_spectrum(model: nn.Module, x: torch.Tensor, target=None) -> torch.Tensor:
    """Radially averaged spatial power spectrum of VanillaGrad maps (channel sum, no rank normalisation, mean
    removed so that bin 0 does not dominate). x: (N, C, H, W); returns (N, R)."""
    g = vanilla_grad(model, x, target).sum(1)
    g = g - g.mean(dim=(1, 2), keepdim=True)
    return radial_profile(g.double())


def correlated_images(n: int, size: int, corr_length: float, channels: int = 1, seed: int = 0) -> torch.Tensor:
    """Gaussian random fields with a Gaussian correlation of length ``corr_length`` pixels (spatially correlated
    inputs, like natural images), unit variance per pixel. Returns (n, channels, size, size) float32."""
    n = check_positive_int("n", n)
    size = check_positive_int("size", size, minimum=2)
    corr_length = check_positive_finite("corr_length", corr_length)
    g = torch.Generator().manual_seed(seed)
    white = torch.randn(n, channels, size, size, generator=g, dtype=torch.float64)
    f = torch.fft.fftfreq(size, dtype=torch.float64)
    k2 = f[:, None] ** 2 + f[None, :] ** 2
    filt = torch.exp(-2 * (math.pi * corr_length) ** 2 * k2)  # Fourier transform of a Gaussian kernel
    out = torch.fft.ifft2(torch.fft.fft2(white) * filt).real
    out = (out - out.mean(dim=(2, 3), keepdim=True)) / out.std(dim=(2, 3), keepdim=True)
    return out.float()


# Theorem 1's line spectra are measured in float32 first. Where a network is smooth (SP activations, average
# pooling) its true line tail lies below float32's rounding noise; the summary estimates that noise from a float64
# copy of the network on one line, the line with the largest mean square value (rounding noise grows with the values:
# along a line that stays confidently in one class the log-softmax is near 0 and so is its noise), and a tail mass
# counts as resolved only at LINE_FLOOR_FACTOR times its floor. Per-line noise spans 3 to 19 decades across the 32
# lines of a network, so the first line is no estimate (up to 11x below the all-line floor on chapter 3's SP
# average-pool networks); the line of largest mean square over-estimated the all-line floor 2.7-8.3x on chapter 3's
# 8 seed-0 networks (2026-12-04), which errs on the side of "not resolved". An unresolved network is measured again in
# float64 (precision="auto"): 3-4x the float32 cost (7-8 s against 2-4 s a network for chapter 3's average-pool CNN,
# under 1 s for chapter 9's MLP, one thread). Float64 has a floor too: the window's leakage (_window_floor), about
# 3e-16 on these lines; chapter 3's average-pool SP networks measure 3.14e-16, 3.24e-16 and 3.21e-16 in float64 with
# window floors of 3.14e-16, 3.24e-16 and 3.21e-16 (seed 0, 2026-12-04): their tails lie below it, while the
# average-pool ReLU network's 1.8e-8 is resolved in float64 (2.0e-8 in float32, floor 1e-8).
LINE_FLOOR_FACTOR = 10.0


def theorem1_summary(
    model: nn.Module,
    x: torch.Tensor,
    half_width: float = 3.0,
    n_points: int = 512,
    fit_range: tuple[float, float] = (0.25, 1.0),
    batch_size: int = 8192,
    precision: str = "auto",
) -> dict[str, float | str]:
    """The two sides of Theorem 1 for one network on inputs x (N, C, H, W), as numbers.

    The line spectra are :func:`line_power_spectrum`'s (``half_width``, ``n_points``, ``batch_size`` line points per
    forward pass, seed 0), each line scored by the log-softmax of its own image's predicted class. They are measured
    in x's dtype; with ``precision="auto"`` (the default) a line tail mass that x's dtype does not resolve
    (:func:`tail_mass_resolved`) is measured again through a float64 copy of the network (the same lines);
    ``precision="as_given"`` keeps x's dtype.

    Returns a dict: ``line_tail_slope`` (log-log slope of the mean power along random lines, over ``fit_range`` of
    the frequency axis), ``line_tail_mass`` (fraction of line power above a quarter of the largest frequency),
    ``line_floor_mass`` (the measurement's floor for that fraction: the rounding noise's share, estimated from above
    as the tail power of the difference between the line of largest mean square value evaluated in x's dtype and by
    a float64 copy of the model, over the mean total line power, 0 for float64 lines; plus ``line_window_mass``, the
    leakage of the truncated window, see :func:`_window_floor`), ``line_dtype`` (in which the line side was
    measured: x's dtype, e.g. "float32", or "float64"), ``grad_tail_slope`` (slope of the mean spatial spectrum of
    the gradient maps, in x's dtype), ``grad_ef`` (mean paper EF of the rank-normalised VanillaGrad maps) and
    ``grad_ef_nyquist`` (mean EF in cycles/pixel).
    """
    check_tensor("x", x, ndim=4)
    half_width, n_points, batch_size = _check_line_args(half_width, n_points, batch_size)
    if precision not in ("auto", "as_given"):
        raise ValueError(f"precision must be 'auto' or 'as_given', got {precision!r}")
    v = _line_directions(x, 0)
    t = _line_positions(x, half_width, n_points)
    with _eval_mode(model):
        target = predict(model, x)
        line = _line_side(model, x, v, t, target, half_width, batch_size, fit_range)
        if precision == "auto" and x.dtype != torch.float64 \
                and not tail_mass_resolved(line["line_tail_mass"], line["line_floor_mass"]):
            model64 = copy.deepcopy(model).double()
            # positions made in float64, not widened from x's dtype: rounded positions are unevenly spaced, and
            # that alone puts a tail above float64's floor (300 float32 positions: about 3e-15)
            t64 = _line_positions(x.double(), half_width, n_points)
            line = _line_side(model64, x.double(), v.double(), t64, target, half_width, batch_size, fit_range)
            del model64
        grad_prof = gradient_power_spectrum(model, x, target)
        maps = to_map(vanilla_grad(model, x, target))
    return {
        **line,
        "grad_tail_slope": float(tail_exponent(grad_prof.mean(0), fit_range)),
        "grad_ef": float(expected_frequency(maps).mean()),
        "grad_ef_nyquist": float(expected_frequency(maps, "nyquist").mean()),
    }


def _line_side(model: nn.Module, x: torch.Tensor, v: torch.Tensor, t: torch.Tensor, target: torch.Tensor,
               half_width: float, batch_size: int, fit_range: tuple[float, float]) -> dict[str, float | str]:
    """The line half of :func:`theorem1_summary` in x's dtype (model, v and t in the same): tail slope, tail mass,
    its floors and the dtype."""
    vals = _evaluate_lines(_scorer(model, target), x, v, t, batch_size, pass_index=True)
    omega, power = _line_spectrum(vals, t, half_width)
    rounding = _rounding_floor(model, x, v, t, target, vals, half_width, batch_size, omega, power)
    window = _window_floor(vals, t, half_width, omega, power)
    mean_line = power.mean(0)
    return {
        "line_tail_slope": float(tail_exponent(mean_line, fit_range, frequencies=omega)),
        "line_tail_mass": float(tail_mass(omega, mean_line, _tail_cutoff(omega))),
        "line_floor_mass": rounding + window,
        "line_window_mass": window,
        "line_dtype": str(x.dtype).removeprefix("torch."),  # "float32", "float64", ...
    }


def _scorer(model: nn.Module, target: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """fn(points (B, C, H, W), image_index (B,)) -> (B,) log-softmax of each point's own image's ``target``."""
    def fn(batch: torch.Tensor, image_index: torch.Tensor) -> torch.Tensor:
        tgt = target[image_index.to(target.device)]
        return torch.log_softmax(model(batch), 1).gather(1, tgt[:, None]).squeeze(1)
    return fn


def _rounding_floor(model: nn.Module, x: torch.Tensor, v: torch.Tensor, t: torch.Tensor, target: torch.Tensor,
                    vals: torch.Tensor, half_width: float, batch_size: int, omega: torch.Tensor,
                    power: torch.Tensor) -> float:
    """Tail mass of the rounding noise in ``vals`` (N, T), the line values of ``model`` in x's dtype, estimated on
    the line ``i`` with the largest mean square value: the tail power (above a quarter of the largest frequency) of
    ``vals[i] - vals64``, where ``vals64`` is the same line (same points, direction and target) through a float64
    copy of the model, over the mean total power of all N lines' spectra ``power`` (N, K) (the denominator of
    ``line_tail_mass``). An over-estimate where the noise grows with the values (see the note above
    :data:`LINE_FLOOR_FACTOR`)."""
    if x.dtype == torch.float64:
        return 0.0
    i = int(vals.square().mean(1).argmax())
    model64 = copy.deepcopy(model).double()
    vals64 = _evaluate_lines(_scorer(model64, target[i : i + 1]), x[i : i + 1].double(), v[i : i + 1].double(),
                             t.double(), batch_size, pass_index=True)
    del model64
    _, noise = _line_spectrum(vals[i : i + 1] - vals64, t, half_width)
    tail = omega > _tail_cutoff(omega)
    return float(noise[0, tail].sum() / power.sum(-1).mean())


def _window_floor(vals: torch.Tensor, t: torch.Tensor, half_width: float, omega: torch.Tensor,
                  power: torch.Tensor) -> float:
    """Tail mass that the window alone puts into the line spectra of ``vals`` (N, T): the Gaussian window of
    :func:`_line_spectrum` is cut at six widths (its edge value is exp(-18) = 1.5e-8), so a line whose ends
    differ from its mean has a jump at the FFT's periodic boundary, and the jump leaks power into the tail
    however smooth the function is (a straight line measures a tail mass of 3.3e-16 at 512 points a line:
    :func:`window_leakage`). Estimated per line as the tail power of the windowed straight line through the
    line's two end values, less the line's mean (the same jump, no interior detail), summed as :func:`tail_mass`
    sums: over the mean total power of the N lines' spectra ``power`` (N, K)."""
    tt = t.double().to(vals.device)
    u = (tt - tt[0]) / (tt[-1] - tt[0])  # 0 at the first sample, 1 at the last
    ramp = vals[:, :1] + (vals[:, -1:] - vals[:, :1]) * u - vals.mean(1, keepdim=True)
    _, leak = _line_spectrum(ramp, t, half_width, centre=False)  # centred on the line's mean, not the ramp's
    tail = omega > _tail_cutoff(omega)
    return float(leak.mean(0)[tail].sum() / power.mean(0).sum())


def window_leakage(half_width: float = 3.0, n_points: int = 512) -> float:
    """The tail mass (power above a quarter of the largest frequency, as ``line_tail_mass``) that the line spectra of
    :func:`theorem1_summary` give a straight line ``f(t) = t`` in float64: a function with no tail at all, so this
    is the window's leakage alone, the least tail mass the measurement can report. Dimensionless."""
    half_width, n_points, _ = _check_line_args(half_width, n_points, 1)
    t = _line_positions(torch.zeros(1, dtype=torch.float64), half_width, n_points)
    omega, power = _line_spectrum(t[None], t, half_width)
    return float(tail_mass(omega, power[0], _tail_cutoff(omega)))


def tail_mass_resolved(mass: float, floor: float, factor: float = LINE_FLOOR_FACTOR) -> bool:
    """Whether a line tail ``mass`` stands clear of its measurement ``floor`` (``line_floor_mass`` of
    :func:`theorem1_summary`): ``mass >= factor * floor``, i.e. the noise is at most 1/``factor`` of it by that
    estimate. NaN in either: False."""
    return bool(math.isfinite(mass) and math.isfinite(floor) and mass >= factor * floor)
