"""Smooth parameterisations of ReLU and tools to swap them into any torch model.

* ``SP(beta)``: SoftPlus, ``(1/beta) * log(1 + exp(beta * x))``. ``beta -> inf`` recovers ReLU; lower beta is smoother.
  It subclasses ``torch.nn.Softplus`` so that libraries that special-case SoftPlus (captum's DeepLift) recognise it.
* ``GaussianReLU(sigma)``: the exact convolution of ReLU with a Gaussian ``N(0, sigma^2)``,
  ``x * Phi(x / sigma) + sigma * phi(x / sigma)``. The paper treats SP(beta) as an approximation of it.

beta <-> sigma correspondence used here: the derivative of SP(beta) is the sigmoid ``sigma(beta x)``, the CDF of a
logistic distribution with scale ``1/beta`` and variance ``pi^2 / (3 beta^2)``; the derivative of GaussianReLU(sigma) is
``Phi(x / sigma)``, the CDF of ``N(0, sigma^2)``. Both activations are therefore ReLU convolved with a zero-mean
probability density (logistic resp. Gaussian); we match the two densities' variances: ``sigma = pi / (sqrt(3) * beta)``.
This matching is this project's own choice (the paper names no correspondence).
(Matching the slope at 0 instead would give ``sigma = 4 / (sqrt(2 pi) beta)``, 12% smaller.)

Centring (``centered=True``, specs ``"spc:<beta>"`` / ``"gaussianc:<sigma>"``): subtract the value at 0
(``log(2)/beta``, resp. ``sigma/sqrt(2 pi)``) so that the activation maps 0 to 0. The derivative, and so every
gradient-based explanation's functional form and the spectral argument, is unchanged; only a constant per layer goes.
It matters for training: with bias-free convolutions a small beta adds a large constant (6.9 at beta=0.1) at every
layer, and on mnist5k our simple CNN with plain SP(0.3) stays at 10-33% test accuracy after 8 epochs of Adam
(lr 1e-4 to 1e-3), while the centred SP(0.3) and SP(0.1) pass 93% in 5 epochs.
"""
from __future__ import annotations

import math
from typing import Callable, Union

import torch
from torch import nn

from ..checks import check_positive_finite
from .softplus_cpu import softplus

__all__ = [
    "SP",
    "GaussianReLU",
    "beta_to_sigma",
    "sigma_to_beta",
    "make_activation",
    "swap_activations",
    "activation_name",
    "activation_beta",
    "activation_family",
    "gaussian_spec",
    "ACTIVATION_TYPES",
]


def beta_to_sigma(beta: float) -> float:
    """Gaussian width sigma whose smoothing of ReLU matches SP(beta) (equal variances, this project's matching; the
    paper names none): ``pi / (sqrt(3) beta)``."""
    return math.pi / (math.sqrt(3.0) * check_positive_finite("beta", beta))


def sigma_to_beta(sigma: float) -> float:
    """Inverse of :func:`beta_to_sigma`."""
    return math.pi / (math.sqrt(3.0) * check_positive_finite("sigma", sigma))


class SP(nn.Softplus):
    """SoftPlus with parameter ``beta`` (SP(beta) in the paper): ``(1/beta) log(1 + exp(beta x))``, elementwise.

    Numerically stable for any finite beta and x. On CPU float tensors it is computed by
    :func:`spectral_lib.nn.softplus_cpu.softplus` (torch's values and gradients within float rounding, about 3x
    faster there); elsewhere by torch's kernel (for ``beta * x > threshold`` it returns x, error below
    ``exp(-threshold) / beta``). ``beta`` must be positive and finite: ReLU, the ``beta -> inf`` limit, is ``nn.ReLU``.
    Shapes: any; output has the input's shape.
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0, centered: bool = False) -> None:
        beta = check_positive_finite("beta", beta)
        super().__init__(beta=beta, threshold=threshold)
        self.centered = bool(centered)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = softplus(x, self.beta, self.threshold)  # torch's softplus, with a vectorised log1p on the CPU
        return y - math.log(2.0) / self.beta if self.centered else y

    def extra_repr(self) -> str:
        return f"beta={self.beta:g}" + (", centered" if self.centered else "")


class GaussianReLU(nn.Module):
    """ReLU convolved with a Gaussian N(0, sigma^2): ``x Phi(x/sigma) + sigma phi(x/sigma)``, elementwise.

    Its derivative is ``Phi(x / sigma)``. ``sigma -> 0`` recovers ReLU. Shapes: any.
    """

    def __init__(self, sigma: float = 1.0, centered: bool = False) -> None:
        super().__init__()
        self.sigma = check_positive_finite("sigma", sigma)
        self.centered = bool(centered)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x / self.sigma
        pdf = torch.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        y = x * torch.special.ndtr(z) + self.sigma * pdf
        return y - self.sigma / math.sqrt(2.0 * math.pi) if self.centered else y

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}" + (", centered" if self.centered else "")


ACTIVATION_TYPES = (nn.ReLU, nn.GELU, nn.Softplus, GaussianReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.SiLU)

_SIMPLE = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "silu": nn.SiLU,
}


def _parse_param(spec: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"activation spec {spec!r}: expected a number after ':', got {text!r}") from None


def make_activation(spec: Union[str, float, Callable[[], nn.Module]]) -> nn.Module:
    """Return a fresh activation module from a spec.

    Accepted specs: ``"relu"``, ``"gelu"``, ``"sigmoid"``, ``"tanh"``, ``"elu"``, ``"silu"``, ``"leaky_relu"`` or
    ``"leaky_relu:0.1"`` (negative slope), ``"sp:0.5"`` / ``"softplus:0.5"`` (SP with beta=0.5),
    ``"gaussian:0.3"`` (GaussianReLU with sigma=0.3), ``"spc:0.5"`` / ``"gaussianc:0.3"`` (their centred versions,
    see the module docstring), a positive float (SP with that beta), or a zero-argument callable
    returning a module. Raises ``ValueError`` naming the spec for anything else.
    """
    if callable(spec) and not isinstance(spec, str):
        module = spec()
        if not isinstance(module, nn.Module):
            raise TypeError(f"activation factory must return an nn.Module, got {type(module).__name__}")
        return module
    if isinstance(spec, bool):
        raise TypeError(f"activation spec must be a string, a positive float (SP beta) or a callable, got {spec!r}")
    if isinstance(spec, (int, float)):
        return SP(spec)
    if not isinstance(spec, str):
        raise TypeError(f"activation spec must be a string, a positive float or a callable, got {type(spec).__name__}")
    name, _, arg = spec.strip().lower().partition(":")
    if name in _SIMPLE and not arg:
        return _SIMPLE[name]()
    try:  # a bad parameter value ("sp:-1", "gaussian:inf", "leaky_relu:nan") is reported with the spec named
        if name in ("sp", "softplus", "spc") and arg:
            return SP(_parse_param(spec, arg), centered=name == "spc")
        if name in ("gaussian", "gaussian_relu", "gaussianc") and arg:
            return GaussianReLU(_parse_param(spec, arg), centered=name == "gaussianc")
        if name in ("leaky_relu", "leakyrelu"):
            slope = _parse_param(spec, arg) if arg else 0.01
            if not math.isfinite(slope):
                raise ValueError(f"negative slope must be finite, got {slope!r}")
            return nn.LeakyReLU(slope)
    except ValueError as e:
        msg = str(e)
        raise ValueError(msg if repr(spec) in msg else f"activation spec {spec!r}: {msg}") from None
    raise ValueError(
        f"unknown activation spec {spec!r}; expected one of 'relu', 'gelu', 'sigmoid', 'tanh', 'elu', 'silu', "
        "'leaky_relu[:slope]', 'sp:<beta>' / 'softplus:<beta>', 'spc:<beta>', 'gaussian:<sigma>', 'gaussianc:<sigma>'"
    )


def activation_name(spec: Union[str, float]) -> str:
    """Canonical, human-readable name of an activation spec: ``"ReLU"``, ``"SP(0.5)"``, ``"Gauss(0.3)"``, ...

    Centred variants (not the paper's) get their own names, ``"SPc(0.5)"`` and ``"Gaussc(0.3)"``, so that tables
    grouped by name never average a centred network into the paper's SP column."""
    m = make_activation(spec)
    if isinstance(m, nn.Softplus):
        return f"SP{'c' if getattr(m, 'centered', False) else ''}({m.beta:g})"
    if isinstance(m, GaussianReLU):
        return f"Gauss{'c' if getattr(m, 'centered', False) else ''}({m.sigma:g})"
    return type(m).__name__


def swap_activations(
    model: nn.Module,
    factory: Union[str, float, Callable[[], nn.Module]],
    *,
    include_gelu: bool = False,
    types: tuple[type, ...] | None = None,
) -> int:
    """Replace, in place, every ``nn.ReLU`` (and ``nn.GELU`` if ``include_gelu``) module of ``model``.

    Each attribute gets a *fresh* module from ``factory`` (a spec accepted by :func:`make_activation`). A module that
    the model's ``forward`` calls twice stays called twice (torchvision's ``BasicBlock.relu``): captum's DeepLift
    rejects such reuse; the paper's own CNNs in :mod:`spectral_lib.nn.models` use one instance per call. ``types`` overrides which module
    types are replaced. Works on any model, torchvision's ResNets and ViT included (ViT's MLP uses ``nn.GELU``
    modules; its attention has no activation module). Returns the number of modules replaced.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    make_activation(factory)  # validate the spec before touching the model
    targets = types if types is not None else ((nn.ReLU, nn.GELU) if include_gelu else (nn.ReLU,))
    count = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, targets):
                setattr(parent, child_name, make_activation(factory))
                count += 1
    return count


def activation_beta(spec: Union[str, float]) -> float:
    """The SP beta of an activation spec; ``inf`` for ReLU (its limit); ``nan`` for anything else."""
    m = make_activation(spec)
    if isinstance(m, nn.Softplus):
        return float(m.beta)
    return math.inf if isinstance(m, nn.ReLU) else math.nan


def activation_family(spec: Union[str, float]) -> str:
    """``"ReLU"``, ``"SP"`` (SoftPlus, centred or not), ``"Gaussian"`` (Gaussian-smoothed ReLU) or ``"other"``
    (GELU, SiLU, ELU, Tanh, Sigmoid, ...) for an activation spec."""
    m = make_activation(spec)
    if isinstance(m, nn.ReLU):
        return "ReLU"
    if isinstance(m, nn.Softplus):
        return "SP"
    if isinstance(m, GaussianReLU):
        return "Gaussian"
    return "other"


def gaussian_spec(beta: float) -> str:
    """Activation spec of the exact Gaussian smoothing of ReLU matched to SP(``beta``) by equal variances of the two
    smoothing densities (:func:`beta_to_sigma`, this project's matching): ``"gaussian:<sigma>"``, sigma to 6
    significant digits."""
    return f"gaussian:{beta_to_sigma(beta):.6g}"
