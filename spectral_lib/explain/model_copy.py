"""A copy of a model in which every activation module runs once per forward pass, out of place: what hook-based
attribution methods (DeepLIFT, Guided Backprop, ours and captum's) need, for any architecture.

torchvision's ResNets call one in-place ``nn.ReLU`` module several times per block; captum's DeepLift keeps its
state on the module and fails on the second call ("A Module ReLU(inplace=True) was detected that does not contain
some of the input/output attributes ..."); a full backward hook returns a view that an in-place ``+=`` after the
module may not modify (EfficientNetV2's ``result += input``). :func:`distinct_activations` returns a copy of the
model whose reused activation modules (the elementwise activations, softmax and max-pooling: :data:`DISTINCT_TYPES`)
are replaced by one out-of-place copy per call, found by running the model once on one input: the model a careful
user would have written, with one module per use. Parameters and buffers are *shared* with the original (no weights
are copied, the outputs are bit for bit the original's) and the user's model is not modified (no flag, hook or
submodule of it changes). With ``fresh_outputs=True`` every activation module that runs is wrapped and returns a
clone of its output, so that the model's own in-place arithmetic (``result += input``) never modifies the view a full
backward hook returns (our Guided Backprop). captum's DeepLift and GuidedBackprop use the default: on a model
without reused modules the copy is then the model itself, module for module, and captum's results are unchanged
(captum chains the gradients of adjacent hooked modules through tensor identity: a clone between an activation and
the max-pooling after it would change its DeepLift result).

May import :mod:`spectral_lib.nn` (and the root infrastructure).
"""
from __future__ import annotations

import copy
import itertools

import torch
from torch import nn

from ..nn.activations import ACTIVATION_TYPES

__all__ = ["distinct_activations", "counterpart", "DISTINCT_TYPES", "EXTRA_ACTIVATION_TYPES"]

# Elementwise activation modules of torch beyond spectral_lib's ACTIVATION_TYPES (MobileNet's ReLU6 / Hardswish /
# Hardsigmoid, ...): the generalised Guided Backprop guides them too.
EXTRA_ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU6, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.SELU, nn.CELU, nn.PReLU, nn.RReLU, nn.Softsign,
    nn.LogSigmoid)
# Modules made distinct per call: every activation, softmax and max-pooling (captum's DeepLift keeps state on them).
DISTINCT_TYPES: tuple[type[nn.Module], ...] = (ACTIVATION_TYPES + EXTRA_ACTIVATION_TYPES
                                               + (nn.Softmax, nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d))


class _PerCall(nn.Module):
    """Stands in for one activation module of the original: the k-th call of a forward pass runs ``calls[k]`` (a
    distinct, out-of-place copy); with ``fresh=True`` it returns a clone of its output (never a hook's view)."""

    def __init__(self, copies: list[nn.Module], fresh: bool) -> None:
        super().__init__()
        self.calls = nn.ModuleList(copies)
        self.count = 0
        self.fresh = fresh

    def forward(self, *args, **kwargs):
        if self.count >= len(self.calls):
            raise RuntimeError(
                f"{type(self.calls[0]).__name__} was called {self.count + 1} times in one forward pass, but "
                f"{len(self.calls)} times when spectral_lib copied the model (its control flow depends on the input?)")
        module = self.calls[self.count]
        self.count += 1
        out = module(*args, **kwargs)
        return out.clone() if self.fresh and isinstance(out, torch.Tensor) else out


def _reset_counts(copy_root: nn.Module, _args) -> None:
    for m in copy_root.modules():
        if isinstance(m, _PerCall):
            m.count = 0


def _call_counts(model: nn.Module, x: torch.Tensor) -> dict[int, int]:
    """Calls per module (by id) of every :data:`DISTINCT_TYPES` module in one no-grad forward pass on ``x[:1]``."""
    counts: dict[int, int] = {}

    def count(m: nn.Module, _args) -> None:
        counts[id(m)] = counts.get(id(m), 0) + 1

    handles = [m.register_forward_pre_hook(count) for m in model.modules() if isinstance(m, DISTINCT_TYPES)]
    try:
        with torch.no_grad():
            model(x[:1].detach())
    finally:
        for h in handles:
            h.remove()
    return counts


def distinct_activations(model: nn.Module, x: torch.Tensor, *, fresh_outputs: bool = False) -> nn.Module:
    """A copy of ``model`` whose activation modules are distinct per call and out of place (see the module doc).

    Args:
        model: any ``nn.Module`` classifier (not TorchScript: its compiled code calls submodules directly).
        x: an input batch (N, ...) of the model; ``x[:1]`` is run once (no grad) to count the calls of each
            activation module, so the copy matches the forward pass on inputs of this shape.
        fresh_outputs: also wrap the activation modules called once, and return a clone of every activation's
            output (see the module doc).
    Returns:
        The copy, in the model's training/eval state, sharing its parameters and buffers. Each activation module
        called ``k >= 2`` times (or ``k >= 1`` with ``fresh_outputs``) is replaced by ``k`` out-of-place copies used
        in call order; the others are left as they are. ``counterpart(copy, m)`` maps a module ``m`` of the
        original to the copy's. The original model is not changed.
    Raises:
        TypeError: a TorchScript model, or not an nn.Module.
    """
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError("a TorchScript model cannot be copied module by module (its compiled code calls its "
                        "submodules directly); use the Python model (nn.Module) for hook-based methods")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    memo: dict[int, object] = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    twin = copy.deepcopy(model, memo)  # modules copied, tensors shared
    originals = {id(c): o for o, c in zip(model.modules(), twin.modules())}  # same traversal order, same structure
    counterparts = {id(o): c for o, c in zip(model.modules(), twin.modules())}
    counts = _call_counts(twin, x)
    replaced: dict[int, nn.Module] = {}
    for parent in list(twin.modules()):
        for name, child in list(parent._modules.items()):
            if child is None or not isinstance(child, DISTINCT_TYPES) or isinstance(parent, _PerCall):
                continue
            k = counts.get(id(child), 0)
            if k < (1 if fresh_outputs else 2):
                continue
            if id(child) not in replaced:
                copies = []
                for _ in range(k):
                    share = {id(t): t for t in itertools.chain(child.parameters(), child.buffers())}
                    c = copy.deepcopy(child, share)
                    if getattr(c, "inplace", False):
                        c.inplace = False
                    copies.append(c)
                replaced[id(child)] = _PerCall(copies, fresh_outputs)
                counterparts[id(originals[id(child)])] = replaced[id(child)]
            parent._modules[name] = replaced[id(child)]
    if replaced:
        twin.register_forward_pre_hook(_reset_counts)
    twin._spectral_counterparts = counterparts  # plain attribute (a dict, not a module)
    return twin


def counterpart(twin: nn.Module, module: nn.Module) -> nn.Module:
    """The module of ``twin`` (a :func:`distinct_activations` copy) that stands for ``module`` of the original
    model; a replaced activation maps to its per-call stand-in. KeyError when ``module`` is not in the original."""
    table = getattr(twin, "_spectral_counterparts", None)
    if table is None:
        raise TypeError("counterpart() needs a model returned by distinct_activations()")
    if id(module) not in table:
        raise KeyError(f"{type(module).__name__} is not a module of the model that was copied")
    return table[id(module)]
