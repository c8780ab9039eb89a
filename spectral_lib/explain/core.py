"""What every attribution method shares: eval mode for the call, input and target checks, the predicted class, and
the exact per-sample gradient of the target's log-softmax. Private to the :mod:`spectral_lib.explain` subpackage (and the training penalty)."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..checks import check_positive_int, check_tensor


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
    """Predicted class per input, (N,) int64, computed in eval mode in batches of ``batch_size``."""
    _check_inputs(model, x)
    check_positive_int("batch_size", batch_size)
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


@contextlib.contextmanager
def hooked(modules, register) -> Iterator[None]:
    """While active, ``register(m)`` (returning a hook handle) is applied to each module of ``modules``; in-place
    modules run out of place meanwhile (hooks need their input). Handles removed and flags restored on exit."""
    handles, inplace = [], []
    try:
        for m in modules:
            if getattr(m, "inplace", False):
                inplace.append(m)
                m.inplace = False
            handles.append(register(m))
        yield
    finally:
        for h in handles:
            h.remove()
        for m in inplace:
            m.inplace = True
