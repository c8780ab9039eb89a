"""Memory bound of :func:`spectral_lib.tools.analyze`: how many inputs one forward/backward pass may take.

The memory of a gradient pass grows with the number of inputs in it: the activations autograd saves for the
backward pass, plus the gradients flowing back. :func:`saved_bytes_per_input` measures the first exactly (the
bytes of the distinct tensors autograd saves during a forward pass with one input and with two, through
``torch.autograd.graph.saved_tensors_hooks``; the difference is per input, so weights saved by a layer are not
counted per input), and :func:`choose_chunk` divides the budget by it times :data:`PASS_OVERHEAD`. SmoothGrad's
noisy copies and Integrated Gradients' steps are then run ``chunk`` inputs at a time, and the other methods on
batches of at most ``chunk // 2`` images (DeepLIFT doubles its batch with the baselines).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["parse_memory", "available_memory", "saved_bytes_per_input", "choose_chunk", "ChunkPlan",
           "PASS_OVERHEAD", "format_bytes"]

# peak memory of a pass / bytes autograd saves for it (the gradients in flight, the forward's transients);
# calibrated on ResNet-50 and ViT-B/16 at 224 px (CPU, peak RSS): see README "Your own model"
PASS_OVERHEAD = 1.5
_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_memory(text: str | int | float) -> int:
    """``"4GiB"``, ``"512MB"``, ``"2g"``, ``1e9`` -> bytes (int > 0); ValueError naming the text otherwise."""
    if isinstance(text, bool):
        raise ValueError(f"memory must be a size such as '4GiB' or '512MB', got {text!r}")
    if isinstance(text, (int, float)):
        value, unit = float(text), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
        if not match or match.group(2).lower() not in _UNITS:
            raise ValueError(f"memory must be a size such as '4GiB', '512MB' or '2G', got {text!r}")
        value, unit = float(match.group(1)), match.group(2).lower()
    size = value * _UNITS[unit]
    if not math.isfinite(size) or size < 1:
        raise ValueError(f"memory must be a positive size, got {text!r}")
    return int(size)


def format_bytes(n: float) -> str:
    """``1536 -> '1.5 KiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def available_memory(device: torch.device) -> int:
    """Free memory of ``device`` in bytes: CUDA's free memory, else the system's available memory
    (``MemAvailable`` of /proc/meminfo; 8 GiB when unknown)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 * 2**30


def _saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd saves in one forward pass of ``model`` on ``x`` (grad enabled)."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        try:
            storage = t.untyped_storage()
            seen[(storage.data_ptr(), t.device)] = storage.nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. sparse): count their elements
            seen[(id(t), t.device)] = t.numel() * t.element_size()
        return t

    xr = x.detach().requires_grad_(True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(xr)
    del out
    return sum(seen.values())


def saved_bytes_per_input(model: nn.Module, x1: torch.Tensor) -> int:
    """Bytes autograd saves per input for a gradient pass of ``model`` (eval mode) on inputs like ``x1``
    (1, C, H, W): the saved bytes for two copies of ``x1`` minus those for one (at least 1)."""
    was_training = model.training
    model.eval()
    try:
        one = _saved_bytes(model, x1[:1])
        two = _saved_bytes(model, torch.cat([x1[:1], x1[:1]]))
    finally:
        model.train(was_training)
    return max(1, two - one)


@dataclass
class ChunkPlan:
    """``chunk``: inputs per gradient pass; ``batch``: images per step of the run; ``per_input``: bytes saved per
    input (measured); ``budget``: the bound in bytes; ``automatic``: the budget was chosen here."""

    chunk: int
    batch: int
    per_input: int
    budget: int
    automatic: bool

    def describe(self) -> str:
        """One line for the terminal."""
        how = "automatic: a quarter of the free memory" if self.automatic else "--max-memory"
        return (f"memory: {format_bytes(self.per_input)} saved per input for a gradient pass; budget "
                f"{format_bytes(self.budget)} ({how}): up to {self.chunk} inputs per pass, {self.batch} images "
                f"per batch")


def choose_chunk(model: nn.Module, x1: torch.Tensor, max_memory: int | str | None, batch_size: int) -> ChunkPlan:
    """The :class:`ChunkPlan` for ``model`` on inputs like ``x1`` (1, C, H, W) under ``max_memory`` bytes (None: a
    quarter of the free memory of the model's device, at least 256 MiB), with at most ``batch_size`` images per
    batch. ``chunk = budget // (PASS_OVERHEAD * per_input)`` (at least 1); ``batch = min(batch_size, chunk // 2)``
    (at least 1)."""
    automatic = max_memory is None
    budget = (max(available_memory(x1.device) // 4, 256 * 2**20) if automatic else parse_memory(max_memory))
    per_input = saved_bytes_per_input(model, x1)
    chunk = max(1, int(budget // (PASS_OVERHEAD * per_input)))
    return ChunkPlan(chunk=chunk, batch=max(1, min(batch_size, chunk // 2)), per_input=per_input, budget=budget,
                     automatic=automatic)
