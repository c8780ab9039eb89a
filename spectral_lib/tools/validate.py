"""Argument checks of :func:`spectral_lib.tools.analyze`: methods, images, normalisation, targets, method options,
the model's output, device and dtype. Each raises a ``ValueError`` naming the problem, before any work."""
from __future__ import annotations

import inspect
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..explain import METHODS

__all__ = ["REFERENCE_METHOD", "DEFAULT_METHODS", "check_methods", "check_n_images", "check_images",
           "check_options", "check_target", "check_class_scores", "model_device", "model_dtype"]

REFERENCE_METHOD = "vanilla_grad"
DEFAULT_METHODS: tuple[str, ...] = ("vanilla_grad", "smooth_grad", "integrated_gradients", "guided_backprop",
                                    "grad_cam")


def check_methods(methods: Sequence[str] | str) -> list[str]:
    """The methods to run, ``vanilla_grad`` (the gap's reference) first, duplicates dropped; ValueError listing the
    valid names for an unknown one."""
    if isinstance(methods, str):
        methods = [methods]
    methods = list(methods)
    if not methods:
        raise ValueError(f"methods must name at least one method; valid methods: {', '.join(METHODS)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(map(repr, unknown))}; valid methods: {', '.join(METHODS)}")
    return list(dict.fromkeys([REFERENCE_METHOD, *methods]))


def check_n_images(n_images: Any, n_available: int) -> int:
    """``n_images`` (None: all) as a count <= ``n_available``; ValueError unless a positive integer."""
    if n_images is None:
        return n_available
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)):
        raise ValueError(f"n_images must be a positive integer or None, got {n_images!r}")
    if n_images <= 0:
        raise ValueError(f"n_images must be a positive integer, got {n_images}")
    return min(int(n_images), n_available)


def _channel_stats(name: str, values: Sequence[float] | None, channels: int) -> torch.Tensor | None:
    if values is None:
        return None
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() not in (1, channels):
        raise ValueError(f"{name} must have one value per channel ({channels}) or a single value, got {v.numel()}")
    if not bool(torch.isfinite(v).all()) or (name == "std" and bool((v <= 0).any())):
        raise ValueError(f"{name} must be finite{' and positive' if name == 'std' else ''}, got {v.tolist()}")
    return v.view(1, -1, 1, 1)


def check_images(images: Any, mean, std) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """``images`` (N, C, H, W) float and finite; ``mean``/``std`` (both or neither, 1 or C values) as (1, C, 1, 1)
    float64 tensors; with them, images must lie in [0, 1]. Returns (images, mean, std)."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor of shape (N, C, H, W), got {type(images).__name__}")
    if images.ndim != 4 or images.numel() == 0:
        raise ValueError(f"images must have shape (N, C, H, W) with N, C, H, W >= 1, got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a floating-point tensor, got dtype {images.dtype} (scale uint8 by 1/255)")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images contain NaN or infinite values")
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (to normalise images in [0, 1]) or neither (already normalised)")
    m = _channel_stats("mean", mean, images.shape[1])
    s = _channel_stats("std", std, images.shape[1])
    if m is not None and (float(images.min()) < -1e-6 or float(images.max()) > 1 + 1e-6):
        raise ValueError(f"with mean/std, images must be in [0, 1] (they are normalised here), got values in "
                         f"[{float(images.min()):.3g}, {float(images.max()):.3g}]")
    return images, m, s


def check_options(method_options: Mapping[str, Mapping[str, Any]] | None, methods: list[str]) -> dict:
    """``method_options`` (method -> keyword arguments) checked against the methods run and their signatures;
    returns a fresh dict with one (possibly empty) dict per method."""
    opts = dict(method_options or {})
    for name, o in opts.items():
        if name not in methods:
            raise ValueError(f"method_options names {name!r}, which is not among the methods run: {methods}")
        if not isinstance(o, Mapping):
            raise ValueError(f"method_options[{name!r}] must be a dict of keyword arguments, got {type(o).__name__}")
        params = inspect.signature(METHODS[name]).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            valid = [k for k in list(params)[2:] if k != "target"]
            bad = [k for k in o if k not in valid]
            if bad:
                raise ValueError(f"method_options[{name!r}]: unknown option(s) {bad}; {name} takes {valid}")
    return {m: dict(opts.get(m, {})) for m in methods}


def check_target(target, n: int, n_total: int, n_classes: int) -> torch.Tensor | None:
    """``target`` (None, an int, or one class per image of the ``n_total`` given) as (n,) int64 classes in
    [0, n_classes), or None."""
    if target is None:
        return None
    t = torch.as_tensor(target)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise ValueError(f"target must be integer class indices, got dtype {t.dtype}")
    t = t.long().flatten() if t.ndim else t.long().expand(n)
    if len(t) not in (n, n_total):
        raise ValueError(f"target must be an int or have one entry per image ({n_total}), got {len(t)} entries")
    t = t[:n]
    if bool((t < 0).any()) or bool((t >= n_classes).any()):
        raise ValueError(f"target must be in [0, {n_classes}), got values in [{int(t.min())}, {int(t.max())}]")
    return t


def check_class_scores(model: nn.Module, x: torch.Tensor) -> int:
    """Run ``model`` (eval mode, no grad) on ``x`` (1, C, H, W); return K if it outputs (1, K) scores with K >= 2,
    else raise a ValueError saying what came out."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:  # noqa: BLE001: any failure here means the model cannot take these images
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"the model cannot run on images of shape {tuple(x.shape)} (dtype {x.dtype}): "
                         f"{first}") from e
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"the model must output class scores, a tensor of shape (N, K) with K >= 2; it returned a "
                         f"{type(out).__name__}")
    if out.ndim != 2 or out.shape[1] < 2:
        raise ValueError(f"the model must output class scores of shape (N, K) with K >= 2; got shape "
                         f"{tuple(out.shape)} for an input of shape {tuple(x.shape)}")
    return int(out.shape[1])


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); CPU for a model without either."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def model_dtype(model: nn.Module) -> torch.dtype:
    """The dtype of the model's first floating-point parameter (or buffer): the dtype its inputs are given in;
    float32 for a model without one."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return torch.float32
