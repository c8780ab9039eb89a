"""A differentiable spectral penalty on input gradients, for training (the paper's first open question).

The paper measures an explanation's complexity on the radially averaged power spectrum of the VanillaGrad map. Here
the same quantity is computed differentiably (double backprop: ``create_graph=True``), so that it can be added to a
training loss and its gradient with respect to the parameters pushes the network towards smoother input gradients:

* the explained quantity is VanillaGrad's: the log-softmax of the label class (or of the predicted class), its input
  gradient summed over channels into an (H, W) map per example, with the map's mean removed;
* its radially averaged power spectrum ``P_r`` uses the binning of :func:`spectral_lib.spectral.radial_profile`
  (integer radii around the zero frequency, corners included), with bin r at ``f_r = r / min(H, W)`` cycles per pixel
  (the ``"nyquist"`` convention of :func:`spectral_lib.spectral.expected_frequency`);
* ``kind="tail_share"``: the share ``sum_{f_r > cutoff} P_r / sum_{r >= 1} P_r`` of the profile above ``cutoff``,
  in [0, 1]; ``kind="ef"``: the Nyquist Expected Frequency ``sum_{r >= 1} f_r P_r / sum_{r >= 1} P_r``, cycles per
  pixel. Both are invariant to the gradient's scale; a map with no power outside its mean scores 0.

The penalty is computed in the model's current mode (as the loss it is added to): under batch norm in training mode
the gradient is that of the batch-statistics network, and the extra forward pass updates the running statistics.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice, check_nonnegative_finite, check_positive_int, check_tensor
from ..explain.core import _check_target as _check_classes
from ..spectral.spectrum import _bins_on

__all__ = ["gradient_spectral_penalty", "penalized_loss", "PENALTY_KINDS"]

PENALTY_KINDS = ("tail_share", "ef")


def _check_options(kind: str, cutoff: float, subsample: int | None) -> tuple[float, int | None]:
    check_choice("kind", kind, PENALTY_KINDS)
    cutoff = check_nonnegative_finite("cutoff", cutoff)
    if subsample is not None:
        subsample = check_positive_int("subsample", subsample)
    return cutoff, subsample


def _check_model_input(model: nn.Module, x: torch.Tensor) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check_tensor("x", x, ndim=4)


def _differentiable_profile(maps: torch.Tensor) -> torch.Tensor:
    """Radially averaged power spectrum, (N, H, W) -> (N, R), without in-place ops (twice differentiable).

    The same bins and weights as :func:`spectral_lib.spectral.radial_profile` (whose in-place ops and host-side
    finiteness check suit measurement, not a training loss); float64 for float64 maps, else float32."""
    n, h, w = maps.shape
    dtype = torch.float64 if maps.dtype == torch.float64 else torch.float32
    r_idx, weight, counts, n_bins = _bins_on(h, w, maps.device, dtype)
    spec = torch.fft.rfft2(maps.to(dtype))
    power = (spec.real.square() + spec.imag.square()) * weight  # (N, H, W // 2 + 1), mirrored cells counted twice
    out = torch.zeros(n, n_bins, device=maps.device, dtype=dtype)
    out = out.scatter_add(1, r_idx.expand(n, -1), power.reshape(n, -1))
    return out / counts


def _score(maps: torch.Tensor, kind: str, cutoff: float) -> torch.Tensor:
    """(N, H, W) gradient maps -> (N,) tail share or Nyquist EF of their mean-removed radial profile."""
    maps = maps - maps.mean(dim=(-2, -1), keepdim=True)
    profile = _differentiable_profile(maps)[:, 1:]  # bin 0 (the mean, ~0 after its removal) left out
    r = torch.arange(1, profile.shape[1] + 1, device=profile.device, dtype=profile.dtype)
    f = r / float(min(maps.shape[-2:]))
    total = profile.sum(-1).clamp(min=torch.finfo(profile.dtype).tiny)  # a flat map scores 0, not NaN
    if kind == "ef":
        return (f * profile).sum(-1) / total
    return (profile * (f > cutoff).to(profile.dtype)).sum(-1) / total


def _check_target(y: Any, x: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``y`` as (N,) int64 labels on x's device, validated; errors name ``y``."""
    try:
        return _check_classes(y, x, n_classes)
    except (TypeError, ValueError) as e:
        raise type(e)(str(e).replace("target", "y", 1)) from None


def _target_log_softmax(logits: torch.Tensor, x: torch.Tensor, y: Any) -> torch.Tensor:
    """Sum over examples of ``log_softmax(logits)[y]`` (predicted class when y is None); y validated."""
    if y is None:
        t = logits.detach().argmax(1)
    else:
        t = _check_target(y, x, logits.shape[1])
    return torch.log_softmax(logits, dim=1).gather(1, t[:, None]).sum()


def _penalty_from_logits(
    logits: torch.Tensor, x: torch.Tensor, y: Any, kind: str, cutoff: float, create_graph: bool = True
) -> torch.Tensor:
    (grad,) = torch.autograd.grad(_target_log_softmax(logits, x, y), x, create_graph=create_graph)
    return _score(grad.sum(1), kind, cutoff).mean()


def gradient_spectral_penalty(
    model: nn.Module,
    x: torch.Tensor,
    y: Any = None,
    *,
    kind: str = "tail_share",
    cutoff: float = 0.25,
    subsample: int | None = None,
) -> torch.Tensor:
    """Spectral complexity of the model's input gradients, differentiable with respect to the parameters.

    Args:
        model: the network being trained (used in its current mode; see the module docstring).
        x: (N, C, H, W) inputs, on the model's device.
        y: (N,) int labels (or one int); None: the class the model predicts on each input.
        kind: ``"tail_share"`` (share of the radially averaged power above ``cutoff``, in [0, 1]) or ``"ef"``
            (Nyquist Expected Frequency, cycles per pixel, in [1/min(H, W), ~0.71]); see the module docstring.
        cutoff: cycles per pixel, finite and >= 0 (only used by ``"tail_share"``); a bin counts as tail when its
            frequency ``r / min(H, W)`` is strictly above it.
        subsample: evaluate only the first ``min(subsample, N)`` examples (a positive int), to save time; None: all.
    Returns:
        0-d tensor: the mean over the evaluated examples, with a graph to the parameters (double backprop); under
        ``torch.no_grad()`` the value alone (detached). No ``.grad`` is written.
    """
    cutoff, subsample = _check_options(kind, cutoff, subsample)
    _check_model_input(model, x)
    if subsample is not None:
        if y is not None:
            y = torch.as_tensor(y, device=x.device)
            if y.ndim > 1 or (y.ndim == 1 and len(y) != len(x)):
                raise ValueError(f"y must be an int or have shape ({len(x)},), got shape {tuple(y.shape)}")
            y = y[:subsample] if y.ndim else y
        x = x[:subsample]
    differentiable = torch.is_grad_enabled()  # under no_grad: the value only, without double backprop
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        pen = _penalty_from_logits(model(x), x, y, kind, cutoff, create_graph=differentiable)
    return pen if differentiable else pen.detach()


def penalized_loss(
    model: nn.Module,
    x: torch.Tensor,
    y: Any,
    strength: float,
    **kw: Any,
) -> torch.Tensor:
    """``cross_entropy(model(x), y) + strength * gradient_spectral_penalty(model, x, y, **kw)``, a 0-d tensor.

    Args:
        model, x, y: as for :func:`gradient_spectral_penalty`; y (N,) int labels is required here.
        strength: the penalty's weight, finite and >= 0 (0 gives the plain cross-entropy, without double backprop).
        kw: ``kind``, ``cutoff``, ``subsample`` of :func:`gradient_spectral_penalty`.
    Without ``subsample`` one forward pass serves both terms. Under ``torch.no_grad()``: the value alone.
    """
    strength = check_nonnegative_finite("strength", strength)
    unknown = set(kw) - {"kind", "cutoff", "subsample"}
    if unknown:
        raise TypeError(f"penalized_loss got unexpected options {sorted(unknown)}; expected kind, cutoff, subsample")
    kind, cutoff, subsample = kw.get("kind", "tail_share"), kw.get("cutoff", 0.25), kw.get("subsample")
    cutoff, subsample = _check_options(kind, cutoff, subsample)
    if y is None:
        raise ValueError("penalized_loss needs labels y for the cross-entropy")
    _check_model_input(model, x)
    if strength == 0.0 or subsample is not None or not torch.is_grad_enabled():  # the penalty: a forward of its own
        logits = model(x)
        labels = _check_target(y, x, logits.shape[1])
        loss = F.cross_entropy(logits, labels)
        if strength == 0.0:
            return loss
        return loss + strength * gradient_spectral_penalty(model, x, labels, kind=kind, cutoff=cutoff,
                                                           subsample=subsample)
    xr = x.detach().requires_grad_(True)
    logits = model(xr)
    labels = _check_target(y, xr, logits.shape[1])
    return F.cross_entropy(logits, labels) + strength * _penalty_from_logits(logits, xr, labels, kind, cutoff)
