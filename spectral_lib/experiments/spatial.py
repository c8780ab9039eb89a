"""The spatial-correlation chapter's measurements: a network's VanillaGrad EF in two pixel orders (as the network sees
its inputs, and in the image's own order), for networks trained on permuted pixels, and the per-network tables that
the chapter's statements (:mod:`spectral_lib.experiments.verdicts_spatial`) are computed from."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ..checks import check_tensor
from ..data import Condition, pixel_permutation, unpermute_pixels
from ..explain import predict, vanilla_grad
from ..spectral import expected_frequency, radial_profile, tail_exponent, to_map
from ..training import TrainConfig, load_for, train_or_load

__all__ = ["condition_permutation", "unpermuted_gradient_ef", "condition_inputs", "order_table", "theorem1_table",
           "ORDER_COLUMNS", "THEOREM1_COLUMNS"]

def condition_permutation(condition: Condition, height: int, width: int) -> torch.Tensor | None:
    """The (H*W,) pixel permutation of ``condition`` for H x W images (None for natural images)."""
    if condition.pixel_permutation is None:
        return None
    return pixel_permutation(height, width, condition.pixel_permutation)


def unpermuted_gradient_ef(model: torch.nn.Module, x: torch.Tensor, perm: torch.Tensor | None,
                           target: torch.Tensor | None = None) -> dict[str, dict[str, Any]]:
    """A network's VanillaGrad measured in two pixel orders: as the network sees its inputs (``"array"``: the order
    of ``x``, permuted for a network trained on permuted images) and in the image's own order (``"image"``: the map
    moved back with :func:`spectral_lib.data.unpermute_pixels`). For ``perm=None`` (natural images) the two
    are the same.

    x: (N, C, H, W) inputs in the network's order; perm: the (H*W,) permutation that made them
    (``permuted = image.flatten(2)[..., perm]``) or None; target: classes to explain (default: the predicted ones).
    Returns ``{"array": {...}, "image": {...}}``, each with ``maps`` (N, H, W) rank-normalised maps, ``ef`` and
    ``ef_nyquist`` (N,) per-map EF (paper definition, cycles/pixel) and ``tail_slope`` (the log-log slope of the
    mean spatial spectrum of the mean-removed gradients, as Theorem 1's ``grad_tail_slope``)."""
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


ORDER_COLUMNS = ["arm", "condition", "activation", "beta", "seed", "order", "ef", "ef_nyquist", "tail_slope",
                 "sg_gap", "epochs", "test_accuracy"]
THEOREM1_COLUMNS = ["arm", "condition", "activation", "beta", "seed", "line_tail_mass", "line_floor_mass",
                    "line_dtype", "line_tail_slope", "grad_tail_slope", "grad_ef", "grad_ef_nyquist",
                    "image_tail_slope", "image_ef"]


def condition_inputs(records: Sequence[dict]) -> torch.Tensor | None:
    """The test inputs (N, C, H, W) of a grid's networks, as they see them (permuted for a permuted condition): the
    test split of the first record's configuration; None for an empty grid."""
    if not records:
        return None
    cfg = TrainConfig(**records[0]["config"])
    return load_for(replace(cfg, augment=False)).test.tensors[0]


def _network(rec: dict, cache_dir: str | Path | None) -> torch.nn.Module:
    return train_or_load(TrainConfig(**rec["config"]), cache_dir, progress=False)[0]


def _sg_gap(rec: dict, scale: float) -> float:
    """|mean EF(SmoothGrad) - mean EF(VanillaGrad)| of one network (the paper's arithmetic on its images)."""
    if "smooth_grad" not in rec["ef"]:
        return math.nan
    sg, vg = (float(np.nanmean(np.asarray(rec["ef"][m], dtype=float))) for m in ("smooth_grad", "vanilla_grad"))
    return abs(sg - vg) * scale


def order_table(arm: str, condition: Condition, records: Sequence[dict], n_images: int,
                cache_dir: str | Path | None, scale: float = 1e5):
    """One row per (network, pixel order) of a spatial-correlation grid: the network's VanillaGrad on its first
    ``n_images`` test inputs, measured in array order and in image order (:func:`unpermuted_gradient_ef`; for
    natural images only ``"array"``, the two being the same). Columns :data:`ORDER_COLUMNS`: ``ef`` (paper EF,
    ``scale``d), ``ef_nyquist`` (cycles/pixel), ``tail_slope`` (log-log slope of the mean spatial spectrum),
    ``sg_gap`` (SmoothGrad's |ΔEF| in array order, ``scale``d; NaN without SmoothGrad), ``epochs`` and
    ``test_accuracy`` at the checkpoint. Returns a DataFrame (empty, with the columns, for no records)."""
    import pandas as pd

    rows = []
    x_all = condition_inputs(records)
    for rec in records:
        x = x_all[:n_images]
        perm = condition_permutation(condition, x.shape[-2], x.shape[-1])
        out = unpermuted_gradient_ef(_network(rec, cache_dir), x, perm)
        for order in (["array"] if perm is None else ["array", "image"]):
            o = out[order]
            rows.append({"arm": arm, "condition": condition.label, "activation": rec["activation"],
                         "beta": float(rec["beta"]), "seed": rec["seed"], "order": order,
                         "ef": float(o["ef"].double().nanmean()) * scale,
                         "ef_nyquist": float(o["ef_nyquist"].double().nanmean()), "tail_slope": o["tail_slope"],
                         "sg_gap": _sg_gap(rec, scale), "epochs": float(rec["train"]["epochs"]),
                         "test_accuracy": float(rec["train"]["test_accuracy"])})
    return pd.DataFrame(rows, columns=ORDER_COLUMNS)


def theorem1_table(arm: str, condition: Condition, records: Sequence[dict], n_images: int,
                   cache_dir: str | Path | None, scale: float = 1e5):
    """One row per network of a spatial-correlation Theorem-1 grid: the record's Theorem 1 numbers (array order:
    ``line_tail_mass``, ``line_floor_mass`` (its measurement floor), ``line_dtype``, ``line_tail_slope``,
    ``grad_tail_slope``, ``grad_ef`` (``scale``d), ``grad_ef_nyquist``) and the gradient in image order on the same
    ``n_images`` inputs (``image_tail_slope``, ``image_ef`` (``scale``d); equal to the array-order values for
    natural images). The line tail mass does not depend on the pixel order (isotropic random directions). Columns
    :data:`THEOREM1_COLUMNS`; a DataFrame."""
    import pandas as pd

    rows = []
    x_all = condition_inputs(records)
    for rec in records:
        x = x_all[:n_images]
        out = unpermuted_gradient_ef(_network(rec, cache_dir), x, condition_permutation(condition, *x.shape[-2:]))
        t1 = rec["theorem1"]
        rows.append({"arm": arm, "condition": condition.label, "activation": rec["activation"],
                     "beta": float(rec["beta"]), "seed": rec["seed"], "line_tail_mass": t1["line_tail_mass"],
                     "line_floor_mass": t1.get("line_floor_mass", math.nan),
                     "line_dtype": t1.get("line_dtype", "float32"),
                     "line_tail_slope": t1["line_tail_slope"], "grad_tail_slope": t1["grad_tail_slope"],
                     "grad_ef": t1["grad_ef"] * scale, "grad_ef_nyquist": t1["grad_ef_nyquist"],
                     "image_tail_slope": out["image"]["tail_slope"],
                     "image_ef": float(out["image"]["ef"].double().nanmean()) * scale})
    return pd.DataFrame(rows, columns=THEOREM1_COLUMNS)
