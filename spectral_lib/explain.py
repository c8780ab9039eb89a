"""Gradient-based explanation methods with one signature, and the paper's map post-processing.

Every method is ``method(model, x, target=None, **options) -> attribution`` with ``x`` of shape (N, C, H, W) (or any
(N, ...) input) and an attribution of the input's shape. ``target=None`` means the class the model predicts on the
clean input. The model is put in eval mode for the call (so that per-sample gradients are exact under batch norm) and
restored afterwards; computation happens on ``x``'s device.

Two families live here side by side.

**Our methods** explain the *log-softmax of the target class* (logits minus their logsumexp):

* ``vanilla_grad``, ``smooth_grad``, ``integrated_gradients`` (midpoint rule), ``grad_cam`` (plain Grad-CAM at the
  last ``nn.Conv2d``, bilinear upsampling), ``guided_backprop``, ``guided_grad_cam``: implemented here in plain torch
  (batched; cross-checked against captum in the tests).
* ``deeplift``: captum's ``DeepLift`` (rescale rule, zero baseline) on ``LogSoftmax(model)``. captum handles
  ``nn.Softplus`` (hence SP) and ``nn.ReLU`` with the rescale rule; other activation modules (GaussianReLU, GELU)
  fall back to their plain gradient.
* ``guided_backprop(rule="generalised")`` (the default) generalises Guided Backprop to smooth activations: through
  every activation module the backward signal is ``sigma'(x) * relu(grad_out)`` (captum's rule clamps the module's
  input gradient at zero, which is the same for any increasing activation; for ReLU it is exactly Springenberg et
  al.'s rule). ``rule="captum"`` guides only ``nn.ReLU`` modules (``isinstance``, as captum does), so on an SP
  network it is the plain gradient. ``guided_grad_cam`` takes the same ``rule``.

**The paper's protocol** (``captum_*``): the authors' code (captum 0.9) explains the *logits*, no log-softmax,
target = the class predicted on the clean image, with these exact calls, reproduced by:

* ``captum_integrated_gradients``: ``IntegratedGradients(model).attribute(x, target=t, baselines=zeros)``
  (captum's defaults: 50 steps, Gauss-Legendre).
* ``captum_deeplift``: ``DeepLift(model).attribute(x, target=t)`` (zero baseline).
* ``captum_guided_backprop``: ``GuidedBackprop(model).attribute(x, target=t)``.
* ``captum_guided_grad_cam``: ``GuidedGradCam(model, layer).attribute(x, target=t)`` with captum's default nearest
  upsampling and the authors' layer (:func:`authors_cam_layer`): the last ``nn.MaxPool2d`` of the simple CNN
  (``model.features[-1]``), ``layer4[1].conv2`` of ResNet-18/34, ``layer4[2].conv3`` of ResNet-50,
  ``conv_proj`` of ViT-B/16. This is what the paper's tables call "GradCAM".

:data:`PAPER_ROWS` maps each row of the paper's tables to the method that reproduces it. VanillaGrad and SmoothGrad
are on the log-softmax of the predicted class in the authors' code too, so they are our ``vanilla_grad`` and
``smooth_grad``.

Two captum details matter for SP networks. (1) captum's DeepLift picks its rules by exact type
(``type(m) in SUPPORTED_NON_LINEAR``), so SP, a subclass of ``nn.Softplus``, would silently get the plain gradient;
we register SP with the rule captum uses for ``nn.Softplus`` (both ``deeplift`` and ``captum_deeplift``), so an SP
network gives what the authors' ``nn.Softplus`` network gives. (2) captum's GuidedBackprop (and so GuidedGradCam)
hooks only ``nn.ReLU`` modules (by ``isinstance``; SP is not one, nor is the authors' ``nn.Softplus``). On an SP
network the paper's "GuidedBP" is therefore exactly the plain gradient of the logit, and its "GradCAM" row is that
gradient times the upsampled CAM. The paper's observation that SP removes the gap between Guided Backprop and the
gradient rests on this: the gap is zero by construction, not a property of the SP network. Our default
``guided_backprop`` keeps guiding through SP and does not have this artefact.
"""
from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Callable, Iterator, Literal

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_choice, check_nonnegative_finite, check_positive_int, check_tensor
from .activations import ACTIVATION_TYPES
from .smoothing import beta_smooth_grad, lowpass_grad  # issue 12; smoothing imports explain lazily

__all__ = [
    "vanilla_grad",
    "smooth_grad",
    "integrated_gradients",
    "grad_cam",
    "guided_backprop",
    "guided_grad_cam",
    "deeplift",
    "beta_smooth_grad",
    "lowpass_grad",
    "authors_cam_layer",
    "captum_guided_grad_cam",
    "captum_integrated_gradients",
    "captum_deeplift",
    "captum_guided_backprop",
    "PAPER_ROWS",
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
    if target is None:
        return predict(model, x)  # valid classes by construction: no output-size probe needed
    with torch.no_grad():
        n_classes = model(x[:1]).shape[1]
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


GUIDED_RULES = ("generalised", "captum")


@contextlib.contextmanager
def _guided_hooks(model: nn.Module, rule: str = "generalised") -> Iterator[None]:
    """Clamp at zero the input gradient of every activation module (``rule="generalised"``) or of every ``nn.ReLU``
    module only (``rule="captum"``, captum's GuidedBackprop; a model without one is left unguided)."""
    types = ACTIVATION_TYPES if rule == "generalised" else (nn.ReLU,)
    handles, inplace = [], []
    for m in model.modules():
        if isinstance(m, types):
            if getattr(m, "inplace", False):
                inplace.append(m)
                m.inplace = False
            handles.append(m.register_full_backward_hook(lambda _m, gin, _gout: (F.relu(gin[0]),)))
    if not handles and rule == "generalised":
        raise ValueError("guided_backprop found no activation module in the model (functional activations?)")
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        for m in inplace:
            m.inplace = True


def guided_backprop(model: nn.Module, x: torch.Tensor, target=None, *, rule: str = "generalised") -> torch.Tensor:
    """Guided Backprop of the target's log-softmax. (N, ...) -> (N, ...).

    ``rule="generalised"`` (default): guided through every activation module, smooth ones included (see the module
    docstring). ``rule="captum"``: only ``nn.ReLU`` modules are guided, as captum's GuidedBackprop does, so on a
    network without ReLU modules (SP, GaussianReLU) the result is the plain gradient, i.e. :func:`vanilla_grad`.
    """
    check_choice("rule", rule, GUIDED_RULES)
    _check_inputs(model, x)
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        with _guided_hooks(model, rule):
            return _log_softmax_grad(model, x, t)


def guided_grad_cam(
    model: nn.Module, x: torch.Tensor, target=None, *, layer: nn.Module | None = None, rule: str = "generalised"
) -> torch.Tensor:
    """Guided Grad-CAM of the target's log-softmax: :func:`guided_backprop` (with ``rule``) times :func:`grad_cam`
    at ``layer`` (default: the last ``nn.Conv2d``, bilinear upsampling). (N, C, H, W) -> (N, C, H, W).

    The structure of captum's GuidedGradCam, but not the paper's "GradCAM" row (logits, nearest upsampling, the
    authors' layer): that is :func:`captum_guided_grad_cam`."""
    check_choice("rule", rule, GUIDED_RULES)
    return guided_backprop(model, x, target, rule=rule) * grad_cam(model, x, target, layer=layer)


def _register_sp_with_captum():
    """Give SP captum's DeepLift rule for ``nn.Softplus``; returns captum's ``deep_lift`` module.

    captum picks its rules by exact type (``type(m) in SUPPORTED_NON_LINEAR``), so the nn.Softplus subclass SP would
    silently get the plain gradient: register it with the rescale rule that captum uses for nn.Softplus."""
    from captum.attr._core import deep_lift as _captum_deep_lift

    from .activations import SP

    _captum_deep_lift.SUPPORTED_NON_LINEAR.setdefault(SP, _captum_deep_lift.nonlinear)
    return _captum_deep_lift


def deeplift(model: nn.Module, x: torch.Tensor, target=None, *, baseline: float = 0.0) -> torch.Tensor:
    """DeepLIFT (rescale rule) through captum, zero baseline, on the target's log-softmax. (N, ...) -> (N, ...)."""
    from captum.attr import DeepLift

    _register_sp_with_captum()  # SP gets captum's nn.Softplus rule (see _register_sp_with_captum)
    _check_inputs(model, x)
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        wrapped = nn.Sequential(model, nn.LogSoftmax(dim=1)).eval()
        base = torch.full_like(x, float(baseline))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return DeepLift(wrapped).attribute(x.detach(), baselines=base, target=t).detach()


# --------------------------------------------------------------------------- the paper's protocol: captum on logits

# captum's notices about hooks it sets and removes, and about inputs it makes require grad: expected, not problems
_CAPTUM_NOTICES = (
    r"Input Tensor \d+ did not already require gradients",
    r"Setting backward hooks on ReLU activations",
    r"Setting forward, backward hooks and attributes on non-linear",
)


@contextlib.contextmanager
def _captum_notices_silenced() -> Iterator[None]:
    with warnings.catch_warnings():
        for pattern in _CAPTUM_NOTICES:
            warnings.filterwarnings("ignore", message=pattern, category=UserWarning)
        yield


def _torchvision_models():
    """torchvision's ``ResNet``, ``BasicBlock``, ``Bottleneck``, ``VisionTransformer``, or None when torchvision was
    never imported (then the model cannot be one of them)."""
    if "torchvision" not in sys.modules:
        return None
    from torchvision.models import ResNet, VisionTransformer
    from torchvision.models.resnet import BasicBlock, Bottleneck

    return ResNet, BasicBlock, Bottleneck, VisionTransformer


def authors_cam_layer(model: nn.Module) -> nn.Module:
    """The layer the authors' code gives captum's GuidedGradCam for ``model`` (their "GradCAM" row).

    * :class:`~spectral_lib.models.SimpleCNN`: the last ``nn.MaxPool2d`` of ``model.features`` (the authors'
      ``model.features[-1]``, after the last conv and activation).
    * torchvision ResNet-18 / ResNet-34 (BasicBlock, layers 2-2-2-2 / 3-4-6-3): ``model.layer4[1].conv2``. For
      ResNet-34 that is the second of layer4's three blocks, not the last conv; reproduced as the authors wrote it.
    * torchvision ResNet-50 (Bottleneck, 3-4-6-3): ``model.layer4[2].conv3``.
    * torchvision VisionTransformer (ViT-B/16): ``model.conv_proj`` (the patch embedding).

    Anything else (the SK/BN CNN, an avg-pool SimpleCNN, other ResNets) raises a ValueError: pass ``layer=``.
    """
    from .models import SimpleCNN

    if isinstance(model, SimpleCNN):
        pools = [m for m in model.features if isinstance(m, nn.MaxPool2d)]
        if not pools:
            raise ValueError("authors_cam_layer: this SimpleCNN has no nn.MaxPool2d in model.features (pool='avg'?), "
                             "the authors' GradCAM layer; pass layer= explicitly (e.g. layer=model.features[-1])")
        return pools[-1]
    tv = _torchvision_models()
    if tv is not None:
        resnet_cls, basic, bottleneck, vit_cls = tv
        if isinstance(model, resnet_cls):
            blocks = tuple(len(getattr(model, f"layer{i}")) for i in range(1, 5))
            block = type(model.layer4[0])
            if issubclass(block, basic) and blocks in ((2, 2, 2, 2), (3, 4, 6, 3)):
                return model.layer4[1].conv2
            if issubclass(block, bottleneck) and blocks == (3, 4, 6, 3):
                return model.layer4[2].conv3
            raise ValueError(f"authors_cam_layer: no authors' GradCAM layer for a ResNet with {block.__name__} "
                             f"blocks {blocks} (only ResNet-18/34/50); pass layer= explicitly")
        if isinstance(model, vit_cls):
            return model.conv_proj
    raise ValueError(f"authors_cam_layer: no authors' GradCAM layer known for {type(model).__name__} (only the simple "
                     "CNN, ResNet-18/34/50 and ViT-B/16); pass layer= explicitly")


def captum_guided_grad_cam(
    model: nn.Module,
    x: torch.Tensor,
    target=None,
    *,
    layer: nn.Module | None = None,
    interpolate_mode: str = "nearest",
) -> torch.Tensor:
    """The paper's "GradCAM" row: ``captum.attr.GuidedGradCam(model, layer).attribute(x, target=t)`` on the logits.

    captum's GuidedBackprop (only ``nn.ReLU`` modules guided; the plain logit gradient on an SP network) times
    captum's LayerGradCam at ``layer`` (ReLU'd, summed over channels) upsampled with ``interpolate_mode`` (captum's
    default ``"nearest"``, as the authors ran it). ``layer`` defaults to :func:`authors_cam_layer`.
    x: (N, C, H, W); returns (N, C, H, W).
    """
    from captum.attr import GuidedGradCam

    _check_inputs(model, x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W) for captum_guided_grad_cam, got {tuple(x.shape)}")
    layer = layer if layer is not None else authors_cam_layer(model)
    if not isinstance(layer, nn.Module):
        raise TypeError(f"layer must be an nn.Module of the model, got {type(layer).__name__}")
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        with _captum_notices_silenced():
            attr = GuidedGradCam(model, layer).attribute(x.detach(), target=t, interpolate_mode=interpolate_mode)
    if attr.shape != x.shape:  # captum warns and returns an empty tensor when the CAM cannot be upsampled
        raise ValueError(f"captum_guided_grad_cam: the CAM of layer {type(layer).__name__} could not be upsampled to "
                         f"the input (captum gave shape {tuple(attr.shape)}); the layer must output (N, C', h, w)")
    return attr.detach()


def captum_integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target=None,
    *,
    n_steps: int = 50,
    method: str = "gausslegendre",
    internal_batch_size: int | None = None,
) -> torch.Tensor:
    """The paper's "IntGrad" row: ``captum.attr.IntegratedGradients(model).attribute(x, target=t,
    baselines=zeros)`` on the logits, captum's defaults (``n_steps=50``, ``method="gausslegendre"``).

    ``internal_batch_size`` (captum's option) bounds memory without changing the result. (N, ...) -> (N, ...)."""
    from captum.attr import IntegratedGradients

    _check_inputs(model, x)
    n_steps = check_positive_int("n_steps", n_steps)
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        with _captum_notices_silenced():
            attr = IntegratedGradients(model).attribute(x.detach(), baselines=torch.zeros_like(x), target=t,
                                                        n_steps=n_steps, method=method,
                                                        internal_batch_size=internal_batch_size)
    return attr.detach()


def captum_deeplift(model: nn.Module, x: torch.Tensor, target=None) -> torch.Tensor:
    """The paper's "DeepLift" row: ``captum.attr.DeepLift(model).attribute(x, target=t)`` on the logits (zero
    baseline, rescale rule). SP is registered with captum's ``nn.Softplus`` rule first, so an SP network gives what
    the same network with plain ``nn.Softplus`` modules gives. (N, ...) -> (N, ...)."""
    from captum.attr import DeepLift

    _register_sp_with_captum()
    _check_inputs(model, x)
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        with _captum_notices_silenced():
            attr = DeepLift(model).attribute(x.detach(), target=t)
    return attr.detach()


def captum_guided_backprop(model: nn.Module, x: torch.Tensor, target=None) -> torch.Tensor:
    """The paper's "GuidedBP" row: ``captum.attr.GuidedBackprop(model).attribute(x, target=t)`` on the logits.

    captum guides only ``nn.ReLU`` modules: on an SP (or GaussianReLU) network this is exactly the plain gradient of
    the target logit. Equals ``guided_backprop(rule="captum")`` up to the log-softmax. (N, ...) -> (N, ...)."""
    from captum.attr import GuidedBackprop

    _check_inputs(model, x)
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        with _captum_notices_silenced():
            attr = GuidedBackprop(model).attribute(x.detach(), target=t)
    return attr.detach()


METHODS: dict[str, Callable[..., torch.Tensor]] = {
    "vanilla_grad": vanilla_grad,
    "smooth_grad": smooth_grad,
    "integrated_gradients": integrated_gradients,
    "grad_cam": grad_cam,
    "guided_grad_cam": guided_grad_cam,
    "guided_backprop": guided_backprop,
    "deeplift": deeplift,
    "captum_guided_grad_cam": captum_guided_grad_cam,
    "captum_integrated_gradients": captum_integrated_gradients,
    "captum_deeplift": captum_deeplift,
    "captum_guided_backprop": captum_guided_backprop,
    "beta_smooth_grad": beta_smooth_grad,
    "lowpass_grad": lowpass_grad,
}

# Each row of the paper's tables -> the method of METHODS that reproduces it (see the module docstring).
PAPER_ROWS: dict[str, str] = {
    "VanillaGrad": "vanilla_grad",
    "SmoothGrad": "smooth_grad",
    "IntGrad": "captum_integrated_gradients",
    "GuidedBP": "captum_guided_backprop",
    "DeepLift": "captum_deeplift",
    "GradCAM": "captum_guided_grad_cam",
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
