"""The method registry: :data:`METHODS` (name -> method, one signature for all), :func:`explain` (dispatch by name)
and method specs with one numeric parameter (``"beta_smooth_grad:5"``, ``"lowpass_grad:0.25"``,
``"smooth_grad:0.2"``: :func:`parse_method_spec`), with their display names (:func:`method_family`,
:func:`method_label`)."""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from ..checks import check_choice
from .authors import captum_deeplift, captum_guided_backprop, captum_guided_grad_cam, captum_integrated_gradients
from .methods import (deeplift, grad_cam, guided_backprop, guided_grad_cam, integrated_gradients, smooth_grad,
                      vanilla_grad)
from .posthoc import beta_smooth_grad, lowpass_grad

__all__ = ["METHODS", "explain", "METHOD_PARAMETERS", "parse_method_spec", "method_family", "method_label"]

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


def explain(method: str, model: nn.Module, x: torch.Tensor, target=None, **options) -> torch.Tensor:
    """Dispatch to a method of :data:`METHODS` by name; ``options`` go to the method. Returns (N, ...)."""
    check_choice("method", method, METHODS)
    return METHODS[method](model, x, target=target, **options)


# method -> the name of its one numeric option, for specs like "beta_smooth_grad:5" or "lowpass_grad:0.25"
METHOD_PARAMETERS = {"beta_smooth_grad": "beta", "lowpass_grad": "cutoff", "smooth_grad": "noise_std"}


def parse_method_spec(spec: str) -> tuple[str, dict[str, float]]:
    """``"name"`` or ``"name:value"`` -> (method name, options). The value sets the method's one parameter of
    :data:`METHOD_PARAMETERS` (``beta_smooth_grad:5`` is beta 5, ``lowpass_grad:0.25`` a cut-off of 0.25
    cycles/pixel, ``smooth_grad:0.2`` noise std 0.2), so that several settings of one method can share a grid.
    Raises ValueError naming the spec for an unknown method, a method without a parameter or a bad number."""
    if not isinstance(spec, str):
        raise TypeError(f"method spec must be a string, got {type(spec).__name__}")
    name, sep, arg = spec.partition(":")
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r} in spec {spec!r}; expected one of {list(METHODS)}")
    if not sep:
        return name, {}
    if name not in METHOD_PARAMETERS:
        raise ValueError(f"method spec {spec!r}: {name} takes no ':value' (methods with one: {list(METHOD_PARAMETERS)})")
    try:
        value = float(arg)
    except ValueError:
        raise ValueError(f"method spec {spec!r}: expected a number after ':', got {arg!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"method spec {spec!r}: {METHOD_PARAMETERS[name]} must be finite and >= 0, got {value}")
    return name, {METHOD_PARAMETERS[name]: value}



_FAMILIES = {"vanilla_grad": "VanillaGrad", "smooth_grad": "SmoothGrad", "beta_smooth_grad": "BetaSmooth",
             "lowpass_grad": "low-pass"}


def method_family(method: str) -> str:
    """Display family of a method spec: ``"VanillaGrad"``, ``"SmoothGrad"``, ``"BetaSmooth"`` (explain-time SP),
    ``"low-pass"`` (FORGrad), else the method's name."""
    name, _ = parse_method_spec(method)
    return _FAMILIES.get(name, name)


def method_label(method: str) -> str:
    """Short display label of a method spec: ``"BetaSmooth(β=5)"``, ``"low-pass(f≤0.25)"``, ``"SmoothGrad"``..."""
    name, options = parse_method_spec(method)
    family = _FAMILIES.get(name, name)
    if name == "beta_smooth_grad" and options:
        return f"{family}(β={options['beta']:g})"
    if name == "lowpass_grad" and options:
        return f"{family}(f≤{options['cutoff']:g})"
    if name == "smooth_grad" and options:
        return f"{family}(σ={options['noise_std']:g})"
    return family

