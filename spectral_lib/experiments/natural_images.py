"""The natural-image chapters' grids: CIFAR-10 (chapter 7: EF against beta, the gap table, the JPEG effect on
digits) and Table A on Imagenette (chapter 8: the six rows at 224 px, the input-size ablation). Each function maps a
chapter's parameters to the parameter dicts fed to :func:`~spectral_lib.experiments.points_from_params`; the same
functions are the chapters' entries of :data:`spectral_lib.companion.profiles.PARAM_SETS`, so the book and the
sweep list the same grid points. The sentences stating these chapters' outcomes are in
:mod:`.natural_verdicts`."""
from __future__ import annotations

from typing import Any

from ..checks import ParameterError
from ..data import DATASETS

__all__ = ["TABLE_A_METHODS", "table_a_grids", "table_a_param_sets", "cifar10_grids", "cifar10_param_sets",
           "jpeg_effect_grids", "ablation_depth"]

# The six rows of Table A, in the paper's order, as the methods that compute them (explain.PAPER_ROWS)
TABLE_A_METHODS = ("vanilla_grad", "smooth_grad", "captum_integrated_gradients", "captum_guided_backprop",
                   "captum_deeplift", "captum_guided_grad_cam")


def _err(where: str, name: str, value: Any, expected: str) -> ParameterError:
    prefix = f"{where}: " if where else ""
    return ParameterError(f"{prefix}parameter {name!r} = {value!r} is invalid: expected {expected}")


def ablation_depth(size_depths: Any, size: int, where: str = "") -> int:
    """The simple CNN's depth at input size ``size`` from the mapping ``size_depths`` (size -> depth; YAML may give
    the keys as ints or strings). Raises ParameterError naming ``size_depths``."""
    if not isinstance(size_depths, dict):
        raise _err(where, "size_depths", size_depths, "a mapping input size -> depth, e.g. {112: 6, 64: 5}")
    for k, v in size_depths.items():
        if str(k) == str(size):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1 or 2**v > size:
                raise _err(where, "size_depths", size_depths, f"a depth d >= 1 with 2**d <= {size} for size {size}")
            return v
    raise _err(where, "size_depths", size_depths, f"a depth for every size of size_ablation (missing {size})")


def table_a_grids(params: dict[str, Any], where: str = "") -> list[tuple[int, dict[str, Any]]]:
    """Chapter 8's grids as ``(input size, parameters)``: first Table A itself (``image_size``, the chapter's
    ``model_options`` and ``methods``), then one per size of ``size_ablation`` with the simple CNN's depth from
    ``size_depths`` (same activations, seeds, training rules and methods)."""
    sizes = params.get("size_ablation") or []
    if not isinstance(sizes, (list, tuple)) or any(isinstance(s, bool) or not isinstance(s, int) or s < 8
                                                   for s in sizes):
        raise _err(where, "size_ablation", sizes, "a list of input sizes in pixels (>= 8), e.g. [112, 64], or []")
    main = params.get("image_size") or 224
    out = [(main, dict(params))]
    for s in sizes:
        if s == main:
            continue
        options = {**dict(params.get("model_options") or {}), "depth": ablation_depth(params.get("size_depths"), s,
                                                                                      where)}
        out.append((s, {**params, "image_size": s, "model_options": options}))
    return out


def table_a_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The parameter dicts of :func:`table_a_grids` (chapter 8's entry of ``PARAM_SETS``); none when
    ``train_missing`` is false (the quick book only shows Table A's networks if they are already in the cache, so a
    sweep of that profile must not train them either)."""
    if params.get("train_missing", True) is False:
        return []
    return [d for _, d in table_a_grids(params)]


def cifar10_grids(params: dict[str, Any], where: str = "") -> dict[str, dict[str, Any]]:
    """Chapter 7's CIFAR-10 grids by name: ``"ef"`` (every activation and seed, VanillaGrad and SmoothGrad on
    ``n_images`` test images) and ``"gap"`` (the activations of ``gap_specs``, first seed, every method of
    ``gap_methods`` on ``gap_images`` images: the same networks, evaluated once more)."""
    gap_acts = params.get("gap_specs") or []
    unknown = [a for a in gap_acts if a not in params.get("activations", [])]
    if unknown:
        raise _err(where, "gap_specs", gap_acts, f"activations of the chapter's grid {params.get('activations')}")
    grids = {"ef": {**params, "methods": ["vanilla_grad", "smooth_grad"]}}
    if gap_acts:
        grids["gap"] = {**params, "activations": list(gap_acts), "seeds": list(params["seeds"])[:1],
                        "methods": list(params["gap_methods"]), "n_images": params.get("gap_images",
                                                                                       params["n_images"])}
    return grids


def jpeg_effect_grids(params: dict[str, Any], where: str = "") -> dict[str, dict[str, Any]]:
    """Chapter 7's measurement of what the JPEG copies do, on digits: per dataset of ``jpeg_datasets`` (mnist5k as
    shipped, after a JPEG round trip, after a resize round trip), the same EF-vs-beta grid (``jpeg_specs``,
    ``jpeg_seeds``) under the digit chapters' training and evaluation rules (``jpeg_train``: model options, cap,
    epochs, lr, lr_gamma, n_images, ...; with the EF-vs-beta chapter's values the mnist5k networks and records are
    that chapter's). VanillaGrad and SmoothGrad unless ``jpeg_train`` sets ``methods``."""
    names = params.get("jpeg_datasets") or []
    bad = [n for n in names if n not in DATASETS]
    if bad:
        raise _err(where, "jpeg_datasets", names, f"dataset names from {list(DATASETS)}")
    train = dict(params.get("jpeg_train") or {})
    base = {k: v for k, v in params.items() if k not in ("n_train", "augment", "image_size", "lr_by_activation")}
    return {n: {**base, "methods": ["vanilla_grad", "smooth_grad"], **train, "dataset": n,
                "activations": list(params["jpeg_specs"]), "seeds": list(params["jpeg_seeds"])} for n in names}


def cifar10_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every parameter dict of chapter 7 (its entry of ``PARAM_SETS``): the CIFAR-10 grids, then the JPEG-effect
    grids when ``jpeg_datasets`` is set."""
    out = list(cifar10_grids(params).values())
    if params.get("jpeg_datasets"):
        out += list(jpeg_effect_grids(params).values())
    return out
