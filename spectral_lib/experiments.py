"""The paper's experiments as cached, configuration-keyed grid points that notebooks (and the sweep runner) share.

A *grid point* is one trained network (a :class:`~spectral_lib.train.TrainConfig`) evaluated with an
:class:`EvalSpec`: explanation maps of ``n_images`` fixed test images by each method, their EF (both definitions),
the explanation gap of each method against VanillaGrad, mean radial spectra, a few example maps, and optionally the
two sides of Theorem 1. Results are small (no full map stacks) and cached under ``cache_dir/evals``; the networks
under ``cache_dir/models``. Re-running a notebook therefore costs a few file reads.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import torch

from . import cache
from ._checks import check_positive_int
from .activations import activation_name, make_activation
from .data import take
from .explain import METHODS, explain, predict, to_map
from .spectrum import expected_frequency, explanation_gap, radial_profile
from .train import TrainConfig, load_for, train_or_load

__all__ = ["EvalSpec", "parse_method_spec", "METHOD_PARAMETERS", "run_point", "run_grid", "run_points", "points_from_params", "point_key", "point_path",
           "missing_points", "activation_beta", "records_to_frame", "gap_table", "paper_gap_table", "split_capped",
           "lr_for"]


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

    def validate(self) -> "EvalSpec":
        check_positive_int("n_images", self.n_images)
        if not self.methods:
            raise ValueError(f"methods must be a non-empty list of method specs from {list(METHODS)}, got []")
        for m in self.methods:
            parse_method_spec(m)
        check_positive_int("n_samples", self.n_samples)
        check_positive_int("ig_steps", self.ig_steps)
        check_positive_int("n_examples", self.n_examples)
        if not (isinstance(self.noise_std, (int, float)) and math.isfinite(self.noise_std) and self.noise_std >= 0):
            raise ValueError(f"noise_std must be a non-negative finite number, got {self.noise_std!r}")
        return self


def activation_beta(spec: str) -> float:
    """The SP beta of an activation spec; ``inf`` for ReLU (its limit); ``nan`` for anything else."""
    m = make_activation(spec)
    if isinstance(m, torch.nn.Softplus):
        return float(m.beta)
    return math.inf if isinstance(m, torch.nn.ReLU) else math.nan


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


def _method_options(method: str, spec: EvalSpec, x: torch.Tensor) -> dict[str, Any]:
    if method == "smooth_grad":
        g = torch.Generator(device=x.device).manual_seed(spec.seed)
        return {"noise_std": spec.noise_std, "n_samples": spec.n_samples, "generator": g}
    if method == "integrated_gradients":
        return {"n_steps": spec.ig_steps}
    return {}


def _evaluate(model: torch.nn.Module, x: torch.Tensor, spec: EvalSpec) -> dict[str, Any]:
    target = predict(model, x)
    out: dict[str, Any] = {"ef": {}, "ef_nyquist": {}, "gap_ef": {}, "gap_ef_nyquist": {}, "gap_l2": {},
                           "profile": {}, "examples": {}}
    maps = {}
    methods = list(dict.fromkeys(["vanilla_grad", *spec.methods]))  # VanillaGrad is always the reference
    for m in methods:
        name, options = parse_method_spec(m)
        attr = explain(name, model, x, target=target, **{**_method_options(name, spec, x), **options})
        maps[m] = to_map(attr)
        out["ef"][m] = expected_frequency(maps[m]).cpu()
        out["ef_nyquist"][m] = expected_frequency(maps[m], "nyquist").cpu()
        out["profile"][m] = radial_profile(maps[m].double()).mean(0).cpu()
        out["examples"][m] = maps[m][: spec.n_examples].cpu()
    for m in methods:
        out["gap_ef"][m] = explanation_gap(maps["vanilla_grad"], maps[m], kind="ef").cpu()
        out["gap_ef_nyquist"][m] = (out["ef_nyquist"][m] - out["ef_nyquist"]["vanilla_grad"]).abs()
        out["gap_l2"][m] = explanation_gap(maps["vanilla_grad"], maps[m], kind="spectral_l2").cpu()
    out["images"] = x[: spec.n_examples].cpu()
    out["targets"] = target.cpu()
    return out


def run_point(config: TrainConfig, spec: EvalSpec, cache_dir: str | Path | None, progress: bool = True) -> dict:
    """Train (or load) ``config``'s network and evaluate it with ``spec``; cached by (config, spec).

    Returns a dict: ``config`` (dict), ``activation`` (display name), ``beta`` (inf for ReLU), ``seed``, ``train``
    (:class:`~spectral_lib.train.TrainResult` as a dict), and the measurements of :func:`_evaluate`
    (``ef``, ``ef_nyquist``, ``gap_ef``, ``gap_ef_nyquist``, ``gap_l2``: method -> (n_images,) tensors; ``profile``: method -> (R,) mean
    radial spectrum; ``examples``: method -> (n_examples, H, W) maps; ``images``), plus ``theorem1`` if asked.
    """
    config.validate()
    spec.validate()
    key = point_key(config, spec)

    def compute() -> dict:
        model, result = train_or_load(config, cache_dir, progress=progress)
        splits = load_for(replace(config, augment=False))  # the test images, in the network's input condition
        device = next(model.parameters()).device
        x, _ = take(splits.test, spec.n_images)
        x = x.to(device)
        rec = _evaluate(model, x, spec)
        if spec.theorem1:
            from .theory import theorem1_summary

            rec["theorem1"] = theorem1_summary(model, x[: min(len(x), 64)], batch_size=2048)
        rec.update(
            config=asdict(config), activation=activation_name(config.activation),
            beta=activation_beta(config.activation), seed=config.seed, train=result.as_dict(),
        )
        return rec

    return cache.memoize(cache_dir, EVALS, key, compute)


EVALS = "evals"  # cache namespace of run_point's records


def point_key(config: TrainConfig, spec: EvalSpec) -> dict:
    """The cache key (plain data) of a grid point's record: :func:`run_point` caches under it and the sweep runner
    and :func:`missing_points` look it up. The training part is ``config.key()``, which resolves ``device="auto"``
    on *this* machine (CPU and GPU weights differ)."""
    return {"train": config.key(), "eval": asdict(spec), "version": 3}  # 2: Nyquist EF keeps corner bins; 3: gap_ef_nyquist


def point_path(config: TrainConfig, spec: EvalSpec, cache_dir: str | Path | None) -> Path:
    """Where :func:`run_point` stores the record of (``config``, ``spec``): ``cache_dir/evals/<key>.pt``.
    ``cache_dir=None``: the library default (:func:`spectral_lib.paths.default_cache_dir`)."""
    from .paths import default_cache_dir

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


def records_to_frame(records: list[dict], metric: str = "ef", scale: float = 1.0):
    """Tidy pandas DataFrame: one row per (record, method, image) with columns activation, beta, seed, method,
    ``metric`` (scaled), test_accuracy, cap_reached, epochs. ``metric``: ef, ef_nyquist, gap_ef, gap_ef_nyquist or gap_l2."""
    import pandas as pd

    rows = []
    for r in records:
        for method, values in r[metric].items():
            for i, v in enumerate(values.tolist()):
                rows.append({
                    "activation": r["activation"], "beta": r["beta"], "seed": r["seed"], "method": method,
                    "image": i, metric: v * scale, "test_accuracy": r["train"]["test_accuracy"],
                    "cap_reached": r["train"]["cap_reached"], "epochs": r["train"]["epochs"],
                })
    return pd.DataFrame(rows)


def gap_table(records: list[dict], metric: str = "ef", scale: float = 1e5):
    """Method x activation table of the mean ``metric`` over images and seeds (``scale``d; the paper shows EF x 1e5),
    activations ordered from smoothest (lowest beta) to ReLU.

    With ``metric="gap_ef"`` this is the mean of *per-image* gaps ``mean_i |EF_i(m) - EF_i(VG)|``, our second,
    labelled column; the paper's tables use :func:`paper_gap_table` instead."""
    df = records_to_frame(records, metric, scale)
    order = df.drop_duplicates("activation").sort_values("beta")["activation"].tolist()
    table = df.pivot_table(index="method", columns="activation", values=metric, aggfunc="mean")
    seen = list(dict.fromkeys(df["method"]))  # spec'd methods ("lowpass_grad:0.25") in the records' order
    methods = [m for m in METHODS if m in table.index] + [m for m in seen if m not in METHODS]
    return table.loc[methods, order]


def paper_gap_table(records: list[dict], ef_metric: str = "ef", scale: float = 1e5):
    """The explanation gap as the paper's tables compute it: ``|mean EF(method) - mean EF(VanillaGrad)|``, the
    absolute difference of the (unrounded) means over the evaluated images (pooled over seeds), per activation.

    ``ef_metric``: ``"ef"`` (paper definition) or ``"ef_nyquist"``. Returns a method x activation DataFrame
    (``scale``d), VanillaGrad's row zero by construction. Every entry of the published tables satisfies this
    identity (see ``tests``)."""
    means = gap_table(records, ef_metric, scale)
    if "vanilla_grad" not in means.index:
        raise ValueError("paper_gap_table needs VanillaGrad in the records' methods (the gap's reference)")
    return (means - means.loc["vanilla_grad"]).abs()


def split_capped(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """The authors' rule for networks that never passed the accuracy cap: they are dropped. Returns
    ``(kept, dropped)``: records whose training reached the cap, and the others (to be listed, not averaged)."""
    kept = [r for r in records if r["train"]["cap_reached"]]
    return kept, [r for r in records if not r["train"]["cap_reached"]]


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
                "penalty_strength", "penalty_kind", "penalty_cutoff", "penalty_subsample")
EVAL_PARAMS = ("n_images", "methods", "noise_std", "n_samples", "ig_steps", "n_examples", "theorem1")


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


def theorem1_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The Theorem 1 chapter's grids: one per pooling type in ``params["pools"]``, VanillaGrad only, on
    ``theorem1_images`` images, with both sides of Theorem 1 computed. Feed each to :func:`points_from_params`."""
    def options(pool: str) -> dict:  # "max" is the default pooling: leave it out so that the networks (cache
        base = {k: v for k, v in params.get("model_options", {}).items() if k != "pool"}  # keys) are shared
        return base if pool == "max" else {**base, "pool": pool}

    return [{**params, "model_options": options(pool), "n_images": params["theorem1_images"],
             "methods": ["vanilla_grad"], "theorem1": True} for pool in params["pools"]]


def ablation_param_sets(params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The ablation chapter's grids as ``(axis, value label, parameters)``: the simple CNN (depth 2) with
    VanillaGrad, varied along depth, skip/BN (the SK/BN CNN), input size, training noise, training blur and L2."""
    base = {**params, "model": "simple_cnn", "model_options": {"depth": 2}, "methods": ["vanilla_grad"]}
    axes = (
        [("depth", str(d), {"model_options": {"depth": d}}) for d in params["depths"]]
        + [("SK / BN", f"SK={int(sk)} BN={int(bn)}", {"model": "skip_bn_cnn", "model_options": {"skip": sk, "bn": bn}})
           for sk, bn in params["skip_bn"]]
        + [("input size", str(s), {"image_size": s}) for s in params["image_sizes"]]
        + [("training noise std", str(s), {"train_noise_std": s}) for s in params["train_noise_stds"]]
        + [("training blur sigma", str(s), {"train_blur_sigma": s}) for s in params["train_blur_sigmas"]]
        + [("L2 (weight decay)", str(w), {"weight_decay": w}) for w in params["weight_decays"]]
    )
    return [(axis, label, {**base, **override}) for axis, label, override in axes]
