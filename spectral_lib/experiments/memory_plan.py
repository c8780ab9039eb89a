"""Memory plan for a GPU run: how much memory a training step and an explanation pass take at the paper's shapes,
the largest training batch and explanation pass that fit a GPU, and the check that refuses a configuration whose
batch would not fit the GPU found (before hours of work, not in an out-of-memory error after them).

Two ways to the same numbers:

* :func:`measure` (on the CPU, in this process): the peak resident memory of one training step (forward, backward,
  Adam step with its state) and of one explanation pass, above the memory before it (the peak is reset through
  ``/proc/self/clear_refs`` and freed memory returned with ``malloc_trim`` before each), at two batch sizes, fitted
  as ``fixed + per_input * n``. For these tensors (weights, activations autograd keeps, gradients, optimiser state)
  the CPU's bytes are the GPU's bytes; a GPU adds its CUDA context and allocator slack (:data:`GPU_RESERVE`,
  :data:`GPU_SLACK`).
* :func:`estimate` (no memory, milliseconds, any configuration): the network built on the ``meta`` device, the bytes
  of the distinct tensors autograd saves per input counted through ``saved_tensors_hooks``, and the parameter bytes;
  scaled by :data:`TRAIN_FACTOR` / :data:`PASS_FACTOR`, calibrated against :func:`measure` on the paper's models
  (book/scaling.md has both).

:func:`check_fits` applies :func:`estimate` to grid points for a device of ``total`` bytes
(:func:`gpu_total_bytes`: ``torch.cuda.get_device_properties(0).total_memory``) and raises a ConfigError naming the
chapter, ``batch_size`` and the largest batch that fits. :func:`probe` runs one training step and the paper's
methods on a model no chapter uses yet (the smoke mode's last step).
"""
from __future__ import annotations

import ctypes
import gc
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from ..checks import ConfigError
from ..nn.models import build_model

__all__ = ["Estimate", "estimate", "measure", "fit", "largest", "check_fits", "gpu_total_bytes", "probe",
           "pass_inputs", "check_gpu", "TRAIN_FACTOR", "PASS_FACTOR", "GPU_RESERVE", "GPU_SLACK", "GB"]

GB = 10**9
# measured peak per input / the bytes autograd saves per input (meta device), on the paper's models at 224 px
# (book/scaling.md): training 0.71 (ViT-B/16) to 1.22 (ResNet-50); an explanation pass 0.86 (ViT-B/16) to 1.98 (the
# one-block CNN, whose backward holds gradients as large as its one big activation). Rounded up with a margin: the
# check errs on the side of refusing.
TRAIN_FACTOR = 1.5
PASS_FACTOR = 2.5
GPU_RESERVE = 2 * 2**30  # CUDA context, cuDNN workspaces, the evaluation's other tensors
GPU_SLACK = 0.9  # share of the rest the caching allocator can hand out without fragmentation trouble


# ------------------------------------------------------------------------------------------------- estimating
def _saved_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the distinct tensors autograd saves during ``model(x)`` (x requires grad)."""
    seen: dict[int, int] = {}
    keep = []

    def pack(t: torch.Tensor):
        keep.append(t)  # keeps ids unique while counting
        seen[id(t)] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(seen.values())


@dataclass(frozen=True)
class Estimate:
    """Bytes of one network: ``params`` (its parameters), ``train_per_input`` / ``pass_per_input`` (what autograd
    saves per input in a training step / an explanation pass, eval mode), from :func:`estimate`."""

    params: int
    train_per_input: int
    pass_per_input: int

    def train(self, batch: int) -> float:
        """Peak bytes of a training step at ``batch``: weights, gradients and Adam's two moments (4 x params), plus
        the larger of the activations (times TRAIN_FACTOR) and the optimiser step's temporaries (2 x params)."""
        return 4 * self.params + max(TRAIN_FACTOR * batch * self.train_per_input, 2 * self.params)

    def explain(self, inputs: int) -> float:
        """Peak bytes of an explanation pass on ``inputs`` inputs: weights plus the activations, times
        PASS_FACTOR."""
        return PASS_FACTOR * (self.params + inputs * self.pass_per_input)


_ESTIMATES: dict[tuple, Estimate] = {}


def estimate(model: str, activation: str, in_shape: tuple[int, int, int], num_classes: int,
             **options: Any) -> Estimate:
    """:class:`Estimate` of a network, built on the ``meta`` device (no memory; cached per configuration)."""
    key = (model, activation, tuple(in_shape), num_classes, repr(sorted(options.items())))
    if key not in _ESTIMATES:
        with torch.device("meta"):
            torch.manual_seed(0)
            net = build_model(model, activation, tuple(in_shape), num_classes, **options)
        params = sum(p.numel() * p.element_size() for p in net.parameters())
        per = {}
        for mode in ("train", "eval"):
            net.train(mode == "train")
            one, two = (_saved_bytes(net, torch.empty(n, *in_shape, device="meta", requires_grad=True))
                        for n in (1, 2))
            per[mode] = max(1, two - one)
        _ESTIMATES[key] = Estimate(params, per["train"], per["eval"])
    return _ESTIMATES[key]


def pass_inputs(method: str, n_images: int, input_numel: int, n_samples: int = 64, ig_steps: int = 32) -> int:
    """Inputs in the largest forward/backward pass :func:`spectral_lib.experiments.run_point` makes for ``method``
    on ``n_images`` images of ``input_numel`` values each, as the code does it: images in chunks of
    ``_PASS_ELEMENTS // input_numel`` (:mod:`spectral_lib.experiments.points`; 27 images at 3x224x224) once they
    exceed one chunk, else all at once; SmoothGrad and our Integrated Gradients as whole copies of the batch up to
    4096 inputs (their own default chunk); captum's Integrated Gradients on all its 50 steps at once below one chunk;
    captum's DeepLift on twice its images (inputs and baselines)."""
    from . import points

    per = max(1, getattr(points, "_PASS_ELEMENTS", 1 << 62) // max(1, input_numel))
    name = method.split(":")[0]
    if name in ("smooth_grad", "integrated_gradients"):
        if n_images > per:
            return per
        k = n_samples if name == "smooth_grad" else ig_steps
        return n_images * min(k, max(1, 4096 // n_images))
    n = min(n_images, per)
    if name == "captum_integrated_gradients":
        return per if n_images > per else 50 * n_images
    return 2 * n if name == "captum_deeplift" else n


# -------------------------------------------------------------------------------------------------- measuring
def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"{field} not in /proc/self/status")


def _fresh() -> int:
    """Free what can be freed, reset the peak (VmHWM) to the current resident size; return that size."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    Path("/proc/self/clear_refs").write_text("5")
    return _kib("VmRSS")


def peak_above(fn: Callable[[], Any]) -> int:
    """Peak resident bytes while ``fn()`` runs, above the resident bytes before it (Linux)."""
    base = _fresh()
    fn()
    return max(0, _kib("VmHWM") - base)


def _train_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer | None = None) -> None:
    """One Adam step as :func:`spectral_lib.training.train` takes it (a new optimiser unless ``opt`` is given)."""
    net.train()
    opt = opt or torch.optim.Adam(net.parameters(), lr=1e-4)
    opt.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def measure(model: str, in_shape: tuple[int, int, int], num_classes: int, batches: Iterable[int] = (1, 4),
            ops: Iterable[str] = ("train", "vanilla_grad"), activation: str = "relu", **options: Any
            ) -> dict[str, dict[int, int]]:
    """Peak bytes above the start (:func:`peak_above`) of each op at each batch: ``"train"`` (one Adam step on
    ``batch`` images) or a method of :data:`spectral_lib.explain.METHODS` on ``batch`` images (with its pass size;
    SmoothGrad with 2 samples, Integrated Gradients with 2 steps). Random inputs on the CPU."""
    from ..explain import explain

    torch.manual_seed(0)
    net = build_model(model, activation, tuple(in_shape), num_classes, **options)
    out: dict[str, dict[int, int]] = {}
    for op in ops:
        out[op] = {}
        for b in batches:
            x = torch.randn(b, *in_shape)
            y = torch.arange(b) % num_classes
            if op == "train":  # a first step allocates Adam's state; the second is measured (activations, grads)
                opt = torch.optim.Adam(net.parameters(), lr=1e-4)
                _train_step(net, x, y, opt)
                out[op][b] = peak_above(lambda: _train_step(net, x, y, opt))
                del opt
            else:
                net.eval()
                opts = {"smooth_grad": {"n_samples": 2}, "integrated_gradients": {"n_steps": 2},
                        "captum_integrated_gradients": {"n_steps": 2}}.get(op, {})
                out[op][b] = peak_above(lambda: explain(op, net, x, target=y, **opts))
    return out


def fit(peaks: dict[int, int]) -> tuple[float, float]:
    """``(fixed, per_input)`` bytes of ``peak = fixed + per_input * n`` through the smallest and largest n."""
    lo, hi = min(peaks), max(peaks)
    per = (peaks[hi] - peaks[lo]) / (hi - lo) if hi > lo else float(peaks[lo])
    return peaks[lo] - per * lo, per


def largest(total: float, fixed: float, per_input: float) -> int:
    """The largest n with ``fixed + per_input * n`` within a GPU of ``total`` bytes (after :data:`GPU_RESERVE`, times
    :data:`GPU_SLACK`); 0 if not even one fits."""
    room = (total - GPU_RESERVE) * GPU_SLACK - fixed
    return max(0, math.floor(room / per_input)) if per_input > 0 else 0


# ---------------------------------------------------------------------------------------------------- checking
def gpu_total_bytes() -> int | None:
    """Total memory of CUDA device 0 (``torch.cuda.get_device_properties(0).total_memory``); None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return int(torch.cuda.get_device_properties(0).total_memory)


def _shape(config) -> tuple[tuple[int, int, int], int]:
    from ..data import dataset_info

    info = dataset_info(config.dataset, config.image_size)
    return info.in_shape, info.num_classes


def check_fits(points: Iterable[tuple[Any, Any]], total: int, where: str = "", device_name: str = "the GPU"
               ) -> list[dict]:
    """Refuse grid points (``(TrainConfig, EvalSpec)``) whose training batch would not fit ``total`` bytes: a
    ConfigError naming ``where`` (the chapter), ``batch_size``, the network, the estimate and the largest batch
    that fits. Returns, per distinct network, the estimates: ``train_gb`` at its batch, ``max_batch``, and the
    largest explanation pass (``pass_gb``, ``pass_method``, ``max_pass``) for reporting; an explanation pass that
    does not fit raises the same way, naming ``n_images``."""
    rows, seen = [], set()
    prefix = f"{where}: " if where else ""
    for config, spec in points:
        shape, k = _shape(config)
        ident = (config.model, config.activation, shape, repr(sorted(config.model_options.items())),
                 config.batch_size, spec.n_images, tuple(spec.methods), spec.n_samples, spec.ig_steps)
        if ident in seen:
            continue
        seen.add(ident)
        est = estimate(config.model, config.activation, shape, k, **config.model_options)
        net = f"{config.model} {config.model_options or ''} {config.activation} at {shape[1]}x{shape[2]}".replace(
            "  ", " ")
        max_batch = largest(total, 4 * est.params, TRAIN_FACTOR * est.train_per_input)
        if est.train(1) > (total - GPU_RESERVE) * GPU_SLACK:
            max_batch = 0
        if config.batch_size > max_batch:
            raise ConfigError(
                f"{prefix}parameter 'batch_size' = {config.batch_size} does not fit {device_name}: a training step "
                f"of {net} needs about {est.train(config.batch_size) / GB:.1f} GB of {total / GB:.1f} GB (less "
                f"{GPU_RESERVE / 2**30:.0f} GiB for CUDA and {1 - GPU_SLACK:.0%} allocator slack); the largest "
                f"batch that fits is {max_batch} (book/scaling.md, memory plan)")
        methods = list(dict.fromkeys(["vanilla_grad", *spec.methods]))
        numel = shape[0] * shape[1] * shape[2]
        sizes = {m: pass_inputs(m, spec.n_images, numel, spec.n_samples, spec.ig_steps) for m in methods}
        worst = max(methods, key=lambda m: sizes[m])
        max_pass = largest(total, PASS_FACTOR * est.params, PASS_FACTOR * est.pass_per_input)
        if sizes[worst] > max_pass:
            raise ConfigError(
                f"{prefix}parameter 'n_images' = {spec.n_images} does not fit {device_name}: {worst} runs "
                f"{sizes[worst]} inputs per pass on {net}, about {est.explain(sizes[worst]) / GB:.1f} GB of "
                f"{total / GB:.1f} GB; at most {max_pass} inputs fit (book/scaling.md, memory plan)")
        rows.append({"network": net, "batch_size": config.batch_size, "train_gb": est.train(config.batch_size) / GB,
                     "max_batch": max_batch, "pass_method": worst, "pass_inputs": sizes[worst],
                     "pass_gb": est.explain(sizes[worst]) / GB, "max_pass": max_pass})
    return rows


def check_gpu(points: Iterable[tuple[Any, Any]], where: str = "", total: int | None = None) -> list[dict]:
    """:func:`check_fits` for the points that will run on CUDA (``device`` "cuda", or "auto" where CUDA is
    available), against ``total`` bytes (default: :func:`gpu_total_bytes`, the GPU found here); [] when there is no
    GPU or no such point. Raises ConfigError naming ``where`` and the parameter."""
    from ..training import resolve_device

    total = total if total is not None else gpu_total_bytes()
    if not total:
        return []
    on_gpu = [(c, s) for c, s in points if c.device == "cuda" or resolve_device(c.device).type == "cuda"]
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "the GPU"
    return check_fits(on_gpu, total, where, f"{name} ({total / GB:.1f} GB)") if on_gpu else []


# ------------------------------------------------------------------------------------------------------ probe
def probe(model: str, dataset: str, options: dict | None = None, batch: int = 2,
          methods: Iterable[str] | None = None) -> dict:
    """One training step at ``batch`` and each paper method (:data:`spectral_lib.explain.PAPER_ROWS`, SmoothGrad
    with 2 samples, IG with 2 steps) on one image of ``dataset``'s stand-in (:mod:`spectral_lib.data.standins`):
    the peak bytes above the start of each, and the network's shape. Raises whatever the code raises."""
    from ..data.standins import load_standin
    from ..explain import PAPER_ROWS, explain, predict

    options = options or {}
    splits = load_standin(dataset, n_train=batch, n_test=1)
    x, y = splits.train.batch(slice(0, batch))
    torch.manual_seed(0)
    net = build_model(model, "relu", splits.info.in_shape, splits.info.num_classes, **options)
    peaks = {f"train (batch {batch})": peak_above(lambda: _train_step(net, x, y))}
    net.eval()
    x1 = splits.test.batch(slice(0, 1))[0]
    target = predict(net, x1)
    opts = {"smooth_grad": {"n_samples": 2}, "captum_integrated_gradients": {"n_steps": 2}}
    for m in methods or PAPER_ROWS.values():
        peaks[m] = peak_above(lambda: explain(m, net, x1, target=target, **opts.get(m, {})))
    return {"model": model, "options": options, "in_shape": list(splits.info.in_shape),
            "classes": splits.info.num_classes, "peaks": peaks}
