"""The ablation chapter's table and statements (chapter 6): per setting (an axis and a value), the SP network's mean
VanillaGrad EF relative to the ReLU network's, with an interval over seeds where there are several; across settings,
the geometric-mean ratio with a bootstrap interval over the *distinct* settings (a network shared by several axes,
e.g. depth 2 = noise 0 = blur 0 = L2 0, counts once) and a sign test of "below 1"."""
from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

from .stats import Interval, bootstrap_mean_ci, bootstrap_ratio_ci, sign_test
from .verdicts import CANNOT_TELL, interval_verdict

__all__ = ["ablation_rows", "ablation_ratios", "ablation_sentences", "setting_id", "ABLATION_METRICS"]

ABLATION_METRICS = {"EF x1e5": "the paper's EF", "EF nyquist": "the Nyquist EF"}


def setting_id(config: dict) -> str:
    """A training setting's identity: the configuration without activation, seed and learning rate (the networks
    of one setting differ only in those), as a JSON string."""
    return json.dumps({k: v for k, v in config.items() if k not in ("activation", "seed", "lr")}, sort_keys=True,
                      default=str)


def ablation_rows(axis: str, value: str, records: Sequence[dict]) -> list[dict]:
    """One row per kept network of one ablation grid: ``axis``, ``value``, ``setting`` (:func:`setting_id`),
    ``activation``, ``seed``, ``test acc``, ``epochs``, ``EF x1e5`` and ``EF nyquist`` (the network's mean VanillaGrad
    EF over its images, NaN images skipped; NaN when every image is NaN)."""
    rows = []
    for r in records:
        ef = np.asarray(r["ef"]["vanilla_grad"], dtype=float)
        efn = np.asarray(r["ef_nyquist"]["vanilla_grad"], dtype=float)
        rows.append({"axis": axis, "value": value, "setting": setting_id(r["config"]), "activation": r["activation"],
                     "seed": r["seed"], "test acc": float(r["train"]["test_accuracy"]),
                     "epochs": float(r["train"]["epochs"]),
                     "EF x1e5": float(np.nanmean(ef)) * 1e5 if np.isfinite(ef).any() else math.nan,
                     "EF nyquist": float(np.nanmean(efn)) if np.isfinite(efn).any() else math.nan})
    return rows


def ablation_ratios(df, reference: str = "ReLU", metrics: Sequence[str] = tuple(ABLATION_METRICS)):
    """Per (axis, value, activation other than ``reference``) and metric: the ratio of the activation's mean EF to
    the reference's at that setting, with a bootstrap interval over seeds (:func:`bootstrap_ratio_ci`; no interval
    with one seed). Columns: axis, value, setting, activation, metric, ratio, low, high, seeds. ``df``: the rows of
    :func:`ablation_rows`. Settings without a reference network are left out."""
    import pandas as pd

    cols = ["axis", "value", "setting", "activation", "metric", "ratio", "low", "high", "seeds"]
    rows = []
    if df is None or not len(df):
        return pd.DataFrame(columns=cols)
    for (axis, value), sub in df.groupby(["axis", "value"], sort=False):
        ref = sub[sub["activation"] == reference]
        if not len(ref):
            continue
        for act in [a for a in sub["activation"].unique() if a != reference]:
            other = sub[sub["activation"] == act]
            for m in metrics:
                iv = bootstrap_ratio_ci(other[m], ref[m])
                rows.append({"axis": axis, "value": value, "setting": sub["setting"].iloc[0], "activation": act,
                             "metric": m, "ratio": iv.value, "low": iv.low, "high": iv.high, "seeds": iv.n})
    return pd.DataFrame(rows, columns=cols)


def _across(ratios) -> tuple:
    """Distinct settings' ratios -> (geometric-mean interval over settings, sign test below 1, n distinct, NaN)."""
    distinct = ratios.drop_duplicates("setting")
    r = distinct["ratio"].to_numpy(float)
    ok = r[np.isfinite(r) & (r > 0)]
    iv = bootstrap_mean_ci(np.log(ok)) if len(ok) else None
    return iv, sign_test(ok, 1.0), len(distinct), int(len(r) - len(ok))


def ablation_sentences(df, reference: str = "ReLU") -> str:
    """The ablation chapter's "This run" paragraph: per activation and EF definition, how many distinct settings
    have a ratio below 1 (sign test p), the geometric-mean ratio over the distinct settings with a bootstrap
    interval over them ("lower" only when it lies below 1), the settings whose ratio is at or above 1, and per
    setting whether an interval over seeds decides (with one seed it cannot: said so)."""
    ratios = ablation_ratios(df, reference)
    if not len(ratios):
        return f"**This run.** No setting has both a {reference} network and another kept network: nothing to compare."
    lines = []
    for (act, m), sub in ratios.groupby(["activation", "metric"], sort=False):
        iv, st, n_distinct, n_nan = _across(sub)
        head = f"* **{act} / {reference}, {ABLATION_METRICS.get(m, m)}**: "
        if iv is None:
            lines.append(head + "no finite ratio (NaN EF) in any setting.")
            continue
        geo = Interval(math.exp(iv.value), math.exp(iv.low) if np.isfinite(iv.low) else math.nan,
                       math.exp(iv.high) if np.isfinite(iv.high) else math.nan, iv.n, iv.level)
        p = "n/a" if math.isnan(st["p"]) else f"{st['p']:.2g}"
        text = (head + f"below 1 at {st['below']} of {st['n']} distinct settings (sign test p = {p}); geometric mean "
                f"over the settings {interval_verdict(geo, 'higher than ' + reference, 'lower than ' + reference, 1.0)}")
        if n_nan:
            text += f"; {n_nan} setting(s) left out (NaN EF)"
        at_or_above = sub[sub["ratio"] >= 1].drop_duplicates("setting")
        if len(at_or_above):
            text += "; at or above 1: " + ", ".join(f"{r.axis} {r.value} ({r.ratio:.2f})"
                                                    for r in at_or_above.itertuples())
        decided = sub[(sub["high"] < 1) | (sub["low"] > 1)].drop_duplicates("setting")
        if sub["seeds"].max() < 2:
            text += ". One seed per setting: no setting's ratio has an interval, so the run cannot tell whether " \
                    "any axis changes the ratio"
        else:
            text += (f". Per setting, the interval over seeds excludes 1 at {len(decided)} of "
                     f"{sub['setting'].nunique()} settings; elsewhere {CANNOT_TELL}")
        lines.append(text + ".")
    return ("**This run.** The SP network's mean VanillaGrad EF relative to the ReLU network's at the same setting "
            "(one ratio per distinct network pair; intervals: 95% bootstrap).\n\n" + "\n".join(lines))
