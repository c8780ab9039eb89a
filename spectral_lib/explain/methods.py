"""Our explanation methods, all of the *log-softmax of the target class* (logits minus their logsumexp), one
signature ``method(model, x, target=None, **options) -> attribution`` (x: (N, C, H, W) or any (N, ...) input; the
attribution has x's shape): VanillaGrad, SmoothGrad, Integrated Gradients (midpoint rule), plain Grad-CAM,
Guided Backprop (generalised to smooth activations, or captum's rule), Guided Grad-CAM and DeepLIFT (through captum).
See :mod:`spectral_lib.explain` for how they differ from the authors' captum calls."""
from __future__ import annotations

import contextlib
import warnings
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice, check_nonnegative_finite, check_positive_int, check_tensor
from ..nn.activations import ACTIVATION_TYPES
from .authors import _register_sp_with_captum
from .core import _check_inputs, _eval_mode, _log_softmax_grad, _resolve_target, hooked
from .model_copy import EXTRA_ACTIVATION_TYPES, distinct_activations

__all__ = ["vanilla_grad", "smooth_grad", "integrated_gradients", "grad_cam", "guided_backprop", "guided_grad_cam",
           "deeplift", "GUIDED_RULES"]


def vanilla_grad(model: nn.Module, x: torch.Tensor, target=None) -> torch.Tensor:
    """VanillaGrad: d log_softmax(model(x))[target] / dx, per sample. (N, ...) -> (N, ...)."""
    _check_inputs(model, x)
    with _eval_mode(model):
        return _log_softmax_grad(model, x, target, resolve=True)  # one forward pass, target resolved from it


def smooth_grad(
    model: nn.Module,
    x: torch.Tensor,
    noise_std: float = 0.1,
    n_samples: int = 64,
    target=None,
    *,
    chunk_size: int = 4096,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """SmoothGrad: mean of VanillaGrad over ``n_samples`` copies of x with Gaussian noise of std ``noise_std``.

    Noise is added to the (already normalised) input, as in the paper (64 samples, std 0.1). The target is fixed
    from the clean input. Forward/backward passes run on at most ``chunk_size`` noisy inputs at a time, so peak memory
    is bounded by ``chunk_size`` whatever N and n_samples are. ``noise`` (n_samples, N, ...) replaces the random draws
    (used to compare implementations on identical noise); ``generator`` seeds the draws (on x's device).
    With ``noise_std == 0`` the result equals :func:`vanilla_grad`. Returns (N, ...).
    """
    _check_inputs(model, x)
    noise_std = check_nonnegative_finite("noise_std", noise_std)
    n_samples = check_positive_int("n_samples", n_samples)
    chunk_size = check_positive_int("chunk_size", chunk_size)
    if noise is not None:
        check_tensor("noise", noise)
        if noise.shape != (n_samples, *x.shape):
            raise ValueError(f"noise must have shape {(n_samples, *x.shape)}, got {tuple(noise.shape)}")
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        total = torch.zeros_like(x)
        per_chunk = max(1, chunk_size // len(x))  # noisy copies of the whole batch per pass
        if per_chunk == 1 and len(x) > chunk_size:
            for s in range(n_samples):  # a single copy of the batch exceeds the chunk: split the batch too
                eps = noise[s] if noise is not None else _randn_like(x, generator) * noise_std
                for i in range(0, len(x), chunk_size):
                    sl = slice(i, i + chunk_size)
                    total[sl] += _log_softmax_grad(model, x[sl] + eps[sl], t[sl])
            return total / n_samples
        for s0 in range(0, n_samples, per_chunk):
            k = min(per_chunk, n_samples - s0)
            if noise is not None:
                eps = noise[s0 : s0 + k]
                xs = x[None] + eps
            else:  # one draw per noisy copy, as above: the noise (so the result) does not depend on chunk_size
                xs = torch.empty((k, *x.shape), dtype=x.dtype, device=x.device)
                for j in range(k):  # drawn in place: the values of torch.stack([_randn_like(x, generator), ...])
                    torch.randn(x.shape, generator=generator, out=xs[j])
                xs = xs.mul_(noise_std).add_(x)  # = x[None] + eps * noise_std, bit for bit, without temporaries
            xs = xs.reshape(k * len(x), *x.shape[1:])
            g = _log_softmax_grad(model, xs, t.repeat(k))
            total += g.reshape(k, *x.shape).sum(0)
        return total / n_samples


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target=None,
    *,
    baseline: torch.Tensor | float = 0.0,
    n_steps: int = 32,
    chunk_size: int = 4096,
) -> torch.Tensor:
    """Integrated Gradients (Sundararajan et al.) of the target's log-softmax, midpoint Riemann sum.

    ``(x - baseline) * mean_k grad(baseline + a_k (x - baseline))`` with ``a_k = (k + 1/2) / n_steps``; zero
    baseline by default (the paper's setting). Completeness: the attribution sums to about
    ``f(x) - f(baseline)`` (error O(1/n_steps^2)). Returns (N, ...).
    """
    _check_inputs(model, x)
    n_steps = check_positive_int("n_steps", n_steps)
    chunk_size = check_positive_int("chunk_size", chunk_size)
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device)
    try:
        base = base.expand_as(x)
    except RuntimeError:
        raise ValueError(f"baseline must be a number or a tensor broadcastable to x's shape {tuple(x.shape)}, got "
                         f"shape {tuple(base.shape)}") from None
    alphas = (torch.arange(n_steps, device=x.device, dtype=x.dtype) + 0.5) / n_steps
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        total = torch.zeros_like(x)
        per_chunk = max(1, chunk_size // len(x))
        for a0 in range(0, n_steps, per_chunk):
            a = alphas[a0 : a0 + per_chunk].view(-1, *([1] * x.ndim))
            xs = (base[None] + a * (x - base)[None]).reshape(-1, *x.shape[1:])
            g = _log_softmax_grad(model, xs, t.repeat(len(a)))
            total += g.reshape(len(a), *x.shape).sum(0)
        return (x - base) * total / n_steps


def _last_conv(model: nn.Module) -> nn.Module:
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("grad_cam needs a model with an nn.Conv2d layer, or an explicit layer=")
    return convs[-1]


def grad_cam(model: nn.Module, x: torch.Tensor, target=None, *, layer: nn.Module | None = None) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al.) at ``layer`` (default: the last ``nn.Conv2d``), of the target's log-softmax.

    ``relu(sum_k w_k A_k)`` with ``w_k`` the spatial mean of ``d out / d A_k``, bilinearly upsampled to the input's
    (H, W) and repeated over the input's channels. x: (N, C, H, W); returns (N, C, H, W).
    """
    _check_inputs(model, x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W) for grad_cam, got {tuple(x.shape)}")
    layer = layer if layer is not None else _last_conv(model)
    store: dict[str, torch.Tensor] = {}

    def hook(_m, _inp, out):
        store["act"] = out
        return None

    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        handle = layer.register_forward_hook(hook)
        try:
            logp = torch.log_softmax(model(x.detach()), dim=1)
        finally:
            handle.remove()
        if "act" not in store:
            raise ValueError("layer was not called during the forward pass")
        act = store["act"]
        if not isinstance(act, torch.Tensor) or act.ndim != 4:
            shape = tuple(act.shape) if isinstance(act, torch.Tensor) else type(act).__name__
            raise ValueError(f"grad_cam needs a layer whose output is (N, C, h, w); {type(layer).__name__} gave {shape}")
        (g,) = torch.autograd.grad(logp.gather(1, t[:, None]).sum(), act)
        weights = g.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * act).sum(1, keepdim=True)).detach()
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return cam.expand(-1, x.shape[1], -1, -1).contiguous()


GUIDED_RULES = ("generalised", "captum")


@contextlib.contextmanager
def _guided_hooks(model: nn.Module, rule: str = "generalised") -> Iterator[None]:
    """Clamp at zero the input gradient of every activation module (``rule="generalised"``: spectral_lib's
    ``ACTIVATION_TYPES`` and torch's other elementwise activations, ReLU6, Hardswish, ...) or of every ``nn.ReLU``
    module only (``rule="captum"``, captum's GuidedBackprop; a model without one is left unguided)."""
    types = ACTIVATION_TYPES + EXTRA_ACTIVATION_TYPES if rule == "generalised" else (nn.ReLU,)
    modules = [m for m in model.modules() if isinstance(m, types)]
    if not modules and rule == "generalised":
        raise ValueError("guided_backprop found no activation module in the model (functional activations?)")
    with hooked(modules, lambda m: m.register_full_backward_hook(lambda _m, gin, _gout: (F.relu(gin[0]),))):
        yield


def guided_backprop(model: nn.Module, x: torch.Tensor, target=None, *, rule: str = "generalised") -> torch.Tensor:
    """Guided Backprop of the target's log-softmax. (N, ...) -> (N, ...).

    ``rule="generalised"`` (default): guided through every activation module, smooth ones included (see the module
    docstring). ``rule="captum"``: only ``nn.ReLU`` modules are guided, as captum's GuidedBackprop does, so on a
    network without ReLU modules (SP, GaussianReLU) the result is the plain gradient, i.e. :func:`vanilla_grad`.
    The hooks go on a copy of the model whose activation modules run once per call, out of place, and return fresh
    tensors (:func:`~spectral_lib.explain.model_copy.distinct_activations` with ``fresh_outputs``), so models that
    reuse one activation module or add in place to an activation's output (EfficientNetV2) work; the model itself
    is not modified.
    """
    check_choice("rule", rule, GUIDED_RULES)
    _check_inputs(model, x)
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        net = distinct_activations(model, x, fresh_outputs=True)  # hooked outputs never modified in place
        with _guided_hooks(net, rule):
            return _log_softmax_grad(net, x, t)


def guided_grad_cam(
    model: nn.Module, x: torch.Tensor, target=None, *, layer: nn.Module | None = None, rule: str = "generalised"
) -> torch.Tensor:
    """Guided Grad-CAM of the target's log-softmax: :func:`guided_backprop` (with ``rule``) times :func:`grad_cam`
    at ``layer`` (default: the last ``nn.Conv2d``, bilinear upsampling). (N, C, H, W) -> (N, C, H, W).

    The structure of captum's GuidedGradCam, but not the paper's "GradCAM" row (logits, nearest upsampling, the
    authors' layer): that is :func:`captum_guided_grad_cam`."""
    check_choice("rule", rule, GUIDED_RULES)
    return guided_backprop(model, x, target, rule=rule) * grad_cam(model, x, target, layer=layer)


def deeplift(model: nn.Module, x: torch.Tensor, target=None, *, baseline: float = 0.0) -> torch.Tensor:
    """DeepLIFT (rescale rule) through captum, zero baseline, on the target's log-softmax. (N, ...) -> (N, ...).

    Runs on a copy of the model whose activation modules are distinct per call and out of place
    (:func:`~spectral_lib.explain.model_copy.distinct_activations`), so models that reuse one activation module
    (torchvision's ResNets) work; the model itself is not modified."""
    from captum.attr import DeepLift

    _register_sp_with_captum()  # SP gets captum's nn.Softplus rule (see _register_sp_with_captum)
    _check_inputs(model, x)
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        wrapped = nn.Sequential(distinct_activations(model, x), nn.LogSoftmax(dim=1)).eval()
        base = torch.full_like(x, float(baseline))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return DeepLift(wrapped).attribute(x.detach(), baselines=base, target=t).detach()
