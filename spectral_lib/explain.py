"""Gradient-based explanation methods with one signature, and the paper's map post-processing.

Every method is ``method(model, x, target=None, **options) -> attribution`` with ``x`` of shape (N, C, H, W) (or any
(N, ...) input) and an attribution of the input's shape. The explained quantity is the *log-softmax of the target
class* (logits minus their logsumexp), as in the paper; ``target=None`` means the class the model predicts on the clean
input. The model is put in eval mode for the call (so that per-sample gradients are exact under batch norm) and
restored afterwards; computation happens on ``x``'s device.

Which implementation backs what:
* ``vanilla_grad``, ``smooth_grad``, ``integrated_gradients``, ``grad_cam``, ``guided_backprop``,
  ``guided_grad_cam``: implemented here in plain torch (batched; cross-checked against captum in the tests).
* ``deeplift``: captum's ``DeepLift`` (rescale rule, zero baseline) on ``LogSoftmax(model)``. captum handles
  ``nn.Softplus`` (hence SP) and ``nn.ReLU`` with the rescale rule; other activation modules (GaussianReLU, GELU)
  fall back to their plain gradient.
* ``guided_backprop`` generalised to smooth activations: through every activation module the backward signal is
  ``sigma'(x) * relu(grad_out)`` (captum's rule clamps the module's input gradient at zero, which is the same for any
  increasing activation; for ReLU it is exactly Springenberg et al.'s rule). captum's ``GuidedBackprop`` hooks only
  ``nn.ReLU`` and would return the plain gradient for an SP network; ours does not.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_nonnegative_finite, check_positive_int, check_tensor
from .activations import ACTIVATION_TYPES

__all__ = [
    "vanilla_grad",
    "smooth_grad",
    "integrated_gradients",
    "grad_cam",
    "guided_backprop",
    "guided_grad_cam",
    "deeplift",
    "to_map",
    "rank_normalize",
    "predict",
    "METHODS",
    "explain",
]


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _check_inputs(model: nn.Module, x: torch.Tensor) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check_tensor("x", x, ndim=(2, 3, 4, 5), finite=False)
    # One reduction instead of isfinite + all: a NaN/inf in x makes its sum non-finite (so may an overflow, and then
    # the full check decides), so the same inputs are rejected with the same message.
    if not bool(torch.isfinite(x.sum())):
        check_tensor("x", x, ndim=(2, 3, 4, 5))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Predicted class per input, (N,) int64, computed in eval mode in batches."""
    _check_inputs(model, x)
    with _eval_mode(model):
        return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def _resolve_target(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """(N,) int64 target classes: the predicted ones when ``target`` is None; validated against the model's output."""
    with torch.no_grad():
        n_classes = model(x[:1]).shape[1]
    if target is None:
        return predict(model, x)
    return _check_target(target, x, n_classes)


def _check_target(target, x: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``target`` (not None) as (N,) int64 classes, validated against ``n_classes`` outputs."""
    t = torch.as_tensor(target, device=x.device)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"target must be integer class indices, got dtype {t.dtype}")
    t = t.long()
    if t.ndim == 0:
        t = t.expand(len(x))
    if t.shape != (len(x),):
        raise ValueError(f"target must be an int or have shape ({len(x)},), got shape {tuple(t.shape)}")
    if (t < 0).any() or (t >= n_classes).any():
        raise ValueError(f"target must be in [0, {n_classes}), got values in [{int(t.min())}, {int(t.max())}]")
    return t


def _log_softmax_grad(model: nn.Module, x: torch.Tensor, target, *, resolve: bool = False) -> torch.Tensor:
    """Gradient of ``sum_i log_softmax(model(x_i))[target_i]`` w.r.t. x: exact per-sample gradients (eval mode).

    ``resolve=True``: ``target`` is the caller's (None or unvalidated) and is resolved like :func:`_resolve_target`
    from this very forward pass (the clean input's logits), instead of costing forward passes of its own."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    if resolve:
        target = logits.detach().argmax(1) if target is None else _check_target(target, x, logits.shape[1])
    logp = torch.log_softmax(logits, dim=1)
    selected = logp.gather(1, target[:, None]).sum()
    (grad,) = torch.autograd.grad(selected, x)
    return grad


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
    base = torch.as_tensor(baseline, dtype=x.dtype, device=x.device).expand_as(x)
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
        (g,) = torch.autograd.grad(logp.gather(1, t[:, None]).sum(), act)
        weights = g.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * act).sum(1, keepdim=True)).detach()
        cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return cam.expand(-1, x.shape[1], -1, -1).contiguous()


@contextlib.contextmanager
def _guided_hooks(model: nn.Module) -> Iterator[None]:
    handles, inplace = [], []
    for m in model.modules():
        if isinstance(m, ACTIVATION_TYPES):
            if getattr(m, "inplace", False):
                inplace.append(m)
                m.inplace = False
            handles.append(m.register_full_backward_hook(lambda _m, gin, _gout: (F.relu(gin[0]),)))
    if not handles:
        raise ValueError("guided_backprop found no activation module in the model (functional activations?)")
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        for m in inplace:
            m.inplace = True


def guided_backprop(model: nn.Module, x: torch.Tensor, target=None) -> torch.Tensor:
    """Guided Backprop, generalised to smooth activations (see the module docstring). (N, ...) -> (N, ...)."""
    _check_inputs(model, x)
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        with _guided_hooks(model):
            return _log_softmax_grad(model, x, t)


def guided_grad_cam(model: nn.Module, x: torch.Tensor, target=None, *, layer: nn.Module | None = None) -> torch.Tensor:
    """Guided Grad-CAM: Guided Backprop times the upsampled Grad-CAM map (captum's GuidedGradCam, which the
    paper's code uses for its "GradCAM" row). (N, C, H, W) -> (N, C, H, W)."""
    return guided_backprop(model, x, target) * grad_cam(model, x, target, layer=layer)


def deeplift(model: nn.Module, x: torch.Tensor, target=None, *, baseline: float = 0.0) -> torch.Tensor:
    """DeepLIFT (rescale rule) through captum, zero baseline, on the target's log-softmax. (N, ...) -> (N, ...)."""
    from captum.attr import DeepLift
    from captum.attr._core import deep_lift as _captum_deep_lift

    from .activations import SP

    # captum picks its rules by exact type (``type(m) in SUPPORTED_NON_LINEAR``), so the nn.Softplus subclass SP
    # would silently get the plain gradient: register it with the rescale rule that captum uses for nn.Softplus.
    _captum_deep_lift.SUPPORTED_NON_LINEAR.setdefault(SP, _captum_deep_lift.nonlinear)
    _check_inputs(model, x)
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        wrapped = nn.Sequential(model, nn.LogSoftmax(dim=1)).eval()
        base = torch.full_like(x, float(baseline))
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return DeepLift(wrapped).attribute(x.detach(), baselines=base, target=t).detach()


METHODS: dict[str, Callable[..., torch.Tensor]] = {
    "vanilla_grad": vanilla_grad,
    "smooth_grad": smooth_grad,
    "integrated_gradients": integrated_gradients,
    "grad_cam": grad_cam,
    "guided_grad_cam": guided_grad_cam,
    "guided_backprop": guided_backprop,
    "deeplift": deeplift,
}


def explain(method: str, model: nn.Module, x: torch.Tensor, target=None, **options) -> torch.Tensor:
    """Dispatch to a method of :data:`METHODS` by name; ``options`` go to the method. Returns (N, ...)."""
    check_choice("method", method, METHODS)
    return METHODS[method](model, x, target=target, **options)


def rank_normalize(maps: torch.Tensor, ties: Literal["average", "ordinal"] = "average") -> torch.Tensor:
    """Replace each pixel by its rank among its map's pixels divided by the number of pixels: values in (0, 1].

    ``ties="average"`` gives tied pixels their mean rank (scipy's ``rankdata(method="average")``), so that a flat
    region (e.g. Grad-CAM's zeros) stays flat instead of becoming an artificial ramp; ``"ordinal"`` breaks ties by
    position. maps: (N, H, W) -> (N, H, W), same dtype.
    """
    check_tensor("maps", maps, ndim=3, finite=False)
    check_choice("ties", ties, ("average", "ordinal"))
    n, h, w = maps.shape
    flat = maps.reshape(n, -1)
    p = flat.shape[1]
    vals, order = torch.sort(flat, dim=1, stable=True)
    pos = torch.arange(1, p + 1, device=maps.device, dtype=torch.float64).expand(n, -1)
    if ties == "average":
        new_group = torch.ones_like(vals, dtype=torch.bool)
        new_group[:, 1:] = vals[:, 1:] != vals[:, :-1]
        gid = torch.cumsum(new_group.long(), dim=1) - 1 + (torch.arange(n, device=maps.device) * p)[:, None]
        gid = gid.flatten()
        first = torch.full((n * p,), float(p + 1), device=maps.device, dtype=torch.float64)
        last = torch.zeros(n * p, device=maps.device, dtype=torch.float64)
        first.scatter_reduce_(0, gid, pos.flatten(), reduce="amin")
        last.scatter_reduce_(0, gid, pos.flatten(), reduce="amax")
        pos = ((first[gid] + last[gid]) / 2).view(n, p)
    ranks = torch.empty_like(pos)
    ranks.scatter_(1, order, pos)
    return (ranks / p).to(maps.dtype).view(n, h, w)


def to_map(
    attribution: torch.Tensor,
    reduce: Literal["sum", "abs_sum", "l2"] = "sum",
    normalize: Literal["rank", "none", "minmax"] = "rank",
) -> torch.Tensor:
    """Turn (N, C, H, W) attributions into (N, H, W) maps, the paper's way by default.

    ``reduce``: ``"sum"`` over channels (the paper), ``"abs_sum"`` (sum of absolute values) or ``"l2"`` (channel
    norm). ``normalize``: ``"rank"`` (the paper: rank / number of pixels, ties averaged, values in (0, 1]),
    ``"minmax"`` (to [0, 1]) or ``"none"``. A (N, H, W) input skips the reduction.
    """
    check_tensor("attribution", attribution, ndim=(3, 4))
    check_choice("reduce", reduce, ("sum", "abs_sum", "l2"))
    check_choice("normalize", normalize, ("rank", "none", "minmax"))
    a = attribution.detach()
    if a.ndim == 4:
        if reduce == "sum":
            a = a.sum(1)
        elif reduce == "abs_sum":
            a = a.abs().sum(1)
        else:
            a = a.square().sum(1).sqrt()
    if normalize == "rank":
        return rank_normalize(a)
    if normalize == "minmax":
        lo = a.amin(dim=(1, 2), keepdim=True)
        hi = a.amax(dim=(1, 2), keepdim=True)
        return (a - lo) / (hi - lo).clamp(min=torch.finfo(a.dtype).tiny)
    return a
