"""Each chapter's grids: a chapter's parameters -> the parameter dicts fed to
:func:`~spectral_lib.experiments.points_from_params` (one per grid), validated before any training.

Theorem 1 (per pooling type), the ablations (depth, SK/BN, input size, training noise, blur, L2), spatial correlation
(per input condition), width and input size, smooth activations and post-hoc transforms, the spectral penalty. The
bare dicts (``*_param_sets``) are the form of :data:`spectral_lib.companion.profiles.PARAM_SETS`, so that the book
command and the sweep list the same grid points as the notebooks. Networks shared between chapters keep one cache key
(options at their defaults are left out of the dicts). :func:`check_grids` validates every grid point and builds
every network on the ``meta`` device before any training.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from ..checks import ParameterError, check_positive_finite, check_positive_int
from ..data import Condition, parse_conditions
from ..explain import parse_method_spec
from ..nn.activations import gaussian_spec
from ..training import check_networks
from .points import points_from_params

__all__ = ["theorem1_param_sets", "ablation_param_sets", "native_size", "spatial_grids", "spatial_arms",
           "spatial_param_sets", "width_options",
           "width_grids", "size_grids", "width_size_param_sets", "check_grids", "explain_time_methods",
           "gap_param_sets", "smooth_alternatives_param_sets", "penalty_strength_list", "spectral_penalty_param_sets",
           "PENALTY_PARAMS"]

def theorem1_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The Theorem 1 chapter's grids: one per pooling type in ``params["pools"]``, VanillaGrad only, on
    ``theorem1_images`` images, with both sides of Theorem 1 computed. Feed each to :func:`points_from_params`."""
    def options(pool: str) -> dict:  # "max" is the default pooling: leave it out so that the networks (cache
        base = {k: v for k, v in params.get("model_options", {}).items() if k != "pool"}  # keys) are shared
        return base if pool == "max" else {**base, "pool": pool}

    return [{**params, "model_options": options(pool), "n_images": params["theorem1_images"],
             "methods": ["vanilla_grad"], "theorem1": True} for pool in params["pools"]]


def native_size(dataset: str, image_size: Any) -> Any:
    """``image_size``, or None when it is the dataset's own square size (no resizing: the same data, so the same
    networks as a grid without ``image_size``, e.g. chapter 4's; their cache keys are shared). Other values are
    returned as they are (invalid ones for the configuration checks to refuse)."""
    from ..data import dataset_info

    try:
        c, h, w = dataset_info(dataset).in_shape
    except (ValueError, TypeError, KeyError):
        return image_size
    same = isinstance(image_size, int) and not isinstance(image_size, bool) and image_size == h == w
    return None if same else image_size


def ablation_param_sets(params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """The ablation chapter's grids as ``(axis, value label, parameters)``: the simple CNN (depth 2) with
    VanillaGrad, varied along depth, skip/BN (the SK/BN CNN), input size, training noise, training blur and L2. An
    input size equal to the dataset's own (28 for mnist5k) trains on the unresized data, the networks of the other
    chapters (:func:`native_size`)."""
    base = {**params, "model": "simple_cnn", "model_options": {"depth": 2}, "methods": ["vanilla_grad"]}
    dataset = params.get("dataset", "mnist5k")
    axes = (
        [("depth", str(d), {"model_options": {"depth": d}}) for d in params["depths"]]
        + [("SK / BN", f"SK={int(sk)} BN={int(bn)}", {"model": "skip_bn_cnn", "model_options": {"skip": sk, "bn": bn}})
           for sk, bn in params["skip_bn"]]
        + [("input size", str(s), {"image_size": native_size(dataset, s)}) for s in params["image_sizes"]]
        + [("training noise std", str(s), {"train_noise_std": s}) for s in params["train_noise_stds"]]
        + [("training blur sigma", str(s), {"train_blur_sigma": s}) for s in params["train_blur_sigmas"]]
        + [("L2 (weight decay)", str(w), {"weight_decay": w}) for w in params["weight_decays"]]
    )
    return [(axis, label, {**base, **override}) for axis, label, override in axes]


# ------------------------------------------------------------------------------------------------------ grids
# SmoothGrad's settings: left out of VanillaGrad-only grids, whose EvalSpec then keeps its defaults as in the
# chapters that declare no SmoothGrad parameters (Theorem 1, ablations), so that their records are shared.
_SMOOTHGRAD_PARAMS = ("noise_std", "n_samples")


def spatial_grids(params: dict[str, Any], where: str = "") -> list[tuple[Condition, str, dict[str, Any]]]:
    """The spatial-correlation chapter's grids as ``(condition, kind, parameters)``: per input condition of ``params["conditions"]``
    (with ``params["permutation_seed"]``), ``kind="ef"``: VanillaGrad and SmoothGrad on ``n_images`` images (for
    natural images the parameters of the EF-vs-beta chapter, so the networks, and with the same ``n_images`` the
    records, are shared) and ``kind="theorem1"``: Theorem 1's two sides on ``theorem1_images`` images (the grid of
    :func:`spectral_lib.experiments.grids.theorem1_param_sets` for the pooling of ``model_options``, max by default, shared
    with the Theorem 1 chapter). Raises
    :class:`spectral_lib.checks.ParameterError` naming ``where`` (e.g. the chapter) and ``conditions`` or
    ``permutation_seed`` when one is invalid."""
    try:
        conditions = parse_conditions(params["conditions"], params.get("permutation_seed", 0))
    except (TypeError, ValueError) as e:
        name = "permutation_seed" if str(e).startswith("permutation_seed") else "conditions"
        prefix = f"{where}: " if where else ""
        raise ParameterError(f"{prefix}parameter {name!r} = {params.get(name)!r} is invalid: {e}") from None
    out = []
    for c in conditions:
        base = {**params, "pixel_permutation": c.pixel_permutation,
                "input_smoothing_sigma": c.input_smoothing_sigma}
        out.append((c, "ef", {**base, "methods": ["vanilla_grad", "smooth_grad"]}))
        vg_only = {k: v for k, v in base.items() if k not in _SMOOTHGRAD_PARAMS}  # (VanillaGrad only: the EvalSpec
        pool = dict(params.get("model_options") or {}).get("pool", "max")  # defaults, as chapter 3; same pooling)
        out.append((c, "theorem1", theorem1_param_sets({**vg_only, "pools": [pool]})[0]))
    return out


def spatial_arms(params: dict[str, Any], where: str = "") -> list[tuple[str, Condition, str, dict[str, Any]]]:
    """The spatial-correlation chapter's grids per architecture, as ``(arm, condition, kind, parameters)``: arm
    ``"cnn"`` is :func:`spatial_grids` of ``params`` (the chapter's ``model``); arm ``"mlp"``, when
    ``params["mlp_options"]`` is a mapping (None or absent: no MLP arm), the same grids for
    :class:`spectral_lib.nn.MLP` with those options (e.g. ``{"hidden": [256, 256]}``), same activations, seeds,
    conditions and training rules. A pixel permutation is an exact symmetry of an MLP (no notion of neighbours), so
    its arm separates the inputs' spatial correlation from convolutional locality. Raises
    :class:`spectral_lib.checks.ParameterError` naming ``where`` and ``mlp_options`` when it is not a mapping."""
    out = [("cnn", c, kind, d) for c, kind, d in spatial_grids(params, where)]
    mlp = params.get("mlp_options")
    if mlp is None:
        return out
    if not isinstance(mlp, dict):
        prefix = f"{where}: " if where else ""
        raise ParameterError(f"{prefix}parameter 'mlp_options' = {mlp!r} is invalid: expected a mapping of MLP "
                             "options (e.g. {'hidden': [256, 256]}) or null for no MLP arm")
    mlp_params = {**params, "model": "mlp", "model_options": dict(mlp)}
    return out + [("mlp", c, kind, d) for c, kind, d in spatial_grids(mlp_params, where)]


def spatial_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameter dicts of :func:`spatial_arms` (the spatial-correlation chapter's entry for
    ``config.PARAM_SETS``)."""
    return [d for _, _, _, d in spatial_arms(params)]


def width_options(model_options: dict, width_mult: Any) -> dict:
    """``model_options`` with the simple CNN's ``width_mult``; for a multiplier of 1 the key is left out, so that the
    networks (cache keys) are the ones the other chapters train. Integral multipliers are stored as ints (2.0 -> 2),
    so that 2 and 2.0 name the same network. Invalid multipliers are passed on for the model to refuse."""
    base = {k: v for k, v in dict(model_options).items() if k != "width_mult"}
    if isinstance(width_mult, (int, float)) and not isinstance(width_mult, bool) and math.isfinite(width_mult):
        if width_mult == 1:
            return base
        if float(width_mult).is_integer():
            width_mult = int(width_mult)
    return {**base, "width_mult": width_mult}


def width_grids(params: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
    """The width-and-size chapter's width grids as ``(width multiplier, parameters)``: the simple CNN (the only model with a width
    multiplier) with ``params["model_options"]`` and ``params["activations"]`` for every multiplier of
    ``params["width_mults"]``, VanillaGrad only."""
    mults = params["width_mults"]
    if isinstance(mults, str) or not isinstance(mults, (list, tuple)) or not mults:
        raise ValueError(f"width_mults must be a non-empty list of positive numbers, got {mults!r}")
    base = {k: v for k, v in params.items() if k not in _SMOOTHGRAD_PARAMS}  # VanillaGrad only: EvalSpec defaults
    return [(m, {**base, "model": "simple_cnn", "model_options": width_options(params.get("model_options", {}), m),
                 "methods": ["vanilla_grad"]}) for m in mults]


def size_grids(params: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The width-and-size chapter's input-size grids as ``(image size, parameters)``: the ablation chapter's "input size" grids
    (:func:`spectral_lib.experiments.grids.ablation_param_sets`: the simple CNN of depth 2, VanillaGrad) for
    ``params["image_sizes"]`` and the activations ``params["size_activation_specs"]``, so that the networks and
    records are shared with that chapter when its parameters agree."""
    acts = params["size_activation_specs"]
    if isinstance(acts, str) or not isinstance(acts, (list, tuple)) or not acts:
        raise ValueError(f"size_activation_specs must be a non-empty list of activation specs, got {acts!r}")
    base = {**{k: v for k, v in params.items() if k not in _SMOOTHGRAD_PARAMS}, "activations": list(acts),
            "depths": [], "skip_bn": [], "train_noise_stds": [], "train_blur_sigmas": [], "weight_decays": []}
    return [(int(label), p) for axis, label, p in ablation_param_sets(base) if axis == "input size"]


def width_size_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameter dicts of :func:`width_grids` and :func:`size_grids` (the width-and-size chapter's entry for
    ``config.PARAM_SETS``)."""
    return [d for _, d in width_grids(params)] + [d for _, d in size_grids(params)]


def check_grids(param_dicts: Sequence[dict[str, Any]], where: str = "") -> list[tuple[Any, Any]]:
    """Validate every grid point of ``param_dicts`` (each :class:`~spectral_lib.training.TrainConfig` and
    :class:`~spectral_lib.experiments.EvalSpec`) and build every distinct network once on the ``meta`` device (no
    memory, no data), so that a bad parameter (a width multiplier of 0, a permutation seed that is not an int, a
    depth too large for the image size) fails before anything trains. Returns the points; raises
    :class:`spectral_lib.checks.ParameterError` naming ``where`` (e.g. the chapter) and the problem."""
    prefix = f"{where}: " if where else ""
    points = []
    for d in param_dicts:
        try:
            points += points_from_params(d)
        except (ValueError, TypeError) as e:
            raise ParameterError(f"{prefix}invalid grid parameters: {e}") from None
    check_networks([config for config, _ in points], where)
    return points


# TrainConfig fields of the spectral penalty: set only on the penalised networks, so the others keep their cache keys.
PENALTY_PARAMS = ("penalty_strength", "penalty_kind", "penalty_cutoff", "penalty_subsample")


def _number_list(name: str, values: Any, check: Callable[[str, Any], float], allow_empty: bool = False
                 ) -> list[float]:
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a list of numbers, got {type(values).__name__} {values!r}")
    if not values and not allow_empty:
        raise ValueError(f"{name} must be a non-empty list of numbers, got []")
    return [check(f"{name}[{i}]", v) for i, v in enumerate(values)]


def explain_time_methods(betas: Sequence[float], cutoffs: Sequence[float], smooth_grad: bool = True) -> list[str]:
    """Method specs explaining a ReLU network without retraining it: ``vanilla_grad`` (the reference), optionally
    ``smooth_grad``, ``beta_smooth_grad:<beta>`` per beta and ``lowpass_grad:<cutoff>`` per cut-off (cycles/pixel).

    Every beta and cut-off must be positive and finite (ValueError naming ``explain_time_betas[i]`` or
    ``lowpass_cutoffs[i]`` otherwise; a cut-off of 0 would leave constant maps, whose EF is undefined). Either list may
    be empty, not both."""
    b = _number_list("explain_time_betas", betas, check_positive_finite, allow_empty=True)
    c = _number_list("lowpass_cutoffs", cutoffs, check_positive_finite, allow_empty=True)
    if not b and not c:
        raise ValueError("explain_time_betas and lowpass_cutoffs are both empty: no explain-time surrogate to measure")
    specs = ["vanilla_grad"] + (["smooth_grad"] if smooth_grad else [])
    specs += [f"beta_smooth_grad:{v:g}" for v in b] + [f"lowpass_grad:{v:g}" for v in c]
    for s in specs:
        parse_method_spec(s)
    return list(dict.fromkeys(specs))


def gap_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The explanation-gap chapter's grids, as parameter dicts for ``points_from_params``: its own grid
    (``params`` as given: every activation, the paper's methods) and the post-hoc grid, the ReLU network(s) (same
    seeds) explained by the explain-time surrogates of :func:`explain_time_methods` (``explain_time_betas``,
    ``lowpass_cutoffs``: the smooth-alternatives chapter's records, shared through the cache). The chapter and the
    sweep both list their points from here, so a sweep computes every record the chapter reads. Raises ValueError
    naming a bad beta or cut-off."""
    methods = explain_time_methods(params.get("explain_time_betas", []), params.get("lowpass_cutoffs", []))
    return [dict(params), {**params, "activations": ["relu"], "methods": methods}]


def smooth_alternatives_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The grids of the smooth-alternatives chapter, as parameter dicts for ``points_from_params``:

    1. ``trained``: every activation of ``activations`` plus the Gaussian-smoothed ReLU matched to each of
       ``gaussian_betas`` (:func:`gaussian_spec`), explained by VanillaGrad (and SmoothGrad if
       ``smooth_grad_on_trained``, default False);
    2. ``surrogates``: the ReLU network(s) (``"relu"``, same seeds) explained by VanillaGrad, SmoothGrad and the
       explain-time surrogates of :func:`explain_time_methods` (``explain_time_betas``, ``lowpass_cutoffs``).

    Each dict carries its name under ``grid`` (ignored by ``points_from_params``). Also checks the chapter's
    ``tail_cutoff`` (positive) when given. Raises ValueError/TypeError naming the bad parameter."""
    betas = _number_list("gaussian_betas", params.get("gaussian_betas", []), check_positive_finite, allow_empty=True)
    if "tail_cutoff" in params:
        check_positive_finite("tail_cutoff", params["tail_cutoff"])
    acts = list(params.get("activations") or [])
    if not acts and not betas:
        raise ValueError("activations and gaussian_betas are both empty: no network to train")
    trained_acts = list(dict.fromkeys(acts + [gaussian_spec(b) for b in betas]))
    sg = params.get("smooth_grad_on_trained", False)
    if not isinstance(sg, bool):
        raise TypeError(f"smooth_grad_on_trained must be true or false, got {sg!r}")
    base = {k: v for k, v in params.items() if k not in ("methods", *PENALTY_PARAMS)}
    methods = explain_time_methods(params.get("explain_time_betas", []), params.get("lowpass_cutoffs", []))
    return [{**base, "grid": "trained", "activations": trained_acts,
             "methods": ["vanilla_grad"] + (["smooth_grad"] if sg else [])},
            {**base, "grid": "surrogates", "activations": ["relu"], "methods": methods}]


def penalty_strength_list(values: Any) -> list[float]:
    """``penalty_strengths`` checked: a non-empty list of positive finite numbers (a strength of 0 is the plain ReLU
    network, already the chapter's baseline)."""
    return _number_list("penalty_strengths", values, check_positive_finite)


def spectral_penalty_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The grids of the spectral-penalty chapter, as parameter dicts for ``points_from_params``, VanillaGrad only:

    1. ``plain``: ``activations`` (the SP networks and the ReLU baseline) trained without the penalty, so that they
       share chapter 4's networks (the penalty options are removed);
    2. one ``penalty`` grid per strength of ``penalty_strengths``: ``penalty_activation`` (default ``"relu"``) trained
       with ``penalty_strength`` = that strength and the chapter's ``penalty_kind``, ``penalty_cutoff``,
       ``penalty_subsample``.

    Also checks the chapter's ``benchmark_epochs`` and ``benchmark_repeats`` (positive integers) when given. Raises ValueError/TypeError
    naming the bad parameter (the TrainConfig checks run in ``points_from_params``)."""
    strengths = penalty_strength_list(params.get("penalty_strengths"))
    for name in ("benchmark_epochs", "benchmark_repeats"):
        if name in params:
            check_positive_int(name, params[name])
    base = {k: v for k, v in params.items() if k not in PENALTY_PARAMS}
    base["methods"] = ["vanilla_grad"]
    options = {k: params[k] for k in PENALTY_PARAMS[1:] if k in params}
    sets = [{**base, "grid": "plain", "activations": list(params.get("activations") or [])}] if params.get(
        "activations") else []
    act = params.get("penalty_activation", "relu")
    sets += [{**base, **options, "grid": "penalty", "activations": [act], "penalty_strength": s} for s in strengths]
    return sets
