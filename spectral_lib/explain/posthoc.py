"""Post-hoc transforms: smooth explanations of a trained network without retraining it (explain-time smoothing and
low-pass filtering). Neither explains a model: no smoother network f~ exists whose gradient they are, so they are
post-hoc transforms of the gradient, not surrogates.

Two of the ways to get a smooth explanation besides training with SP(beta) or averaging over noise (SmoothGrad). Both follow the explainers' signature ``fn(model, x, target=None, **options) -> (N, C, H, W)``,
explain the *log-softmax of the target class* (as :func:`~spectral_lib.explain.vanilla_grad`), run in eval mode
(restored afterwards) on ``x``'s device, with ``target=None`` meaning the class predicted on the clean input.

* :func:`beta_smooth_grad` (Zennit's ``BetaSmooth`` rule): the forward pass of the ReLU network is unchanged, but the
  backward pass goes through every ``nn.ReLU`` as if it were SP(beta): its local derivative ``1[z > 0]`` becomes
  ``sigmoid(beta * z)``, ``z`` the ReLU's input *in the ReLU network*. This is not the gradient of the SP(beta)
  network (whose forward pass, hence pre-activations and softmax, differ); it is the ReLU network's gradient with
  smoothed local derivatives. ``beta -> inf`` gives VanillaGrad.
* :func:`lowpass_grad` (FORGrad, as in Xplique): VanillaGrad, then a radial low-pass in Fourier space that keeps the
  frequencies up to ``cutoff`` cycles per pixel (:func:`spectral_lib.spectral.lowpass`, also usable on any maps).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..checks import check_nonnegative_finite, check_positive_finite
from ..nn.activations import ACTIVATION_TYPES
from ..spectral.filters import lowpass
from .core import _check_inputs, _eval_mode, _log_softmax_grad, hooked
from .methods import vanilla_grad

__all__ = ["beta_smooth_grad", "lowpass_grad"]

# Elementwise activation modules of torch (beyond ACTIVATION_TYPES) that beta_smooth_grad refuses: their derivative
# is not ReLU's step, so "backpropagate as SP(beta)" has no meaning for them. Softmax-like and attention modules are
# not elementwise activations and are left alone.
_OTHER_ACTIVATIONS = (nn.ReLU6, nn.Hardtanh, nn.PReLU, nn.RReLU, nn.SELU, nn.CELU, nn.Mish, nn.Hardswish,
                      nn.Hardsigmoid, nn.Softsign, nn.Tanhshrink, nn.Softshrink, nn.Hardshrink, nn.Threshold,
                      nn.LogSigmoid, nn.GLU)


class _BetaSmoothReLU(torch.autograd.Function):
    """ReLU forward (bit for bit ``nn.ReLU``'s output); backward ``grad * sigmoid(beta * z)`` with z the input."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, beta: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(z)
        ctx.beta = beta
        return torch.relu(z)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (z,) = ctx.saved_tensors
        return grad * torch.sigmoid(ctx.beta * z), None


def _check_beta_smoothable(model: nn.Module) -> list[nn.ReLU]:
    """The model's ``nn.ReLU`` modules; ValueError naming the type of any other activation module, or when none."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    relus, others = [], []
    for name, m in model.named_modules():
        if isinstance(m, nn.ReLU):
            relus.append(m)
        elif isinstance(m, ACTIVATION_TYPES + _OTHER_ACTIVATIONS):
            others.append(f"{name or '<model>'} ({type(m).__name__})")
    if others:
        raise ValueError(
            "beta_smooth_grad smooths only nn.ReLU modules (their derivative is replaced by sigmoid(beta * z)); this "
            f"model also has other activation modules, which cannot be smoothed this way: {', '.join(others[:5])}"
            + (f" and {len(others) - 5} more" if len(others) > 5 else ""))
    if not relus:
        raise ValueError(f"beta_smooth_grad found no nn.ReLU module in the model ({type(model).__name__}); "
                         "functional relus (F.relu, torch.relu) cannot be hooked")
    return relus


@contextlib.contextmanager
def _beta_smooth_hooks(relus: list[nn.ReLU], beta: float) -> Iterator[None]:
    """While active, every call of a module of ``relus`` returns ``_BetaSmoothReLU(input)`` (same values, smoothed
    backward). In-place ReLUs run out of place meanwhile (their input is needed). Hooks and flags restored after."""

    def hook(_m: nn.Module, args: tuple, _out: torch.Tensor) -> torch.Tensor:
        return _BetaSmoothReLU.apply(args[0], beta)

    with hooked(relus, lambda m: m.register_forward_hook(hook)):
        yield


def beta_smooth_grad(model: nn.Module, x: torch.Tensor, target=None, *, beta: float = 1.0) -> torch.Tensor:
    """Gradient of the target's log-softmax with every ``nn.ReLU`` backpropagated as SP(beta) (Zennit's BetaSmooth).

    The forward pass is the ReLU network's, unchanged (so are the logits, the softmax and the predicted target); in
    the backward pass each ``nn.ReLU`` with input ``z`` multiplies the incoming gradient by ``sigmoid(beta * z)``
    instead of ``1[z > 0]``. For a single hidden layer ``logits = W2 relu(W1 x + b1) + b2`` this is
    ``(e_t - softmax(logits)) @ W2 * sigmoid(beta * z) @ W1`` with ``z = W1 x + b1``. Max-pooling keeps its routing.

    Args:
        model: a network whose only activation modules are ``nn.ReLU`` (in place or not, reused or not). Any other
            activation module (GELU, SP, LeakyReLU, ...) or no ``nn.ReLU`` at all: ValueError naming it, before any
            work. Hooks are set for the call and removed afterwards (also on error); the model is left as it was.
        x: (N, C, H, W) inputs (or any (N, ...) the model takes); the computation runs on x's device.
        target: None (the class predicted on x), an int, or (N,) int classes.
        beta: SP's beta, positive and finite (units of 1 / pre-activation); smaller is smoother, ``beta -> inf``
            gives :func:`~spectral_lib.explain.vanilla_grad`.
    Returns:
        (N, ...) attributions of x's shape and dtype.
    """
    beta = check_positive_finite("beta", beta)
    relus = _check_beta_smoothable(model)
    _check_inputs(model, x)
    with _eval_mode(model), _beta_smooth_hooks(relus, beta):
        return _log_softmax_grad(model, x, target, resolve=True)  # target resolved from the (unchanged) forward


def lowpass_grad(model: nn.Module, x: torch.Tensor, target=None, *, cutoff: float = 0.25) -> torch.Tensor:
    """FORGrad-style low-passed VanillaGrad: :func:`lowpass` (per channel) of the target's log-softmax gradient.

    Args:
        model: any network (eval mode for the call, restored afterwards).
        x: (N, C, H, W) inputs (or (N, H, W) for a model taking those); the computation runs on x's device.
        target: None (the class predicted on x), an int, or (N,) int classes.
        cutoff: radial cut-off in cycles per pixel, finite and >= 0: ``>= sqrt(2)/2`` gives VanillaGrad, 0 a map
            that is constant per channel (the channel's mean gradient).
    Returns:
        (N, C, H, W) attributions (x's shape and dtype).
    """
    cutoff = check_nonnegative_finite("cutoff", cutoff)
    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"lowpass_grad needs x of shape (N, C, H, W) or (N, H, W), got {shape}")
    return lowpass(vanilla_grad(model, x, target), cutoff)
