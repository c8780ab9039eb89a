"""The spectral-penalty chapter's tables and statements (chapter 12): per training setting (plain ReLU, ReLU + the
penalty at a strength, SP(beta)), the networks' VanillaGrad EF, the penalty's own target (the tail share of the raw
gradient's spectrum) beside the tail share of the rank-normalised maps, epochs to the cap and the benchmarked cost;
which family reaches the lower EF within the same training cost, decided only by an interval over seeds."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .stats import bootstrap_diff_ci, bootstrap_ratio_ci
from .tradeoff import pareto_front, setting_family, setting_label
from .verdicts import CANNOT_TELL, fmt, interval_verdict

__all__ = ["network_table", "summary_table", "effect_sentences", "budget_sentences", "accuracy_sentence"]

_ORDER = {"ReLU": 0, "penalty": 1, "SP": 2, "Gaussian": 3, "other": 4}


def network_table(records: Sequence[dict], raw_tails: Sequence[float], map_tails: Sequence[float], scale=1e5):
    """One row per network: setting (:func:`setting_label`), family, beta, penalty (strength), seed, ``EF`` (mean
    VanillaGrad paper EF, ``scale``d; NaN images skipped), ``raw tail`` (the penalty's target, per record, from
    :func:`spectral_lib.experiments.penalty_cost.raw_tail_shares`), ``map tail`` (tail share of the rank-normalised
    maps' mean spectrum), epochs, test acc, seconds (recorded)."""
    import pandas as pd

    if not (len(records) == len(raw_tails) == len(map_tails)):
        raise ValueError(f"network_table needs one raw and one map tail share per record, got {len(records)}, "
                         f"{len(raw_tails)} and {len(map_tails)}")
    rows = []
    for r, raw, mp in zip(records, raw_tails, map_tails):
        ef = np.asarray(r["ef"]["vanilla_grad"], dtype=float)
        rows.append({"setting": setting_label(r), "family": setting_family(r), "beta": float(r["beta"]),
                     "penalty": float(r["config"].get("penalty_strength", 0.0) or 0.0), "seed": r["seed"],
                     "EF": float(np.nanmean(ef)) * scale if np.isfinite(ef).any() else math.nan,
                     "raw tail": float(raw), "map tail": float(mp), "epochs": float(r["train"]["epochs"]),
                     "test acc": float(r["train"]["test_accuracy"]), "seconds": float(r["train"]["seconds"])})
    return pd.DataFrame(rows, columns=["setting", "family", "beta", "penalty", "seed", "EF", "raw tail", "map tail",
                                       "epochs", "test acc", "seconds"])


def summary_table(nets, bench=None):
    """One row per setting (seeds pooled), ordered ReLU, penalty (by strength), SP (smoothest last): family, beta,
    penalty, networks, EF mean and std, raw tail and map tail means, epochs, test acc, seconds (recorded, mean), and
    with ``bench`` (a DataFrame indexed by setting with ``s/epoch``, from
    :func:`~spectral_lib.experiments.penalty_cost.benchmark_settings`) ``bench s/epoch`` and ``cost`` (= mean epochs
    x benchmarked s/epoch)."""
    import pandas as pd

    if nets is None or not len(nets):
        return pd.DataFrame()
    g = nets.groupby("setting", sort=False)
    t = g.agg(family=("family", "first"), beta=("beta", "first"), penalty=("penalty", "first"),
              networks=("EF", "size"), **{"EF mean": ("EF", "mean"), "EF std": ("EF", "std"),
                                          "raw tail": ("raw tail", "mean"), "map tail": ("map tail", "mean"),
                                          "epochs": ("epochs", "mean"), "test acc": ("test acc", "mean"),
                                          "seconds": ("seconds", "mean")})
    if bench is not None and len(bench):
        t["bench s/epoch"] = [float(bench["s/epoch"].get(s, math.nan)) for s in t.index]
        t["cost"] = t["epochs"] * t["bench s/epoch"]
    key = [(_ORDER.get(f, 9), p if f == "penalty" else -b if np.isfinite(b) else 0.0)
           for f, p, b in zip(t["family"], t["penalty"], t["beta"])]
    return t.iloc[sorted(range(len(t)), key=lambda i: key[i])]


def accuracy_sentence(summary, cap) -> str:
    """Every kept network stopped at the first epoch end past the cap: the settings' mean accuracies' range."""
    if summary is None or not len(summary):
        return "**This run.** No network passed the cap: nothing to compare."
    acc = summary["test acc"]
    return (f"**This run.** Every kept network stopped at the first epoch end past the cap ({fmt(cap)}); the "
            f"settings' mean test accuracies range from {acc.min():.3f} to {acc.max():.3f}.")


def _vals(nets, setting: str, col: str):
    return nets.loc[nets["setting"] == setting, col].to_numpy(float)


def effect_sentences(nets, summary, cutoff: float, reference: str = "ReLU") -> str:
    """What the penalty does at each strength, against the plain ``reference`` network, as ratios with bootstrap
    intervals over seeds ("lower" only when the interval lies below 1): to its own target (the raw gradient's tail
    share above ``cutoff``), to the rank-normalised maps' tail share, to the paper's EF; with epochs to the cap and
    the cost per epoch relative to plain ReLU."""
    if summary is None or reference not in getattr(summary, "index", []):
        return f"No plain {reference} network in this run: nothing to measure the penalty against."
    pen = summary[summary["family"] == "penalty"]
    if not len(pen):
        return "No penalised network passed the cap in this run."
    lines = []
    for name, row in pen.iterrows():
        parts = []
        for col, what in (("raw tail", f"its target, the raw gradient's tail share above {cutoff:g} cycles/px"),
                          ("map tail", "the rank-normalised maps' tail share"), ("EF", "the paper's EF")):
            iv = bootstrap_ratio_ci(_vals(nets, name, col), _vals(nets, reference, col))
            parts.append(f"{what}: x{interval_verdict(iv, 'higher', 'lower', 1.0, digits=2)}")
        cost = ""
        if "bench s/epoch" in summary:
            cost = (f"; cost per epoch x{row['bench s/epoch'] / summary.loc[reference, 'bench s/epoch']:.1f} plain "
                    f"{reference}'s (median of the benchmark rounds)")
        nets_word = "network" if int(row["networks"]) == 1 else "networks"
        lines.append(f"* **λ = {row['penalty']:g}** ({int(row['networks'])} {nets_word}, {row['epochs']:.1f} epochs to "
                     f"the cap against {summary.loc[reference, 'epochs']:.1f}): " + "; ".join(parts) + cost + ".")
    return ("**This run.** Each penalised setting against plain " + reference
            + " (ratios of means with 95% bootstrap intervals over seeds):\n\n" + "\n".join(lines))


def _best_within(summary, family: str, budget: float, cost: str):
    sub = summary[(summary["family"] == family) & (summary[cost] <= budget) & np.isfinite(summary["EF mean"])]
    return None if sub.empty else sub["EF mean"].idxmin()


def budget_sentences(nets, summary, cost: str = "cost", what: str = "benchmarked cost") -> str:
    """At equal accuracy and at most the same training ``cost`` (a column of ``summary``; settings chosen by their
    mean cost): for each penalty strength, the lowest-EF SP setting within its budget and the EF difference
    (penalty - SP) with a bootstrap interval over seeds; the same from the SP side; the answer ("the spectral
    penalty" / "SP(β)" only when every comparison's interval decides for it, else which comparisons the run cannot
    tell) and the (cost, EF) front of the setting means."""
    if summary is None or not len(summary) or cost not in summary:
        return f"*{what}.* No setting with a cost: nothing to compare."
    pen, sp = summary[summary["family"] == "penalty"], summary[summary["family"] == "SP"]
    if not len(pen) or not len(sp):
        return f"*{what}.* No penalised or no SP network passed the cap: nothing to compare."
    outcome = {"penalty": 0, "SP": 0, "undecided": 0, "none": 0}
    parts = []
    for side, other, rows in (("penalty", "SP", pen), ("SP", "penalty", sp)):
        items = []
        for name, row in rows.iterrows():
            best = _best_within(summary, other, float(row[cost]), cost)
            label = f"λ = {row['penalty']:g}" if side == "penalty" else name
            if best is None:
                items.append(f"{label} ({row[cost]:.1f} s): no {other} setting within that budget")
                if side == "penalty":
                    outcome["none"] += 1
                continue
            iv = bootstrap_diff_ci(_vals(nets, name, "EF"), _vals(nets, best, "EF"))
            text = interval_verdict(iv, f"lower for {best}", f"lower for {label}", 0.0, digits=2)
            items.append(f"{label} ({row[cost]:.1f} s) vs {best} ({summary.loc[best, cost]:.1f} s): EF difference "
                         f"{text}")
            if side == "penalty":
                key = "undecided" if CANNOT_TELL in text else ("penalty" if iv.high < 0 else "SP")
                outcome[key] += 1
        parts.append(f"each {side} setting against the best {other} setting within its budget: " + "; ".join(items))
    sub = summary[summary["family"].isin(["penalty", "SP", "ReLU"])]
    front = sub[pareto_front(sub, cost, "EF mean")].sort_values(cost).index
    n = len(pen)
    if outcome["penalty"] == n - outcome["none"] and outcome["penalty"] > 0:
        answer = f"the spectral penalty, at every one of its budgets that an SP setting fits ({outcome['penalty']})"
    elif outcome["SP"] == n - outcome["none"] and outcome["SP"] > 0:
        answer = f"SP(β), at every budget of the penalised networks that an SP setting fits ({outcome['SP']})"
    else:
        answer = (f"{CANNOT_TELL} in general: the penalty is lower at {outcome['penalty']}, SP at {outcome['SP']}, "
                  f"undecided at {outcome['undecided']} of the {n} penalty budgets"
                  + (f" ({outcome['none']} without an SP setting that cheap)" if outcome["none"] else ""))
    return (f"*{what}.* " + ". ".join(p[0].upper() + p[1:] for p in parts)
            + f". The front of the setting means (nothing both cheaper and simpler): {', '.join(front)}. "
            f"Answer on this measure: **{answer}**.")
