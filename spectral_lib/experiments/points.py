"""The paper's experiments as cached, configuration-keyed grid points that notebooks (and the sweep runner) share.

A *grid point* is one trained network (a :class:`~spectral_lib.training.TrainConfig`) evaluated with an
:class:`EvalSpec`: explanation maps of ``n_images`` fixed test images by each method, their EF (both definitions, with
ties averaged as the paper does and broken at random), their fraction of tied pixels, the explanation gap of each
method against VanillaGrad (as |Delta EF| and in the gradient form), mean radial spectra, a few example maps, and
optionally the two sides of Theorem 1. Results are small (no full map stacks) and cached under ``cache_dir/evals``; the networks
under ``cache_dir/models``. Re-running a notebook therefore costs a few file reads.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import torch

from .. import cache
from ..checks import check_positive_int
from ..data import take
from ..explain import METHODS, explain, parse_method_spec, predict
from ..nn.activations import activation_beta, activation_name
from ..nn.layout import fast_execution
from ..paths import default_cache_dir
from ..spectral import expected_frequency, explanation_gap, gradient_gap, radial_profile, tie_fraction, to_map
from ..training import TrainConfig, load_for, train_or_load

__all__ = ["EvalSpec", "run_point", "run_grid", "run_points", "points_from_params", "point_key", "point_path",
           "missing_points", "lr_for", "point_inputs", "EVALS", "RECORD_METRICS", "TRAIN_PARAMS", "EVAL_PARAMS"]

@dataclass(frozen=True)
class EvalSpec:
    """How a trained network is explained and measured."""

    n_images: int = 200
    methods: tuple[str, ...] = ("vanilla_grad", "smooth_grad")
    noise_std: float = 0.1  # SmoothGrad noise std (on normalised inputs)
    n_samples: int = 64  # SmoothGrad samples
    ig_steps: int = 32  # Integrated Gradients steps
    n_examples: int = 4  # example maps kept for figures
    theorem1: bool = False  # also compute Theorem 1's two tails
    seed: int = 0  # SmoothGrad noise seed
    theorem1_points: int = 512  # points per random line of Theorem 1's line spectra (left out of the key at 512)

    def validate(self) -> "EvalSpec":
        check_positive_int("n_images", self.n_images)
        if not self.methods:
            raise ValueError(f"methods must be a non-empty list of method specs from {list(METHODS)}, got []")
        for m in self.methods:
            parse_method_spec(m)
        check_positive_int("n_samples", self.n_samples)
        check_positive_int("ig_steps", self.ig_steps)
        check_positive_int("n_examples", self.n_examples)
        check_positive_int("theorem1_points", self.theorem1_points, minimum=8)
        if not (isinstance(self.noise_std, (int, float)) and math.isfinite(self.noise_std) and self.noise_std >= 0):
            raise ValueError(f"noise_std must be a non-negative finite number, got {self.noise_std!r}")
        return self


def _method_options(method: str, spec: EvalSpec, x: torch.Tensor) -> dict[str, Any]:
    if method == "smooth_grad":
        g = torch.Generator(device=x.device).manual_seed(spec.seed)
        return {"noise_std": spec.noise_std, "n_samples": spec.n_samples, "generator": g}
    if method == "integrated_gradients":
        return {"n_steps": spec.ig_steps}
    return {}


_PASS_ELEMENTS = 1 << 22  # input values per forward/backward pass of a method (4.2M: 27 images at 3x224x224)


def _explain_in_chunks(name: str, model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor,
                       options: dict[str, Any]) -> torch.Tensor:
    """``explain(name, model, x, target, **options)`` with peak memory bounded at large inputs: at most
    :data:`_PASS_ELEMENTS` input values per pass. Inputs that fit (every 28x28 and 32x32 grid of the book) run in
    one call as before; larger ones run image chunk by image chunk (per-sample attributions do not interact), with
    SmoothGrad's and Integrated Gradients' own chunking bounded too. SmoothGrad is never split by images: its noise
    is drawn for the whole batch, so the result is the one-call result. (N, C, H, W) -> (N, C, H, W)."""
    if name in _FAST_METHODS and x.ndim == 4:
        with fast_execution(model, x.device):
            return _explain_chunks(name, model, x, target, options)
    return _explain_chunks(name, model, x, target, options)


# Our own gradient methods, run the faster way (spectral_lib.nn.layout): max-pooling before a monotone activation (the
# same function and gradient) and, on the CPU, the channels-last layout, in which only the summation order inside
# convolutions changes, so a pixel whose gradient goes through a max-pool window with two near-equal inputs may take
# the other branch (largest change seen: 0.15% of the map's largest value). Captum's hooked methods keep the standard
# order and layout (their hooks sit on the activation modules).
_FAST_METHODS = ("vanilla_grad", "smooth_grad")


def _explain_chunks(name: str, model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor,
                    options: dict[str, Any]) -> torch.Tensor:
    per = max(1, _PASS_ELEMENTS // max(1, x[0].numel()))
    if len(x) <= per:
        return explain(name, model, x, target=target, **options)
    if name == "smooth_grad":
        return explain(name, model, x, target=target, **{"chunk_size": per, **options})
    extra = {"integrated_gradients": {"chunk_size": per},
             "captum_integrated_gradients": {"internal_batch_size": per}}.get(name, {})
    return torch.cat([explain(name, model, x[i : i + per], target=target[i : i + per], **{**extra, **options})
                      for i in range(0, len(x), per)])


def _evaluate(model: torch.nn.Module, x: torch.Tensor, spec: EvalSpec,
              keep: dict[str, Any] | None = None) -> dict[str, Any]:
    """The measurements of one network on images ``x`` (N, C, H, W) by every method of ``spec`` (see
    :func:`run_point`). ``keep``: a dict that receives ``model``, ``x``, ``target`` and ``attributions`` (method ->
    (N, C, H, W) tensor), so that a caller measuring more (e.g. the Quantus faithfulness suite) reuses them instead
    of explaining again; not cached."""
    target = predict(model, x, batch_size=max(1, min(1024, _PASS_ELEMENTS // max(1, x[0].numel()))))
    out: dict[str, Any] = {k: {} for k in RECORD_METRICS}
    out.update(profile={}, examples={})
    maps, sums, attrs = {}, {}, {}
    methods = list(dict.fromkeys(["vanilla_grad", *spec.methods]))  # VanillaGrad is always the reference
    for m in methods:
        name, options = parse_method_spec(m)
        attr = _explain_in_chunks(name, model, x, target, {**_method_options(name, spec, x), **options})
        maps[m] = to_map(attr)
        sums[m] = attr.detach().sum(1) if attr.ndim == 4 else attr.detach()
        if keep is not None:
            attrs[m] = attr.detach()
        out["ef"][m] = expected_frequency(maps[m]).cpu()
        out["ef_nyquist"][m] = expected_frequency(maps[m], "nyquist").cpu()
        # ties: exactly tied pixels get one average rank (a plateau); a random tie-break with a fixed seed instead
        broken = to_map(sums[m], ties="random", generator=torch.Generator().manual_seed(spec.seed))
        out["tie_fraction"][m] = tie_fraction(sums[m]).cpu()
        out["ef_tiebreak"][m] = expected_frequency(broken).cpu()
        out["ef_nyquist_tiebreak"][m] = expected_frequency(broken, "nyquist").cpu()
        out["profile"][m] = radial_profile(maps[m].double()).mean(0).cpu()
        out["examples"][m] = maps[m][: spec.n_examples].cpu()
    for m in methods:
        out["gap_ef"][m] = explanation_gap(maps["vanilla_grad"], maps[m], kind="ef").cpu()
        out["gap_ef_nyquist"][m] = (out["ef_nyquist"][m] - out["ef_nyquist"]["vanilla_grad"]).abs()
        out["gap_l2"][m] = explanation_gap(maps["vanilla_grad"], maps[m], kind="radial_spectrum_l2").cpu()
        out["gap_grad_l2"][m] = gradient_gap(sums["vanilla_grad"], sums[m]).cpu()
        out["gap_grad_rank_l2"][m] = gradient_gap(sums["vanilla_grad"], sums[m], on="rank").cpu()
    out["images"] = x[: spec.n_examples].cpu()
    out["targets"] = target.cpu()
    if keep is not None:
        keep.update(model=model, x=x, target=target, attributions=attrs)
    return out


# The per-image measurements of a record (method -> (n_images,) tensor), all usable with records.method_means:
# EF in both definitions, with ties averaged (the paper's maps) and broken at random (seed spec.seed); the fraction
# of exactly tied pixels of each map; the gap to VanillaGrad as |Delta EF| (both definitions), as the radial-spectrum
# L2 distance and in the paper's gradient form ||e - grad||^2 / ||grad||^2 (raw channel sums and rank maps).
RECORD_METRICS = ("ef", "ef_nyquist", "ef_tiebreak", "ef_nyquist_tiebreak", "tie_fraction", "gap_ef",
                  "gap_ef_nyquist", "gap_l2", "gap_grad_l2", "gap_grad_rank_l2")


def run_point(config: TrainConfig, spec: EvalSpec, cache_dir: str | Path | None, progress: bool = True,
              keep: dict[str, Any] | None = None) -> dict:
    """Train (or load) ``config``'s network and evaluate it with ``spec``; cached by (config, spec).

    Returns a dict: ``config`` (dict), ``activation`` (display name), ``beta`` (inf for ReLU), ``seed``, ``train``
    (:class:`~spectral_lib.training.TrainResult` as a dict), and the measurements of :func:`_evaluate`: for each
    key of :data:`RECORD_METRICS` (``ef``, ``ef_nyquist``, ``ef_tiebreak``, ``ef_nyquist_tiebreak``,
    ``tie_fraction``, ``gap_ef``, ``gap_ef_nyquist``, ``gap_l2`` (the radial-spectrum L2 distance), ``gap_grad_l2``
    and ``gap_grad_rank_l2`` (the gradient-form gap, raw and on rank maps)) method -> (n_images,) tensors;
    ``profile``: method -> (R,) mean radial spectrum; ``examples``: method -> (n_examples, H, W) maps; ``images``,
    ``targets``), plus ``theorem1`` if asked.

    ``keep``: if given and the record is computed now (not read from the cache), it receives the network, the
    images, the targets and the full attributions (see :func:`_evaluate`); it stays empty on a cache hit
    (:func:`point_inputs` recomputes them).
    """
    config.validate()
    spec.validate()
    key = point_key(config, spec)

    def compute() -> dict:
        model, result = train_or_load(config, cache_dir, progress=progress)
        x = _test_images(config, spec.n_images, model)
        rec = _evaluate(model, x, spec, keep)
        if spec.theorem1:
            from ..theory import theorem1_summary

            # pooling first, channels-last: 2.1-3.6 s a network in float32, not 3-5 s (+7-8 s where float64 is needed)
            with fast_execution(model, x.device):
                rec["theorem1"] = theorem1_summary(model, x[: min(len(x), 64)], n_points=spec.theorem1_points,
                                                   batch_size=2048)
        rec.update(
            config=asdict(config), activation=activation_name(config.activation),
            beta=activation_beta(config.activation), seed=config.seed, train=result.as_dict(),
        )
        return rec

    return cache.memoize(cache_dir, EVALS, key, compute)


def _test_images(config: TrainConfig, n_images: int, model: torch.nn.Module) -> torch.Tensor:
    """The first ``n_images`` test images in the network's input condition, on the model's device."""
    splits = load_for(replace(config, augment=False))  # the test images, in the network's input condition
    x, _ = take(splits.test, n_images)
    return x.to(next(model.parameters()).device)


def point_inputs(config: TrainConfig, spec: EvalSpec, cache_dir: str | Path | None,
                 methods: Iterable[str] | None = None, progress: bool = False) -> dict[str, Any]:
    """What :func:`run_point`'s ``keep`` receives, recomputed: the (cached) network, its ``spec.n_images`` test
    images, their predicted classes and the attributions of ``methods`` (default ``spec.methods`` and VanillaGrad),
    each explained exactly as the record's maps were (same options, same SmoothGrad seed). Trains the network if it
    is not cached."""
    config.validate()
    spec.validate()
    model, _ = train_or_load(config, cache_dir, progress=progress)
    x = _test_images(config, spec.n_images, model)
    target = predict(model, x, batch_size=max(1, min(1024, _PASS_ELEMENTS // max(1, x[0].numel()))))
    attrs = {}
    for m in dict.fromkeys(["vanilla_grad", *(spec.methods if methods is None else methods)]):
        name, options = parse_method_spec(m)
        attrs[m] = _explain_in_chunks(name, model, x, target, {**_method_options(name, spec, x), **options}).detach()
    return {"model": model, "x": x, "target": target, "attributions": attrs}


EVALS = "evals"  # cache namespace of run_point's records


def point_key(config: TrainConfig, spec: EvalSpec) -> dict:
    """The cache key (plain data) of a grid point's record: :func:`run_point` caches under it and the sweep runner
    and :func:`missing_points` look it up. The training part is ``config.key()``, which resolves ``device="auto"``
    on *this* machine (CPU and GPU weights differ)."""
    # 2: Nyquist EF keeps corner bins; 3: gap_ef_nyquist; 4: tie fraction, tie-broken EF, gradient-form gap
    ev = asdict(spec)
    if ev["theorem1_points"] == EvalSpec.theorem1_points or not spec.theorem1:  # added later: earlier keys stay
        del ev["theorem1_points"]
    # Theorem 1 (records without it keep their keys): 2: line_floor_mass; 3: float64 where float32 does not resolve the
    # line tail, the window's leakage in the floor, line_window_mass and line_dtype
    if spec.theorem1:
        ev["theorem1_version"] = 3
    return {"train": config.key(), "eval": ev, "version": 4}


def point_path(config: TrainConfig, spec: EvalSpec, cache_dir: str | Path | None) -> Path:
    """Where :func:`run_point` stores the record of (``config``, ``spec``): ``cache_dir/evals/<key>.pt``.
    ``cache_dir=None``: the library default (:func:`spectral_lib.paths.default_cache_dir`)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / EVALS / f"{cache.config_key(point_key(config, spec))}.pt"


def missing_points(points: list[tuple[TrainConfig, EvalSpec]], cache_dir: str | Path | None
                   ) -> list[tuple[TrainConfig, EvalSpec]]:
    """The points of ``points`` (as from :func:`points_from_params`) whose record is not in ``cache_dir`` yet, in
    order: what :func:`run_points` would still have to train/evaluate (e.g. a sweep that has not finished)."""
    return [(c, s) for c, s in points if not point_path(c, s, cache_dir).exists()]


def run_grid(
    base: TrainConfig,
    spec: EvalSpec,
    cache_dir: str | Path | None,
    activations: Iterable[str] = ("relu",),
    seeds: Iterable[int] = (0,),
    progress: bool = True,
    **overrides,
) -> list[dict]:
    """:func:`run_point` for every (activation, seed) (and fixed ``overrides`` of the base config), with a progress
    bar over the grid. Returns the records in grid order (activation-major)."""
    from tqdm import tqdm

    grid = [replace(base, activation=a, seed=s, **overrides) for a in activations for s in seeds]
    for c in grid:  # fail on a bad grid point before training anything
        c.validate()
    spec.validate()
    return [run_point(c, spec, cache_dir, progress=progress) for c in tqdm(grid, desc="grid", disable=not progress)]


def lr_for(activation: str, params: dict[str, Any]) -> float:
    """The learning rate of ``activation`` under ``params``: ``params["lr_by_activation"][activation]`` when given
    (the authors tuned the learning rate per run; a profile may set it per activation), else ``params["lr"]``."""
    by_act = params.get("lr_by_activation") or {}
    if not isinstance(by_act, dict):
        raise TypeError(f"lr_by_activation must be a mapping activation -> lr, got {type(by_act).__name__}")
    lr = by_act.get(activation, params.get("lr", TrainConfig.lr))
    return float(lr)


TRAIN_PARAMS = ("dataset", "model", "model_options", "accuracy_cap", "max_epochs", "lr_gamma", "lr_decay_per",
                "cap_rule", "cap_min_epoch", "batch_size", "eval_every", "image_size", "augment", "device",
                "weight_decay", "train_noise_std", "train_blur_sigma", "pixel_permutation", "input_smoothing_sigma",
                "penalty_strength", "penalty_kind", "penalty_cutoff", "penalty_subsample", "n_train")


EVAL_PARAMS = ("n_images", "methods", "noise_std", "n_samples", "ig_steps", "n_examples", "theorem1",
               "theorem1_points")


def points_from_params(params: dict[str, Any]) -> list[tuple[TrainConfig, EvalSpec]]:
    """The grid points a notebook (or a sweep) computes, from its parameters: one per (activation, seed).

    Uses ``activations`` and ``seeds`` (lists), any of :data:`TRAIN_PARAMS` for the :class:`TrainConfig`, the
    learning rate from :func:`lr_for` (``lr`` or ``lr_by_activation``) and any of :data:`EVAL_PARAMS` for the
    :class:`EvalSpec`; other keys are ignored. Notebooks and the sweep runner call this
    same function, so they share cache entries. Every point is validated before returning.
    """
    train_kw = {k: params[k] for k in TRAIN_PARAMS if k in params}
    eval_kw = {k: (tuple(params[k]) if k == "methods" else params[k]) for k in EVAL_PARAMS if k in params}
    spec = EvalSpec(**eval_kw).validate()
    points = []
    for act in params.get("activations", ["relu"]):
        for seed in params.get("seeds", [0]):
            points.append((TrainConfig(activation=act, seed=seed, lr=lr_for(act, params), **train_kw).validate(),
                           spec))
    return points


def run_points(points: list[tuple[TrainConfig, EvalSpec]], cache_dir, progress: bool = True) -> list[dict]:
    """:func:`run_point` over a list of points, with a progress bar."""
    from tqdm import tqdm

    return [run_point(c, s, cache_dir, progress=progress) for c, s in tqdm(points, desc="grid", disable=not progress)]
