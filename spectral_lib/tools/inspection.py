"""What one forward pass of a model shows about it, for deciding up front which explanation methods can run on it.

:func:`probe_model` runs the model once on one input (no grad; the ``meta`` device works too, so the check costs
no computation) with a hook on every module and a ``TorchFunctionMode`` that sees every torch function call. It
records which modules run and how often, the activations applied as *functions* outside any activation module
(``F.relu`` in torchvision's ``BasicConv2d``: module hooks cannot reach those), the ``nn.Conv2d`` layers that run
with their output shapes (Grad-CAM's layer is the last of them), and the output's shape.
"""
from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..explain.model_copy import DISTINCT_TYPES
from ..nn.activations import ACTIVATION_TYPES

__all__ = ["ModelProbe", "probe_model", "ELEMENTWISE_FUNCTIONS", "SOFTMAX_FUNCTIONS"]

# functional activations (torch.relu, F.relu, Tensor.relu, ... all report these names)
ELEMENTWISE_FUNCTIONS = frozenset({
    "relu", "relu_", "relu6", "hardtanh", "hardtanh_", "hardswish", "hardswish_", "hardsigmoid", "hardsigmoid_",
    "gelu", "silu", "silu_", "mish", "sigmoid", "sigmoid_", "tanh", "tanh_", "softplus", "elu", "elu_",
    "leaky_relu", "leaky_relu_", "selu", "selu_", "celu", "celu_", "prelu", "rrelu", "logsigmoid", "softsign"})
# softmax applied as a function, or inside attention functions (their inner calls are not seen separately)
SOFTMAX_FUNCTIONS = frozenset({"softmax", "_softmax", "log_softmax", "scaled_dot_product_attention",
                               "multi_head_attention_forward"})
_ACTIVATION_MODULES = DISTINCT_TYPES + ACTIVATION_TYPES + (nn.Softmax2d, nn.LogSoftmax, nn.Threshold, nn.GLU)


@dataclass
class ModelProbe:
    """Facts of one forward pass.

    model_type: the model's class name. scripted: a TorchScript model (nothing below is known then).
    module_calls: Counter of module type name -> calls, over every module that ran (containers included).
    calls_by_module: id(module) -> calls. names: id(module) -> qualified name in the model.
    on_input_path: ids of the modules that ran on a tensor depending on the input (not, e.g., Swin-v2's
        position-bias MLP, which runs on a constant table).
    functional: Counter of (function name, name of the innermost module calling it) for activation and softmax
        functions called on the input path outside any activation module.
    convs: the ``nn.Conv2d`` modules that ran, in order, with their output shapes.
    output_shape: the output's shape, or None when it is not a tensor.
    """

    model_type: str
    scripted: bool = False
    module_calls: Counter = field(default_factory=Counter)
    calls_by_module: dict[int, int] = field(default_factory=dict)
    on_input_path: set = field(default_factory=set)
    names: dict[int, str] = field(default_factory=dict)
    functional: Counter = field(default_factory=Counter)
    convs: list[tuple[nn.Module, tuple[int, ...]]] = field(default_factory=list)
    output_shape: tuple[int, ...] | None = None

    def calls_of(self, types: tuple[type, ...], model: nn.Module, exact: bool = False) -> Counter:
        """Counter of type name -> calls of the modules of ``model`` of these ``types`` (``isinstance``, or
        ``type(m) in types`` with ``exact``) that ran on the input path."""
        out: Counter = Counter()
        for m in model.modules():
            hit = type(m) in types if exact else isinstance(m, types)
            if hit and self.calls_by_module.get(id(m)) and id(m) in self.on_input_path:
                out[type(m).__name__] += self.calls_by_module[id(m)]
        return out

    def functional_of(self, names: frozenset) -> Counter:
        """The :attr:`functional` calls whose function name is in ``names``."""
        return Counter({k: v for k, v in self.functional.items() if k[0] in names})

    def last_conv(self) -> tuple[nn.Module, tuple[int, ...]] | None:
        """The last ``nn.Conv2d`` that ran with an (N, C, h, w) output, with that shape; None if there is none."""
        for m, shape in reversed(self.convs):
            if len(shape) == 4:
                return m, shape
        return None


class _Functions(TorchFunctionMode):
    def __init__(self, stack: list[nn.Module], found: Counter) -> None:
        super().__init__()
        self.stack, self.found = stack, found

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if (name in ELEMENTWISE_FUNCTIONS or name in SOFTMAX_FUNCTIONS) and any(
                isinstance(a, torch.Tensor) and a.requires_grad for a in args):  # on the input path only
            owner = self.stack[-1] if self.stack else None
            if not isinstance(owner, _ACTIVATION_MODULES):
                self.found[(name, type(owner).__name__ if owner is not None else "<model>")] += 1
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _tracking(model: nn.Module, probe: ModelProbe) -> Iterator[None]:
    """Global module hooks restricted to ``model``'s modules: a call stack, call counts, the convs' outputs."""
    own = {id(m) for m in model.modules()}
    stack: list[nn.Module] = []

    def pre(m: nn.Module, args) -> None:
        if id(m) in own:
            stack.append(m)
            if any(isinstance(a, torch.Tensor) and a.requires_grad for a in args):
                probe.on_input_path.add(id(m))
            probe.calls_by_module[id(m)] = probe.calls_by_module.get(id(m), 0) + 1
            probe.module_calls[type(m).__name__] += 1

    def post(m: nn.Module, _args, out) -> None:
        if id(m) in own:
            if stack and stack[-1] is m:
                stack.pop()
            if isinstance(m, nn.Conv2d) and isinstance(out, torch.Tensor):
                probe.convs.append((m, tuple(out.shape)))

    handles = [nn.modules.module.register_module_forward_pre_hook(pre),
               nn.modules.module.register_module_forward_hook(post)]
    try:
        with _Functions(stack, probe.functional):
            yield
    finally:
        for h in handles:
            h.remove()


def probe_model(model: nn.Module, x: torch.Tensor) -> ModelProbe:
    """Run ``model`` once on ``x[:1]`` (eval mode, restored after) and record a :class:`ModelProbe`.

    ``x`` is (N, C, H, W) (or any input) on the model's device and in its dtype; a zero-size batch (0, C, H, W)
    works, and so does the ``meta`` device (shapes only). Only the input requires grad meanwhile (the parameters'
    flags are restored after), so that a module's input depends on the input exactly when it requires grad.
    Exceptions of the forward pass propagate (the caller turns them into a refusal)."""
    probe = ModelProbe(model_type=type(model).__name__, scripted=isinstance(model, torch.jit.ScriptModule))
    probe.names = {id(m): name or "<model>" for name, m in model.named_modules()}
    was_training = model.training
    params = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    try:
        if probe.scripted:
            with torch.no_grad():
                out = model(x[:1])
        else:
            for p in params:
                p.requires_grad_(False)
            leaf = x[:1].detach().requires_grad_(x.is_floating_point())
            with torch.enable_grad(), _tracking(model, probe):
                out = model(leaf * 1 if leaf.requires_grad else leaf)  # not the leaf: in-place ops allowed
    finally:
        for p in params:
            p.requires_grad_(True)
        model.train(was_training)
    probe.output_shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
    return probe
