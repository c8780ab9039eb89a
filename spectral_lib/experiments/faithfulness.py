"""Faithfulness measured independently of EF, per (network, method): the Quantus suite of
:mod:`spectral_lib.metrics.faithfulness` on a grid point's network and images, cached by configuration, and its
tables (one row per network x method, with the gradient-form gap, EF and Delta EF of the same images beside the
Quantus scores). The sentences that state the outcome are in :mod:`.verdicts_faithfulness`.

A point's faithfulness entry reuses the attributions that :func:`~spectral_lib.experiments.points.run_point`
computes for its record when both are computed in one go (a cold build explains each image once); when the record is
already cached the attributions are recomputed exactly as the record's (same options, same SmoothGrad seed) by
:func:`~spectral_lib.experiments.points.point_inputs`. Entries live under ``cache_dir/faithfulness``, keyed by the
point's key, the suite's settings, the number of images, the methods that get the randomisation tests and whether
the random-map control is scored, so a rebuild costs file reads.
"""
from __future__ import annotations

import json
import math
import time
from typing import Any, Collection, Iterable, Sequence

import numpy as np
import torch

from .. import cache
from ..checks import check_positive_int
from ..explain import METHODS, method_label, parse_method_spec
from ..metrics.faithfulness import (DIRECTION, RANDOM_MAP, FaithfulnessSettings, faithfulness_scores,
                                    quantus_explain_func, random_map, random_map_explain_func)
from .points import _method_options, point_inputs, point_key, run_point

__all__ = ["FAITHFULNESS", "CHEAP_METHODS", "faithfulness_key", "run_faithfulness", "faithfulness_table",
           "metric_pivot", "method_display", "RECORD_COLUMNS"]

FAITHFULNESS = "faithfulness"  # cache namespace
# Methods whose explanation costs a few backward passes: the randomisation tests (which explain every image again,
# for a randomised model or another class) run on these by default. SmoothGrad (64 passes), Integrated Gradients
# (32-50) and captum's DeepLift (about 70 forward-pass equivalents here) are left out to keep the budget.
CHEAP_METHODS = ("vanilla_grad", "grad_cam", "guided_grad_cam", "guided_backprop", "captum_guided_backprop",
                 "captum_guided_grad_cam", "deeplift", "beta_smooth_grad", "lowpass_grad")
# columns of faithfulness_table taken from the records (means over the same images as the Quantus scores)
RECORD_COLUMNS = {"gap_grad_l2": "gap_grad_l2", "gap_grad_rank_l2": "gap_grad_rank_l2", "ef_paper": "ef",
                  "ef_tiebreak": "ef_tiebreak", "ef_nyquist": "ef_nyquist", "tie_fraction": "tie_fraction"}


def _randomised(methods: Iterable[str], randomised: Collection[str]) -> list[str]:
    return [m for m in methods if m in randomised or parse_method_spec(m)[0] in randomised]


def faithfulness_key(config, spec, settings: FaithfulnessSettings, n_images: int, randomised: Sequence[str],
                     control: bool) -> dict:
    """The cache key (plain data) of a point's faithfulness entry."""
    return {"point": point_key(config, spec), "settings": settings.key(), "n_images": int(n_images),
            "randomised": sorted(randomised), "control": bool(control), "version": 1}


def run_faithfulness(points: Sequence[tuple[Any, Any]], settings: FaithfulnessSettings, cache_dir,
                     n_images: int = 50, randomised: Collection[str] = CHEAP_METHODS, control: bool = True,
                     progress: bool = True) -> tuple[list[dict], list[dict | None]]:
    """Records and faithfulness entries of ``points`` (as from ``points_from_params``), aligned.

    Each record is :func:`run_point`'s. Each entry is None for a network that missed its accuracy cap (dropped, as
    the authors drop it; a network trained without a cap is kept), else ``{"scores": {method: {metric: (n,)
    float64 tensor}}, "n_images": n, "seconds": s, "explain_seconds": s, "randomised": [...]}``: the Quantus scores
    of the first ``n = min(n_images, spec.n_images)`` of the record's images for every method of the point (and
    :data:`RANDOM_MAP`, the model-independent control, when ``control``), the randomisation metrics only for the
    methods in ``randomised`` (names or specs; the control always); ``seconds``: what the Quantus suite took when
    the entry was computed, ``explain_seconds``: what recomputing the attributions took (0 when the record was
    computed in the same call). Cached (see the module docstring).
    Raises ValueError for a bad ``n_images`` before any work."""
    check_positive_int("n_images", n_images)
    settings = settings.validate()
    for i, m in enumerate(randomised):
        if m not in METHODS:
            try:
                parse_method_spec(m)
            except (TypeError, ValueError) as e:
                raise ValueError(f"randomised[{i}] = {m!r} is not a method name or spec: {e}") from None
    from tqdm import tqdm

    records, entries = [], []
    for config, spec in tqdm(points, desc="faithfulness", disable=not progress):
        keep: dict[str, Any] = {}
        rec = run_point(config, spec, cache_dir, progress=progress, keep=keep)
        records.append(rec)
        if config.accuracy_cap is not None and not rec["train"]["cap_reached"]:
            entries.append(None)
            continue
        methods = list(dict.fromkeys(["vanilla_grad", *spec.methods]))
        rand = _randomised(methods, randomised)
        n = min(n_images, spec.n_images)

        def compute(config=config, spec=spec, keep=keep, methods=methods, rand=rand, n=n) -> dict:
            t0 = time.perf_counter()
            inp = keep or point_inputs(config, spec, cache_dir)
            t1 = time.perf_counter()
            x, target = inp["x"][:n], inp["target"][:n]
            attrs = {m: inp["attributions"][m][:n] for m in methods}
            funcs = {m: quantus_explain_func(m, _options_factory(m, spec)) for m in rand}
            if control:
                attrs[RANDOM_MAP] = random_map(x.cpu().numpy(), settings.seed)
                funcs[RANDOM_MAP] = random_map_explain_func(settings.seed)
            scores = faithfulness_scores(inp["model"], x, target, attrs, funcs, settings)
            scores = {m: {k: torch.as_tensor(v, dtype=torch.float64) for k, v in d.items()}
                      for m, d in scores.items()}  # tensors: the cache loads with weights_only
            return {"scores": scores, "n_images": n, "seconds": time.perf_counter() - t1, "randomised": rand,
                    "explain_seconds": t1 - t0}

        key = faithfulness_key(config, spec, settings, n, rand, control)
        entries.append(cache.memoize(cache_dir, FAITHFULNESS, key, compute))
    return records, entries


def _options_factory(method: str, spec):
    name, _ = parse_method_spec(method)
    return lambda x: _method_options(name, spec, x)  # a fresh, seeded SmoothGrad generator per call


def method_display(method: str) -> str:
    """Display name of a method spec in the faithfulness tables: :func:`method_label` for the post-hoc transforms
    and SmoothGrad, the spec itself for the others (``captum_deeplift`` and ``deeplift`` must stay apart), and
    ``"random map (control)"`` for the control."""
    if method == RANDOM_MAP:
        return "random map (control)"
    name, options = parse_method_spec(method)
    return method_label(method) if options or name in ("vanilla_grad", "smooth_grad") else method


def faithfulness_table(records: Sequence[dict], entries: Sequence[dict | None]):
    """One row per (network, method) of the entries (a network measured in several grids counts once per method,
    its first grid's measurement kept), ordered by network then method: ``activation, beta, seed, method, label,
    n_images``, the mean of every Quantus score (columns named after the Quantus classes; NaN where a metric did not
    run for the method), ``<metric>_nan`` where some image scored NaN, and from the records, over the *same* first
    ``n_images`` images: ``gap_grad_l2``, ``gap_grad_rank_l2`` (the gradient-form gap, raw and on rank maps),
    ``ef_paper``, ``ef_tiebreak``, ``ef_nyquist`` (EF x1, not scaled), ``tie_fraction`` and ``delta_ef`` = |mean
    EF(method) - mean EF(VanillaGrad)| (paper EF, the paper's arithmetic). The control row has NaN record columns.
    Returns a DataFrame with a plain integer index (the scorecard reads the columns)."""
    import pandas as pd

    rows, seen = [], set()
    for rec, entry in zip(records, entries):
        if entry is None:
            continue
        n = int(entry["n_images"])
        net = json.dumps(rec["config"], sort_keys=True, default=str)
        ef_vg = _head_mean(rec["ef"]["vanilla_grad"], n)
        for method, scores in entry["scores"].items():
            if (net, method) in seen:
                continue
            seen.add((net, method))
            row: dict[str, Any] = {"activation": rec["activation"], "beta": float(rec["beta"]),
                                   "seed": int(rec["seed"]), "method": method, "label": method_display(method),
                                   "n_images": n}
            for metric, values in scores.items():
                v = np.asarray(values, dtype=float)
                row[metric] = float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
                if np.isnan(v).any():
                    row[f"{metric}_nan"] = int(np.isnan(v).sum())
            for col, key in RECORD_COLUMNS.items():
                row[col] = _head_mean(rec[key][method], n) if key in rec and method in rec[key] else math.nan
            row["delta_ef"] = abs(row["ef_paper"] - ef_vg) if method != RANDOM_MAP else math.nan
            rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["activation", "beta", "seed", "method", "label", "n_images"])
    df = pd.DataFrame(rows)
    metrics = [m for m in DIRECTION if m in df.columns]
    nan_cols = [c for c in df.columns if c.endswith("_nan")]
    if nan_cols:
        df[nan_cols] = df[nan_cols].fillna(0).astype(int)
    head = ["activation", "beta", "seed", "method", "label", "n_images"]
    tail = [c for c in df.columns if c not in head + metrics]
    return df[head + metrics + tail].reset_index(drop=True)


def _head_mean(values, n: int) -> float:
    v = np.asarray(values, dtype=float)[:n]
    return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan


def metric_pivot(table, column: str):
    """``column`` of :func:`faithfulness_table` as a method x activation table (mean over seeds), methods in the
    table's order, activations from smoothest (lowest beta) to ReLU."""
    if table.empty or column not in table.columns:
        import pandas as pd

        return pd.DataFrame()
    order = table.drop_duplicates("activation").sort_values("beta")["activation"].tolist()
    methods = list(dict.fromkeys(table["label"]))
    pv = table.pivot_table(index="label", columns="activation", values=column, aggfunc="mean", dropna=False)
    return pv.reindex(index=methods, columns=order)
