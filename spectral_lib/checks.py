"""Input validation shared by the whole package: fail early, name the parameter, say what was expected.

The ``check_*`` functions validate one argument of a public function and return it (converted where that is
harmless); :class:`ConfigError` and :class:`ParameterError` are what a bad profile, notebook parameter or sweep
setting raises, before any work. Imports nothing from the package (the bottom of the house)."""
from __future__ import annotations

import math
from typing import Any, Iterable

import torch

__all__ = ["ConfigError", "ParameterError", "check_positive_finite", "check_nonnegative_finite", "check_positive_int",
           "check_choice", "check_tensor"]


class ConfigError(ValueError):
    """A profile, a notebook's parameters or a sweep setting is invalid; raised before any work, naming it."""


class ParameterError(ConfigError):
    """A notebook or profile parameter is invalid; the message names it, its value and what was expected."""


def check_positive_finite(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a real number in (0, inf); raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not (
        isinstance(value, torch.Tensor) and value.numel() == 1
    ):
        raise TypeError(f"{name} must be a positive finite number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{name} must be positive and finite, got {v!r}")
    return v


def check_nonnegative_finite(name: str, value: Any) -> float:
    """Return ``value`` as a float if it is a real number in [0, inf); raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a non-negative finite number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be non-negative and finite, got {v!r}")
    return v


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``; raise otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``; raise a ValueError listing them otherwise."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_tensor(
    name: str,
    x: Any,
    ndim: int | tuple[int, ...] | None = None,
    *,
    finite: bool = True,
    min_size: int = 1,
    floating: bool = True,
) -> torch.Tensor:
    """Check that ``x`` is a non-empty tensor of the given rank(s), floating point and finite.

    ``ndim`` is an int or a tuple of accepted ranks; every dimension must have at least ``min_size`` entries.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None:
        accepted = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.ndim not in accepted:
            want = " or ".join(str(a) for a in accepted)
            raise ValueError(f"{name} must have {want} dimensions, got shape {tuple(x.shape)}")
    if x.numel() == 0 or any(s < min_size for s in x.shape):
        raise ValueError(f"{name} must be non-empty with every dimension >= {min_size}, got shape {tuple(x.shape)}")
    if floating and not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return x
