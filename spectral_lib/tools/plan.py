"""Which explanation methods can run on a model, decided before any work: a refusal (one line naming the model,
the method and why) or notes (what the method will and will not do on this architecture) per method.

Two stages. (1) The structure, from one forward pass (:func:`spectral_lib.tools.inspection.probe_model`, also on
the ``meta`` device): TorchScript models take no module hooks; Grad-CAM needs an ``nn.Conv2d`` with an (N, C, h, w)
output that runs, larger than 1x1; Guided Backprop needs activation *modules* (functions such as ``F.relu`` cannot be
hooked); DeepLIFT needs nonlinearities captum has a rule for (else it is gradient x input); BetaSmooth needs
``nn.ReLU`` only; the paper's GradCAM row needs the authors' layer. (2) A one-image trial of every hook-based method
(and of VanillaGrad, whose passes SmoothGrad, Integrated Gradients and the low-pass gradient repeat): an exception
there refuses the method with its first line. Reused and in-place activation modules are no reason to refuse:
the methods run on :func:`~spectral_lib.explain.model_copy.distinct_activations` copies.
"""
from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
from torch import nn

from ..explain import METHODS, authors_cam_layer
from ..explain.model_copy import DISTINCT_TYPES, EXTRA_ACTIVATION_TYPES
from ..explain.posthoc import _check_beta_smoothable
from ..nn.activations import ACTIVATION_TYPES
from .inspection import ELEMENTWISE_FUNCTIONS, SOFTMAX_FUNCTIONS, ModelProbe

__all__ = ["MethodPlan", "MethodRefused", "plan_methods", "refusal_line", "error_text", "error_line",
           "HOOK_METHODS", "TRIAL_METHODS"]

# methods that need module hooks (impossible on TorchScript)
HOOK_METHODS = frozenset({"grad_cam", "guided_grad_cam", "guided_backprop", "deeplift", "captum_guided_grad_cam",
                          "captum_deeplift", "captum_guided_backprop", "beta_smooth_grad"})
# methods tried on one image before the run; the others repeat VanillaGrad's passes (refused when it fails)
TRIAL_METHODS = HOOK_METHODS | {"vanilla_grad"}
_GRADIENT_PASSES = ("smooth_grad", "integrated_gradients", "lowpass_grad")
_GUIDED = ACTIVATION_TYPES + EXTRA_ACTIVATION_TYPES
_ACTIVATIONS = DISTINCT_TYPES + ACTIVATION_TYPES


@dataclass
class MethodPlan:
    """One method's verdict: ``refused`` (the reason) or None; ``notes``: what it will not do on this model (shown
    as warnings); ``info``: how it runs (e.g. Grad-CAM's layer); ``options``: the keyword arguments it will run
    with (e.g. that ``layer``)."""

    method: str
    refused: str | None = None
    notes: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


class MethodRefused(ValueError):
    """Methods refused before any work; ``lines`` holds one line per refusal (model, method, why)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = list(lines)


def refusal_line(model_name: str, method: str, reason: str) -> str:
    """``"<model>: <method>: refused: <reason>"``, one line."""
    return " ".join(f"{model_name}: {method}: refused: {reason}".split())


def _counts(c: Counter, k: int = 4) -> str:
    items = c.most_common()
    text = ", ".join(f"{name} x{n}" for name, n in items[:k])
    return text + (f" and {len(items) - k} more types" if len(items) > k else "")


def _functions(c: Counter, k: int = 3) -> str:
    items = c.most_common()
    text = ", ".join(f"{fn} in {owner} x{n}" for (fn, owner), n in items[:k])
    return text + (f" and {len(items) - k} more" if len(items) > k else "")


_TORCHSCRIPT_ERROR = "The following operation failed in the TorchScript interpreter"


def error_text(e: BaseException) -> str:
    """The informative line of an exception's message ('' when empty): its first line; for an error of TorchScript
    code, whose first line only says so, the error raised in the script (the message's last line, e.g.
    ``RuntimeError: input above 1.2``)."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    if not lines:
        return ""
    if lines[0].startswith(_TORCHSCRIPT_ERROR) and len(lines) > 1:
        last = lines[-1]
        return (last[len("builtins."):] if last.startswith("builtins.") else last) + " (in the TorchScript model)"
    return lines[0]


def error_line(e: BaseException) -> str:
    """``Type: message`` in one line (:func:`error_text`, at most 300 characters)."""
    text = error_text(e)[:300]
    if text and str(e).lstrip().startswith(_TORCHSCRIPT_ERROR):
        return text  # already names the script's error type
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _deeplift_rules() -> tuple[type, ...]:
    from ..explain.authors import _register_sp_with_captum

    return tuple(_register_sp_with_captum().SUPPORTED_NON_LINEAR)


def _structure(method: str, model: nn.Module, probe: ModelProbe, options: dict) -> MethodPlan:
    plan = MethodPlan(method, options=dict(options))
    if probe.scripted and method in HOOK_METHODS:
        plan.refused = ("a TorchScript model runs compiled code that module hooks cannot reach; give the Python "
                        "model (an nn.Module, e.g. --model NAME with a state_dict checkpoint)")
        return plan
    functional_acts = probe.functional_of(ELEMENTWISE_FUNCTIONS)
    if method in ("grad_cam", "guided_grad_cam"):
        if "layer" in options:
            if not probe.calls_by_module.get(id(options["layer"])):
                plan.refused = "the given layer does not run in the model's forward pass"
                return plan
        else:
            last = probe.last_conv()
            if last is None:
                plan.refused = "no nn.Conv2d with an (N, C, h, w) output runs in the forward pass (Grad-CAM's layer)"
                return plan
            layer, shape = last
            if method == "grad_cam" and shape[-2] * shape[-1] == 1:
                plan.refused = (f"the last conv layer ({probe.names.get(id(layer))}) has a 1x1 output at this "
                                "input size, so the Grad-CAM map would be constant; use larger images")
                return plan
            plan.options["layer"] = layer
            plan.info.append(f"Grad-CAM at {probe.names.get(id(layer))} ({shape[-2]}x{shape[-1]})")
    if method in ("guided_backprop", "guided_grad_cam"):
        if options.get("rule", "generalised") == "generalised":
            if not probe.calls_of(_GUIDED, model):
                found = f" (its activations are functions: {_functions(functional_acts)})" if functional_acts else ""
                plan.refused = f"no activation module runs in the forward pass{found}, so nothing can be guided"
                return plan
            if functional_acts:
                plan.notes.append(f"functional activations are not guided: {_functions(functional_acts)}")
        else:
            _captum_guided_notes(plan, model, probe, functional_acts)
    if method in ("captum_guided_backprop", "captum_guided_grad_cam"):
        _captum_guided_notes(plan, model, probe, functional_acts)
    if method == "captum_guided_grad_cam" and "layer" not in options:
        try:
            authors_cam_layer(model)
        except ValueError as e:
            plan.refused = str(e).replace("authors_cam_layer: ", "").replace("pass layer= explicitly",
                                                                             "use guided_grad_cam (the last conv)")
            return plan
    if method in ("deeplift", "captum_deeplift"):
        rules = _deeplift_rules()
        ruled = probe.calls_of(rules, model, exact=True)
        unruled = probe.calls_of(_ACTIVATIONS, model) - ruled
        softmax = probe.functional_of(SOFTMAX_FUNCTIONS)
        loose = functional_acts + softmax
        if not ruled:
            what = ", ".join(x for x in (_counts(unruled), _functions(loose)) if x) or "none found"
            plan.refused = (f"captum has a DeepLIFT rule for none of the nonlinearities that run ({what}), so the "
                            "result would be gradient x input, not DeepLIFT")
            return plan
        if unruled:
            plan.notes.append(f"no DeepLIFT rule in captum for {_counts(unruled)}: the plain gradient passes them")
        if loose:
            plan.notes.append(f"functions get the plain gradient, not DeepLIFT's rule: {_functions(loose)}")
    if method == "beta_smooth_grad":
        try:
            _check_beta_smoothable(model)
        except (ValueError, TypeError) as e:
            plan.refused = str(e)
            return plan
        relus = probe.functional_of(frozenset({"relu", "relu_"}))
        if relus:
            plan.notes.append(f"functional relus keep their hard derivative: {_functions(relus)}")
    return plan


def _captum_guided_notes(plan: MethodPlan, model: nn.Module, probe: ModelProbe, functional_acts: Counter) -> None:
    relus = probe.calls_of((nn.ReLU,), model)
    others = probe.calls_of(_GUIDED, model) - relus
    if not relus:
        plan.notes.append("captum's rule guides only nn.ReLU modules and none runs here"
                          + (f" ({_counts(others)})" if others else "") + ": this is the plain gradient")
    elif others:
        plan.notes.append(f"captum's rule guides nn.ReLU only; not guided: {_counts(others)}")
    if functional_acts:
        plan.notes.append(f"functional activations are not guided: {_functions(functional_acts)}")


def plan_methods(
    model: nn.Module,
    x1: torch.Tensor,
    methods: list[str],
    options: Mapping[str, Mapping[str, Any]],
    probe: ModelProbe,
    *,
    target: torch.Tensor | None = None,
    trial: bool = True,
) -> dict[str, MethodPlan]:
    """A :class:`MethodPlan` per method (in order): the structural rules above, then (``trial=True``) a trial of
    each remaining method of :data:`TRIAL_METHODS` on ``x1`` (1, C, H, W) (on the model's device, in its dtype) for
    class ``target`` (1,). ``options``: method -> keyword arguments (validated already)."""
    plans = {m: _structure(m, model, probe, dict(options.get(m, {}))) for m in methods}
    if not trial:
        return plans
    for m in methods:
        p = plans[m]
        if p.refused is None and m in TRIAL_METHODS:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    METHODS[m](model, x1, target=target, **p.options)
            except Exception as e:  # noqa: BLE001: any failure refuses the method, with its first line
                p.refused = f"failed on a one-image trial: {error_line(e)}"
    vg = plans.get("vanilla_grad")
    if vg is not None and vg.refused is not None:
        for m in _GRADIENT_PASSES:
            if m in plans and plans[m].refused is None:
                plans[m].refused = f"its gradient passes are VanillaGrad's, which was refused ({vg.refused})"
    return plans
