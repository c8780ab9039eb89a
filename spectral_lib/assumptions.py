"""The paper's assumptions put to the test: spatially correlated inputs (chapter 7) and finite width and input size
(chapter 8).

Chapter 7 trains the same networks under *input conditions* (:func:`parse_condition`): natural images, the same
images with a fixed pixel permutation (all information kept, spatial correlation gone) and permuted images smoothed
with a Gaussian (correlation brought back without the image's structure). :func:`neighbour_correlation` measures
how correlated neighbouring inputs are; :func:`unpermuted_gradient_ef` measures a permuted network's gradient both
in the order the network sees the pixels (array order) and in the image's own order.

Chapter 8 varies the simple CNN's width (:func:`width_options`) and the input size (the ablation chapter's grids,
so that the networks are shared).

The ``*_grids`` functions return labelled parameter dicts for :func:`spectral_lib.experiments.points_from_params`;
``spatial_param_sets`` and ``width_size_param_sets`` return the bare dicts (the form of
:data:`spectral_lib.config.PARAM_SETS`, so that the book command and the sweep list the same grid points as the
notebooks). :func:`check_grids` validates every grid point and builds every network on the ``meta`` device before any
training.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Sequence

import torch

from ._checks import check_tensor

__all__ = ["CONDITION_NAMES", "Condition", "parse_condition", "parse_conditions", "neighbour_correlation",
           "unpermuted_gradient_ef", "condition_permutation", "spatial_grids", "spatial_param_sets", "width_options",
           "width_grids", "size_grids", "width_size_param_sets", "check_grids", "ef_beta_slope", "loglog_slope"]

CONDITION_NAMES = ("natural", "permuted", "permuted+smoothed")


class Condition(NamedTuple):
    """An input condition: its spec as given (``"permuted+smoothed:1"``), the :class:`~spectral_lib.train.TrainConfig`
    fields it sets, and a label for tables (``"permuted+smoothed(1)"``)."""

    spec: str
    label: str
    pixel_permutation: int | None
    input_smoothing_sigma: float


_CONDITION_HELP = ("'natural', 'permuted' or 'permuted+smoothed:<sigma>' (sigma: the Gaussian's width in pixels, "
                   "> 0, e.g. 'permuted+smoothed:1')")


def parse_condition(spec: str, permutation_seed: int = 0) -> Condition:
    """An input condition from its spec: ``"natural"`` (the images as they are), ``"permuted"`` (a fixed random pixel
    permutation drawn from ``permutation_seed``, the same for train and test) or ``"permuted+smoothed:<sigma>"`` (then
    a Gaussian smoothing of ``sigma`` pixels). Raises TypeError/ValueError naming the spec or the seed."""
    if not isinstance(spec, str):
        raise TypeError(f"an input condition must be a string, {_CONDITION_HELP}; got {type(spec).__name__} {spec!r}")
    if spec != "natural" and (isinstance(permutation_seed, bool) or not isinstance(permutation_seed, int)
                              or permutation_seed < 0):
        raise TypeError(f"permutation_seed must be a non-negative int (the seed of the pixel permutation), got "
                        f"{type(permutation_seed).__name__} {permutation_seed!r}")
    name, sep, arg = spec.partition(":")
    if name == "natural" and not sep:
        return Condition(spec, "natural", None, 0.0)
    if name == "permuted" and not sep:
        return Condition(spec, "permuted", permutation_seed, 0.0)
    if name == "permuted+smoothed":
        try:
            sigma = float(arg)
        except ValueError:
            sigma = math.nan
        if not sep or not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"input condition {spec!r}: expected 'permuted+smoothed:<sigma>' with a positive finite "
                             f"sigma in pixels, e.g. 'permuted+smoothed:1'")
        return Condition(spec, f"permuted+smoothed({sigma:g})", permutation_seed, sigma)
    raise ValueError(f"unknown input condition {spec!r}; expected {_CONDITION_HELP}")


def parse_conditions(specs: Sequence[str], permutation_seed: int = 0) -> list[Condition]:
    """:func:`parse_condition` for a non-empty list of distinct specs; raises naming the first bad one."""
    if isinstance(specs, str) or not isinstance(specs, (list, tuple)) or not specs:
        raise ValueError(f"conditions must be a non-empty list of input conditions ({_CONDITION_HELP}), got {specs!r}")
    out = [parse_condition(s, permutation_seed) for s in specs]
    labels = [c.label for c in out]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ValueError(f"conditions {list(specs)!r} name the same condition twice: {dup}")
    return out


def condition_permutation(condition: Condition, height: int, width: int) -> torch.Tensor | None:
    """The (H*W,) pixel permutation of ``condition`` for H x W images (None for natural images)."""
    from .transforms import pixel_permutation

    if condition.pixel_permutation is None:
        return None
    return pixel_permutation(height, width, condition.pixel_permutation)


# ------------------------------------------------------------------------------------------------- measurements
def neighbour_correlation(x: torch.Tensor) -> float:
    """How spatially correlated inputs are: the Pearson correlation between each pixel and its right and lower
    neighbour, pooled over every image, channel and position. x: (N, C, H, W) or (N, H, W) with H, W >= 2.

    About 0.8 for MNIST digits, about 0 for the same digits with their pixels permuted, near 1 for heavily smoothed
    images. NaN when the inputs are constant (no variance to correlate)."""
    check_tensor("x", x, ndim=(3, 4))
    if min(x.shape[-2:]) < 2:
        raise ValueError(f"neighbour_correlation needs images of at least 2x2 pixels, got shape {tuple(x.shape)}")
    x = x.double()
    a = torch.cat([x[..., :, :-1].flatten(), x[..., :-1, :].flatten()])
    b = torch.cat([x[..., :, 1:].flatten(), x[..., 1:, :].flatten()])
    a, b = a - a.mean(), b - b.mean()
    den = torch.sqrt((a * a).sum() * (b * b).sum())
    if float(den) <= 1e-300:
        return math.nan
    return float((a * b).sum() / den)


def unpermuted_gradient_ef(model: torch.nn.Module, x: torch.Tensor, perm: torch.Tensor | None,
                           target: torch.Tensor | None = None) -> dict[str, dict[str, Any]]:
    """A network's VanillaGrad measured in two pixel orders: as the network sees its inputs (``"array"``: the order
    of ``x``, permuted for a network trained on permuted images) and in the image's own order (``"image"``: the map
    moved back with :func:`spectral_lib.transforms.unpermute_pixels`). For ``perm=None`` (natural images) the two
    are the same.

    x: (N, C, H, W) inputs in the network's order; perm: the (H*W,) permutation that made them
    (``permuted = image.flatten(2)[..., perm]``) or None; target: classes to explain (default: the predicted ones).
    Returns ``{"array": {...}, "image": {...}}``, each with ``maps`` (N, H, W) rank-normalised maps, ``ef`` and
    ``ef_nyquist`` (N,) per-map EF (paper definition, cycles/pixel) and ``tail_slope`` (the log-log slope of the
    mean spatial spectrum of the mean-removed gradients, as Theorem 1's ``grad_tail_slope``)."""
    from .explain import predict, vanilla_grad
    from .maps import to_map
    from .spectrum import expected_frequency, radial_profile, tail_exponent
    from .transforms import unpermute_pixels

    check_tensor("x", x, ndim=4)
    if target is None:
        target = predict(model, x)
    grad = vanilla_grad(model, x, target).detach()
    orders = {"array": grad, "image": grad if perm is None else unpermute_pixels(grad, perm)}
    out = {}
    for name, g in orders.items():
        maps = to_map(g)
        raw = g.sum(1).double()
        raw = raw - raw.mean(dim=(1, 2), keepdim=True)
        out[name] = {"maps": maps.cpu(), "ef": expected_frequency(maps).cpu(),
                     "ef_nyquist": expected_frequency(maps, "nyquist").cpu(),
                     "tail_slope": float(tail_exponent(radial_profile(raw).mean(0)))}
    return out


def ef_beta_slope(records: Sequence[dict], metric: str = "ef", method: str = "vanilla_grad",
                  scale: float = 1e5) -> dict[str, float]:
    """How fast the mean EF falls as SP's beta falls: the least-squares slope of the per-beta mean of the networks'
    mean ``metric`` (``scale``d) against log10(beta), over the SP networks (ReLU, beta = inf, has no place on a log
    axis). Returns ``slope`` (EF units per decade of beta; positive: smoother activation, lower EF, as the paper
    claims), ``relative_slope`` (the slope divided by the mean of the per-beta means: comparable across conditions
    whose EF levels differ) and ``n_betas``; NaN slopes with fewer than 2 finite betas."""
    from .report import network_means

    per_net = network_means(records, metric, method, scale)
    per_beta = per_net[per_net["beta"].apply(math.isfinite)].groupby("beta")["value"].mean().dropna()
    if len(per_beta) < 2:
        return {"slope": math.nan, "relative_slope": math.nan, "n_betas": int(len(per_beta))}
    slope = loglog_slope(per_beta.index.to_numpy(), per_beta.to_numpy(), log_y=False)
    return {"slope": slope, "relative_slope": slope / float(per_beta.mean()), "n_betas": int(len(per_beta))}


def loglog_slope(x: Sequence[float], y: Sequence[float], log_y: bool = True) -> float:
    """Least-squares slope of log10(y) (or y, ``log_y=False``) against log10(x): the exponent k of ``y ~ x^k``.
    Points with a non-finite or non-positive coordinate are skipped; NaN with fewer than 2 points or one x value."""
    import numpy as np

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"loglog_slope needs x and y of equal length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & ((y > 0) if log_y else True)
    lx, ly = np.log10(x[ok]), (np.log10(y[ok]) if log_y else y[ok])
    if len(lx) < 2 or np.ptp(lx) == 0:
        return math.nan
    return float(np.polyfit(lx, ly, 1)[0])


# ------------------------------------------------------------------------------------------------------ grids
# SmoothGrad's settings: left out of VanillaGrad-only grids, whose EvalSpec then keeps its defaults as in the
# chapters that declare no SmoothGrad parameters (Theorem 1, ablations), so that their records are shared.
_SMOOTHGRAD_PARAMS = ("noise_std", "n_samples")

def spatial_grids(params: dict[str, Any], where: str = "") -> list[tuple[Condition, str, dict[str, Any]]]:
    """Chapter 7's grids as ``(condition, kind, parameters)``: per input condition of ``params["conditions"]``
    (with ``params["permutation_seed"]``), ``kind="ef"``: VanillaGrad and SmoothGrad on ``n_images`` images (for
    natural images the parameters of the EF-vs-beta chapter, so the networks, and with the same ``n_images`` the
    records, are shared) and ``kind="theorem1"``: Theorem 1's two sides on ``theorem1_images`` images (the grid of
    :func:`spectral_lib.experiments.theorem1_param_sets` for the pooling of ``model_options``, max by default, shared
    with the Theorem 1 chapter). Raises
    :class:`spectral_lib.params.ParameterError` naming ``where`` (e.g. the chapter) and ``conditions`` or
    ``permutation_seed`` when one is invalid."""
    from .experiments import theorem1_param_sets

    from .params import ParameterError

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


def spatial_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameter dicts of :func:`spatial_grids` (chapter 7's entry for ``config.PARAM_SETS``)."""
    return [d for _, _, d in spatial_grids(params)]


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
    """Chapter 8's width grids as ``(width multiplier, parameters)``: the simple CNN (the only model with a width
    multiplier) with ``params["model_options"]`` and ``params["activations"]`` for every multiplier of
    ``params["width_mults"]``, VanillaGrad only."""
    mults = params["width_mults"]
    if isinstance(mults, str) or not isinstance(mults, (list, tuple)) or not mults:
        raise ValueError(f"width_mults must be a non-empty list of positive numbers, got {mults!r}")
    base = {k: v for k, v in params.items() if k not in _SMOOTHGRAD_PARAMS}  # VanillaGrad only: EvalSpec defaults
    return [(m, {**base, "model": "simple_cnn", "model_options": width_options(params.get("model_options", {}), m),
                 "methods": ["vanilla_grad"]}) for m in mults]


def size_grids(params: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """Chapter 8's input-size grids as ``(image size, parameters)``: the ablation chapter's "input size" grids
    (:func:`spectral_lib.experiments.ablation_param_sets`: the simple CNN of depth 2, VanillaGrad) for
    ``params["image_sizes"]`` and the activations ``params["size_activation_specs"]``, so that the networks and
    records are shared with that chapter when its parameters agree."""
    from .experiments import ablation_param_sets

    acts = params["size_activation_specs"]
    if isinstance(acts, str) or not isinstance(acts, (list, tuple)) or not acts:
        raise ValueError(f"size_activation_specs must be a non-empty list of activation specs, got {acts!r}")
    base = {**{k: v for k, v in params.items() if k not in _SMOOTHGRAD_PARAMS}, "activations": list(acts),
            "depths": [], "skip_bn": [], "train_noise_stds": [], "train_blur_sigmas": [], "weight_decays": []}
    return [(int(label), p) for axis, label, p in ablation_param_sets(base) if axis == "input size"]


def width_size_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameter dicts of :func:`width_grids` and :func:`size_grids` (chapter 8's entry for
    ``config.PARAM_SETS``)."""
    return [d for _, d in width_grids(params)] + [d for _, d in size_grids(params)]


def check_grids(param_dicts: Sequence[dict[str, Any]], where: str = "") -> list[tuple[Any, Any]]:
    """Validate every grid point of ``param_dicts`` (each :class:`~spectral_lib.train.TrainConfig` and
    :class:`~spectral_lib.experiments.EvalSpec`) and build every distinct network once on the ``meta`` device (no
    memory, no data), so that a bad parameter (a width multiplier of 0, a permutation seed that is not an int, a
    depth too large for the image size) fails before anything trains. Returns the points; raises
    :class:`spectral_lib.params.ParameterError` naming ``where`` (e.g. the chapter) and the problem."""
    from .experiments import points_from_params
    from .params import ParameterError, check_model

    prefix = f"{where}: " if where else ""
    points, seen = [], set()
    for d in param_dicts:
        try:
            pts = points_from_params(d)
        except (ValueError, TypeError) as e:
            raise ParameterError(f"{prefix}invalid grid parameters: {e}") from None
        for config, _ in pts:
            ident = (config.model, config.activation, repr(sorted(config.model_options.items())), config.dataset,
                     config.image_size)
            if ident not in seen:
                seen.add(ident)
                try:
                    check_model(config.model, config.activation, config.model_options, config.dataset,
                                config.image_size)
                except ParameterError as e:
                    raise ParameterError(f"{prefix}{e}") from None
        points += pts
    return points
