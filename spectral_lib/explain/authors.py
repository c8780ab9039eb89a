"""The paper's protocol: the authors' captum calls, exactly as their code runs them (captum 0.9, on the *logits*,
target = the class predicted on the clean image), and :data:`PAPER_ROWS`, which maps each row of the paper's tables
to the method that reproduces it. See :mod:`spectral_lib.explain` for what each row really is."""
from __future__ import annotations

import contextlib
import sys
import warnings
from typing import Iterator

import torch
from torch import nn

from ..checks import check_positive_int
from .core import _check_inputs, _eval_mode, _resolve_target
from .model_copy import counterpart, distinct_activations


def _register_sp_with_captum():
    """Give SP captum's DeepLift rule for ``nn.Softplus``; returns captum's ``deep_lift`` module.

    captum picks its rules by exact type (``type(m) in SUPPORTED_NON_LINEAR``), so the nn.Softplus subclass SP would
    silently get the plain gradient: register it with the rescale rule that captum uses for nn.Softplus."""
    from captum.attr._core import deep_lift as _captum_deep_lift

    from ..nn.activations import SP

    _captum_deep_lift.SUPPORTED_NON_LINEAR.setdefault(SP, _captum_deep_lift.nonlinear)
    return _captum_deep_lift


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

    * :class:`~spectral_lib.nn.models.SimpleCNN`: the last ``nn.MaxPool2d`` of ``model.features`` (the authors'
      ``model.features[-1]``, after the last conv and activation).
    * torchvision ResNet-18 / ResNet-34 (BasicBlock, layers 2-2-2-2 / 3-4-6-3): ``model.layer4[1].conv2``. For
      ResNet-34 that is the second of layer4's three blocks, not the last conv; reproduced as the authors wrote it.
    * torchvision ResNet-50 (Bottleneck, 3-4-6-3): ``model.layer4[2].conv3``.
    * torchvision VisionTransformer (ViT-B/16): ``model.conv_proj`` (the patch embedding).

    Anything else (the SK/BN CNN, an avg-pool SimpleCNN, other ResNets) raises a ValueError: pass ``layer=``.
    """
    from ..nn.models import SimpleCNN

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
            net = distinct_activations(model, x)  # reused activations split per call: the model untouched
            attr = GuidedGradCam(net, counterpart(net, layer)).attribute(x.detach(), target=t,
                                                                         interpolate_mode=interpolate_mode)
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
    the same network with plain ``nn.Softplus`` modules gives. Runs on a copy whose activation modules are distinct
    per call and out of place (:func:`~spectral_lib.explain.model_copy.distinct_activations`: torchvision's ResNets
    reuse one in-place ReLU per block, which captum's DeepLift cannot take). (N, ...) -> (N, ...)."""
    from captum.attr import DeepLift

    _register_sp_with_captum()
    _check_inputs(model, x)
    with _eval_mode(model):
        t = _resolve_target(model, x, target)
        with _captum_notices_silenced():
            attr = DeepLift(distinct_activations(model, x)).attribute(x.detach(), target=t)
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
            attr = GuidedBackprop(distinct_activations(model, x)).attribute(x.detach(), target=t)
    return attr.detach()


# Each row of the paper's tables -> the method of METHODS that reproduces it (see the module docstring).
PAPER_ROWS: dict[str, str] = {
    "VanillaGrad": "vanilla_grad",
    "SmoothGrad": "smooth_grad",
    "IntGrad": "captum_integrated_gradients",
    "GuidedBP": "captum_guided_backprop",
    "DeepLift": "captum_deeplift",
    "GradCAM": "captum_guided_grad_cam",
}
