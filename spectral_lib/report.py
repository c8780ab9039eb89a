"""What chapters compute from their records: correlations, summary tables and the verdict sentences.

Every sentence in the book that states an outcome of a run is produced here from the numbers, never typed by hand,
so that a rerun with other parameters states *its* outcome. Records are :func:`spectral_lib.experiments.run_point`
dicts. Tables are pandas DataFrames.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["save_table", "spearman", "network_means", "ef_vs_beta_table", "ef_beta_correlation", "training_table",
           "dropped_note", "markdown", "fmt", "nan_count", "describe_correlation"]


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation of two equally long sequences (average ranks for ties, ``inf`` allowed: it ranks
    last). ``nan`` when either side is constant or has fewer than 2 values (no ordering to correlate)."""
    from scipy.stats import rankdata

    a, b = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"spearman needs sequences of equal length, got {a.shape} and {b.shape}")
    if len(a) < 2 or np.isnan(a).any() or np.isnan(b).any():
        return math.nan
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


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


def ef_vs_beta_table(records: Iterable[dict], metric: str = "ef", method: str = "vanilla_grad",
                     scale: float = 1e5):
    """Per activation (smoothest first, ReLU last): mean and std over networks of the per-network mean ``metric``,
    the number of networks, and NaN images skipped. Returns a DataFrame indexed by activation name."""
    per_net = network_means(records, metric, method, scale)
    g = per_net.groupby(["beta", "activation"], sort=True)
    table = g["value"].agg(["mean", "std", "count"]).join(g["nan"].sum())
    return table.reset_index(level="beta").rename(columns={"count": "networks", "nan": "NaN images"})


def ef_beta_correlation(records: Iterable[dict], metric: str = "ef", method: str = "vanilla_grad") -> dict[str, float]:
    """The EF-vs-beta relation as numbers: ``per_beta`` is the Spearman correlation between beta (ReLU = inf) and
    the per-beta mean of the networks' mean EF (the criterion of the fidelity issue); ``per_network`` the same over
    every network; ``n_betas`` and ``n_networks`` how many points each used."""
    per_net = network_means(records, metric, method)
    per_beta = per_net.groupby("beta")["value"].mean()
    return {"per_beta": spearman(per_beta.index, per_beta.values),
            "per_network": spearman(per_net["beta"], per_net["value"]),
            "n_betas": int(len(per_beta)), "n_networks": int(len(per_net))}


def training_table(records: Iterable[dict]):
    """One row per network: activation, seed, learning rate, whether it passed the cap, epochs, test and train
    accuracy at the checkpoint, training seconds."""
    import pandas as pd

    return pd.DataFrame([{
        "activation": r["activation"], "seed": r["seed"], "lr": r["config"]["lr"],
        "cap reached": bool(r["train"]["cap_reached"]), "epochs": r["train"]["epochs"],
        "test acc": r["train"]["test_accuracy"], "train acc": r["train"]["train_accuracy"],
        "seconds": r["train"]["seconds"]} for r in records])


def dropped_note(dropped: Sequence[dict], total: int, cap: float | None) -> str:
    """A sentence stating how many networks missed the cap and which (the authors drop them silently; we say so)."""
    if not dropped:
        return f"All {total} networks passed the accuracy cap ({fmt(cap)}); none was dropped."
    which = ", ".join(f"{r['activation']} seed {r['seed']} (test accuracy {r['train']['test_accuracy']:.3f} after "
                      f"{r['train']['epochs']:g} epochs)" for r in dropped)
    return (f"{len(dropped)} of {total} networks never passed the accuracy cap ({fmt(cap)}) and are dropped from "
            f"the figures and tables below, as the authors' code drops them: {which}.")


def describe_correlation(rho: float) -> str:
    """Words for a rank correlation: 'strongly positive' (>= 0.8), 'positive' (> 0.3), ... 'undefined' (NaN)."""
    if rho is None or math.isnan(rho):
        return "undefined"
    for lo, word in ((0.8, "strongly positive"), (0.3, "positive"), (-0.3, "weak"), (-0.8, "negative")):
        if rho >= lo if lo > 0 else rho > lo:
            return word
    return "strongly negative"


def fmt(x: Any, digits: int = 3) -> str:
    """A number for prose: ``None`` -> 'none', NaN -> 'n/a', ints as they are, floats to ``digits`` significant
    decimals (``%.{digits}g``), signed correlations with an explicit sign when ``digits`` is given as 2."""
    if x is None:
        return "none"
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def markdown(text: str) -> None:
    """Display ``text`` as Markdown in the executed notebook (the book shows it as prose). Returns None, so that a
    call at the end of a cell is not displayed twice."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def save_table(table, name: str):
    """Save a chapter's table as ``<name>.csv`` for the book's downloads and return it (display it as usual).

    Written atomically into ``$SPECTRAL_LIB_TABLES`` (set by the book command to the chapter's tables folder); when
    that is unset (a notebook run by hand) nothing is written. ``name``: letters, digits, '-' and '_'."""
    import os
    import re

    from .cache import atomic_write

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"name must be letters, digits, '-' or '_', got {name!r}")
    folder = os.environ.get("SPECTRAL_LIB_TABLES")
    if folder:
        atomic_write(os.path.join(folder, f"{name}.csv"), table.to_csv())
    return table
