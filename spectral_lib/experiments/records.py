"""Records (what :func:`~spectral_lib.experiments.run_point` returns, one per network) as tables: tidy frames, means
per method and activation, the paper's gap arithmetic, the networks that missed the cap, NaN counts."""
from __future__ import annotations

import json
import math
from typing import Iterable

import numpy as np

from ..explain import METHODS

__all__ = ["records_to_frame", "method_means", "paper_gap_table", "split_capped", "network_means", "nan_count",
           "dedupe"]

def records_to_frame(records: list[dict], metric: str = "ef", scale: float = 1.0):
    """Tidy pandas DataFrame: one row per (record, method, image) with columns activation, beta, seed, method,
    ``metric`` (scaled), test_accuracy, cap_reached, epochs. ``metric``: ef, ef_nyquist, gap_ef, gap_ef_nyquist or gap_l2
    (the radial-spectrum L2 distance)."""
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


def method_means(records: list[dict], metric: str = "ef", scale: float = 1e5):
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
    means = method_means(records, ef_metric, scale)
    if "vanilla_grad" not in means.index:
        raise ValueError("paper_gap_table needs VanillaGrad in the records' methods (the gap's reference)")
    return (means - means.loc["vanilla_grad"]).abs()


def split_capped(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """The authors' rule for networks that never passed the accuracy cap: they are dropped. Returns
    ``(kept, dropped)``: records whose training reached the cap, and the others (to be listed, not averaged)."""
    kept = [r for r in records if r["train"]["cap_reached"]]
    return kept, [r for r in records if not r["train"]["cap_reached"]]


def nan_count(records: Iterable[dict], metric: str = "ef", method: str = "vanilla_grad") -> int:
    """How many per-image values of ``metric`` for ``method`` are NaN (a constant map has no spectrum to weigh):
    averages skip them, so chapters show the count instead of hiding it."""
    return int(sum(int(np.isnan(np.asarray(r[metric][method], dtype=float)).sum())
                   for r in records if method in r[metric]))


def network_means(records: Iterable[dict], metric: str = "ef", method: str = "vanilla_grad", scale: float = 1.0):
    """One row per network (record): activation, beta, seed and the mean of ``metric`` over its images (NaN values
    skipped, counted in column ``nan``), ``scale``d. Returns a DataFrame."""
    import pandas as pd

    rows = []
    for r in records:
        v = np.asarray(r[metric][method], dtype=float) * scale
        rows.append({"activation": r["activation"], "beta": r["beta"], "seed": r["seed"],
                     "value": float(np.nanmean(v)) if np.isfinite(v).any() else math.nan,
                     "nan": int(np.isnan(v).sum())})
    return pd.DataFrame(rows, columns=["activation", "beta", "seed", "value", "nan"])


def dedupe(records: Iterable[dict]) -> list[dict]:
    """Records with each (network, method) measured once: a network evaluated in two grids (same config, same images)
    keeps the first grid's measurement of a method; later ones keep only the methods not seen yet."""
    seen: set[tuple[str, str]] = set()
    out = []
    for r in records:
        net = json.dumps(r["config"], sort_keys=True, default=str) + f"|{len(r['ef'].get('vanilla_grad', []))}"
        keep = [m for m in r["ef"] if (net, m) not in seen]
        seen.update((net, m) for m in keep)
        if keep:
            out.append({**r, **{k: {m: v for m, v in r[k].items() if m in keep}
                                for k in ("ef", "ef_nyquist", "gap_ef", "gap_ef_nyquist", "gap_l2") if k in r}})
    return out
