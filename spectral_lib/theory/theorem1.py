"""Theorem 1, numerically. For a network ``g`` and a set of spatially correlated inputs ``x``: (a) the network's power
spectrum along random lines ``t -> g(x + t v)`` through the inputs (its tail: how sharp ``g`` is), against (b) the
radially averaged spatial power spectrum of the input gradient maps ``d g / d x`` (the explanation's graininess).
The theorem predicts that (a) and (b) get lighter together as the activation gets smoother.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..checks import check_positive_finite, check_positive_int, check_tensor
from ..explain import predict, vanilla_grad
from ..explain.core import _eval_mode
from ..spectral import expected_frequency, radial_profile, tail_exponent, to_map
from .lemma1 import tail_mass

__all__ = ["line_power_spectrum", "gradient_power_spectrum", "correlated_images", "theorem1_summary"]

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
    half_width = check_positive_finite("half_width", half_width)
    n_points = check_positive_int("n_points", n_points, minimum=16)
    batch_size = check_positive_int("batch_size", batch_size)
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(x.shape, generator=g).to(x)
    v = v / v.flatten(1).norm(dim=1).view(-1, *[1] * (x.ndim - 1))
    t = torch.linspace(-half_width, half_width, n_points + 1, dtype=x.dtype, device=x.device)[:-1]
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
    vals = torch.cat(vals).reshape(len(x), n_points)
    dt = 2 * half_width / n_points
    window = torch.exp(-0.5 * (t.double() / (half_width / 6)) ** 2)
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


def theorem1_summary(
    model: nn.Module,
    x: torch.Tensor,
    half_width: float = 3.0,
    n_points: int = 512,
    fit_range: tuple[float, float] = (0.25, 1.0),
    batch_size: int = 8192,
) -> dict[str, float]:
    """The two sides of Theorem 1 for one network on inputs x (N, C, H, W), as numbers.

    The line spectra use :func:`line_power_spectrum` (``half_width``, ``n_points``, ``batch_size`` line points per
    forward pass), each line scored by the log-softmax of its own image's predicted class.

    Returns a dict: ``line_tail_slope`` (log-log slope of the mean power along random lines, over ``fit_range`` of
    the frequency axis), ``line_tail_mass`` (fraction of line power above a quarter of the largest frequency),
    ``grad_tail_slope`` (slope of the mean spatial spectrum of the gradient maps), ``grad_ef`` (mean paper EF of
    the rank-normalised VanillaGrad maps) and ``grad_ef_nyquist`` (mean EF in cycles/pixel).
    """
    with _eval_mode(model):
        target = predict(model, x)

        def fn(batch: torch.Tensor, image_index: torch.Tensor) -> torch.Tensor:
            # batch (B, C, H, W) line points; image_index (B,) the row of x each point belongs to
            tgt = target[image_index.to(target.device)]
            return torch.log_softmax(model(batch), 1).gather(1, tgt[:, None]).squeeze(1)

        omega, power = line_power_spectrum(
            fn, x, half_width=half_width, n_points=n_points, batch_size=batch_size, pass_index=True
        )
        grad_prof = gradient_power_spectrum(model, x, target)
        maps = to_map(vanilla_grad(model, x, target))
    mean_line = power.mean(0)
    mean_grad = grad_prof.mean(0)
    return {
        "line_tail_slope": float(tail_exponent(mean_line, fit_range, frequencies=omega)),
        "line_tail_mass": float(tail_mass(omega, mean_line, float(omega.max()) / 4)),
        "grad_tail_slope": float(tail_exponent(mean_grad, fit_range)),
        "grad_ef": float(expected_frequency(maps).mean()),
        "grad_ef_nyquist": float(expected_frequency(maps, "nyquist").mean()),
    }
