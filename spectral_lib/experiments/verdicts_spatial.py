"""The spatial-correlation chapter's statements (chapter 9), computed from its per-network tables
(:func:`spectral_lib.experiments.spatial.order_table`, :func:`~spectral_lib.experiments.spatial.theorem1_table`).

No vote over measures: each measure (the EF-vs-β rank correlation and relative slope in both EF definitions,
Theorem 1's link in two forms) is stated on its own, per architecture arm and input condition, with a bootstrap
interval over the networks (resampled within each activation, so that every β keeps its number of seeds) and, for
rank correlations, n and a p-value. A measure is "weaker" (or "stronger") under a condition than on natural inputs
only when the interval of the difference excludes zero; otherwise the run cannot tell. Every measure is signed so
that positive is the paper's direction (a smoother network, a simpler explanation). Line tail masses below their
measurement floor are ranked as one tie at the bottom
(:func:`spectral_lib.experiments.verdicts_theorem1.with_ranked_tail_mass`)."""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

import numpy as np

from .stats import (Interval, bootstrap_diff_ci, bootstrap_mean_ci, bootstrap_ratio_ci, bootstrap_rows_ci,
                    ls_slope, spearman_test)
from .verdicts import CANNOT_TELL, evidence_word, fmt, interval_verdict, rho_text, why_undecided
from .verdicts_theorem1 import floor_status, with_ranked_tail_mass

__all__ = ["Measure", "MEASURES", "measure_table", "measure_sentences", "beta_effect_sentences", "orders_sentences",
           "smoothgrad_gap_sentences", "neighbour_sentence", "relative_slope", "ARM_NAMES"]

ARM_NAMES = {"cnn": "CNN", "mlp": "MLP"}


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (1-based; ties share the mean of their positions; inf ranks last)."""
    less = (x[..., :, None] > x[..., None, :]).sum(-1)
    equal = (x[..., :, None] == x[..., None, :]).sum(-1)
    return less + (equal + 1) / 2.0


def _rho(data: np.ndarray) -> np.ndarray:
    """Spearman's rho of the two columns of each table of a (B, n, 2) stack (average ranks for ties, inf ranks
    last), as :func:`spectral_lib.experiments.stats.spearman` computes it; (B,), NaN for fewer than 2 rows, a NaN
    value or a constant column."""
    a, b = _ranks(data[..., 0]), _ranks(data[..., 1])
    a, b = a - a.mean(-1, keepdims=True), b - b.mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (a * b).sum(-1) / den
    bad = np.isnan(data).any(axis=(-1, -2)) | ~(den > 0) | (data.shape[-2] < 2)
    return np.where(bad, np.nan, out)


def relative_slope(data: np.ndarray) -> np.ndarray:
    """(B, n, 2) stack of (beta, EF) tables -> (B,): the least-squares slope of the per-beta mean EF against
    log10(beta) over the finite positive betas, divided by the mean of those means (per decade of beta, comparable
    across EF levels); NaN with fewer than 2 such betas. The beta column must be the same in every table (as in a
    bootstrap that resamples within betas)."""
    beta = data[0, :, 0]
    betas = np.unique(beta[np.isfinite(beta) & (beta > 0)])
    if len(betas) < 2:
        return np.full(len(data), np.nan)
    with np.errstate(invalid="ignore"):
        means = np.stack([np.nanmean(data[:, beta == b, 1], axis=1) if np.isfinite(data[:, beta == b, 1]).any()
                          else np.full(len(data), np.nan) for b in betas], axis=1)
        level = means.mean(1)
        return np.where(level != 0, ls_slope(np.log10(betas), means) / level, np.nan)


class Measure(NamedTuple):
    """One signed measure: its words, the table it reads (``"orders"`` or ``"theorem1"``), its two columns (x, y),
    and the statistic of a (B, n, 2) stack of tables -> (B,); ``rank`` for a Spearman correlation (reported with n
    and p)."""

    words: str
    table: str
    x: str
    y: str
    stat: Callable[[np.ndarray], np.ndarray]
    rank: bool


MEASURES = (
    Measure("EF-vs-β rank correlation (paper EF)", "orders", "beta", "ef", _rho, True),
    Measure("EF-vs-β rank correlation (Nyquist EF)", "orders", "beta", "ef_nyquist", _rho, True),
    Measure("relative slope of the mean EF per decade of β (paper EF)", "orders", "beta", "ef", relative_slope, False),
    Measure("relative slope of the mean EF per decade of β (Nyquist EF)", "orders", "beta", "ef_nyquist",
            relative_slope, False),
    Measure("Theorem 1's link: rank correlation of line tail mass and gradient tail slope", "theorem1",
            "line_tail_mass", "grad_tail_slope", _rho, True),
    Measure("rank correlation of line tail mass and gradient EF (paper)", "theorem1", "line_tail_mass", "grad_ef",
            _rho, True),
)
# the Theorem 1 columns in image order
_IMAGE_COLUMNS = {"grad_tail_slope": "image_tail_slope", "grad_ef": "image_ef"}


def _views(orders, t1, arm: str, measure: Measure):
    """(condition, order) -> (n, 2) rows and their beta labels, for one arm and measure; and (condition, order) ->
    how many of the rows' line tail masses are below their measurement floor (0 for other measures)."""
    out, low = {}, {}
    table = orders if measure.table == "orders" else t1
    if table is None or not {"arm", "condition", "beta", measure.x, measure.y} <= set(table.columns):
        return out, low
    if measure.table == "orders":
        sub = orders[orders["arm"] == arm]
        for (cond, order), g in sub.groupby(["condition", "order"], sort=False):
            out[cond, order] = g[[measure.x, measure.y]].to_numpy(float), g["beta"].tolist()
            low[cond, order] = 0
    else:
        sub = t1[t1["arm"] == arm]
        for cond, g in sub.groupby("condition", sort=False):
            g, n_low = with_ranked_tail_mass(g)  # unresolved line tail masses: one tie at the bottom
            n_low = n_low if "line_tail_mass" in (measure.x, measure.y) else 0
            out[cond, "array"] = g[[measure.x, measure.y]].to_numpy(float), g["beta"].tolist()
            low[cond, "array"] = n_low
            image_y = _IMAGE_COLUMNS.get(measure.y)
            if image_y and not np.allclose(g[image_y].to_numpy(float), g[measure.y].to_numpy(float), equal_nan=True):
                out[cond, "image"] = g[[measure.x, image_y]].to_numpy(float), g["beta"].tolist()
                low[cond, "image"] = n_low
    return out, low


def _difference(stat, a: tuple, b: tuple, seed: int = 0) -> Interval:
    """stat(b) - stat(a), rows resampled within (side, beta)."""
    (da, ga), (db, gb) = a, b
    data = np.vstack([np.column_stack([da, np.zeros(len(da))]), np.column_stack([db, np.ones(len(db))])])
    groups = [(0, g) for g in ga] + [(1, g) for g in gb]

    def diff(stack: np.ndarray) -> np.ndarray:
        side = stack[0, :, 2]  # constant in every draw: rows stay within their (side, beta) group
        return stat(stack[:, side == 1, :2]) - stat(stack[:, side == 0, :2])

    return bootstrap_rows_ci(diff, data, groups, seed=seed, vectorized=True)


def measure_table(orders, t1, natural: str = "natural", measures: Sequence[Measure] = MEASURES):
    """Every measure per arm, condition and pixel order, with its interval and, for rank correlations, its p-value;
    and for every condition other than ``natural`` the difference from the natural condition with its interval and
    the verdict ("weaker", "stronger" or the run cannot tell). Columns: arm, measure, condition, order, networks,
    below floor (line tail masses under their measurement floor, ranked as one tie), floor
    (:func:`~spectral_lib.experiments.verdicts_theorem1.floor_status`), value, low, high, seeds (per activation, the
    fewest), p, diff, diff_low, diff_high, verdict. ``orders``/``t1``: the chapter's per-network tables (either
    may be empty)."""
    import pandas as pd

    cols = ["arm", "measure", "condition", "order", "networks", "below floor", "floor", "value", "low", "high",
            "seeds", "p", "diff", "diff_low", "diff_high", "verdict"]
    rows = []
    arms = list(dict.fromkeys(list(orders.get("arm", [])) + list(t1.get("arm", []))))
    for arm in arms:
        for m in measures:
            views, below = _views(orders, t1, arm, m)
            ref = views.get((natural, "array"))
            for (cond, order), (data, betas) in views.items():
                iv = bootstrap_rows_ci(m.stat, data, betas, vectorized=True)
                p = spearman_test(data[:, 0], data[:, 1])["p"] if m.rank else math.nan
                row = {"arm": arm, "measure": m.words, "condition": cond, "order": order,
                       "networks": int((~np.isnan(data).any(axis=1)).sum()), "below floor": below[cond, order],
                       "floor": floor_status(len(data), below[cond, order], data[:, 0]),
                       "value": iv.value,
                       "low": iv.low, "high": iv.high, "seeds": iv.n, "p": p, "diff": math.nan, "diff_low": math.nan,
                       "diff_high": math.nan, "verdict": ""}
                if ref is not None and cond != natural:
                    d = _difference(m.stat, ref, (data, betas))
                    word = interval_verdict(d, "stronger", "weaker", 0.0)
                    row.update(diff=d.value, diff_low=d.low, diff_high=d.high,
                               verdict=word.split(": ", 1)[1] if ": " in word else word)
                rows.append(row)
    return pd.DataFrame(rows, columns=cols)


def _signed(iv: Interval) -> str:
    """"+0.87 [+0.60, +1.00]" or "+0.87 (no interval: one seed)"."""
    if not np.isfinite(iv.value):
        return "undefined"
    if not (np.isfinite(iv.low) and np.isfinite(iv.high)):
        return f"{iv.value:+.2f} (no interval: {'one seed' if iv.n == 1 else f'n = {iv.n}'})"
    return f"{iv.value:+.2f} [{iv.low:+.2f}, {iv.high:+.2f}]"


_UNRANKED = ("all below", "misordered")  # floor statuses under which a Theorem-1 measure is not measured


def _value_text(row) -> str:
    low, status = int(row.get("below floor", 0) or 0), row.get("floor", "") or ""
    if status == "all below":
        return f"not measured (all {low} line tail masses below their measurement floor)"
    if status == "misordered":
        return (f"not measured ({low} line tail masses below their measurement floor, one of them above a resolved "
                "one: no ranking)")
    text = _signed(Interval(row["value"], row["low"], row["high"], int(row["seeds"])))
    extra = f"{int(row['networks'])} networks" + (f", {low} below the measurement floor, tied" if low else "")
    if np.isfinite(row["p"]):
        extra += f", p = {'< 0.001' if row['p'] < 0.001 else format(row['p'], '.2g')}"
    return f"{text} ({extra})"


def measure_sentences(table, natural: str = "natural") -> str:
    """One statement per (arm, measure): its value under each condition and order with interval (and n, p), and for
    each non-natural condition the difference from natural with its interval and verdict. No tally across measures:
    the measures are correlated (the same networks), so counting them would not add evidence."""
    if table is None or not len(table):
        return "**This run** has no measure to state (no network passed the cap, or no Theorem-1 records)."
    lines = []
    for (arm, measure), sub in table.groupby(["arm", "measure"], sort=False):
        parts = []
        for row in sub.to_dict("records"):
            where = row["condition"] + ("" if row["condition"] == natural else f" ({row['order']} order)")
            part = f"{where} {_value_text(row)}"
            if row["verdict"] and (row.get("floor", "") or "") in _UNRANKED:
                part += ": **the run cannot tell (these line tails are below the measurement floor)**"
            elif row["verdict"]:
                d = _signed(Interval(row["diff"], row["diff_low"], row["diff_high"], int(row["seeds"])))
                verdict = row["verdict"] if not row["verdict"].startswith(CANNOT_TELL) else \
                    f"{CANNOT_TELL} whether it weakens{row['verdict'][len(CANNOT_TELL):]}"
                part += f", difference {d}: **{verdict}**"
            parts.append(part)
        lines.append(f"* **{ARM_NAMES.get(arm, arm)}, {measure}**: " + "; ".join(parts) + ".")
    return ("**This run**, measure by measure (95% bootstrap intervals over the networks, resampled within each "
            "activation; p: Spearman's test of no association):\n\n" + "\n".join(lines))


def beta_effect_sentences(orders, natural: str = "natural", arm: str = "cnn") -> str:
    """The positive result, stated plainly: per non-natural condition (array order, the order the paper's EF reads),
    whether the EF-vs-β relation survives (rank correlation of β and EF with n and p: "survives" only with p < 0.05 and
    a positive sign), and per activation the gradient's tail slope under natural and that condition with intervals
    over seeds."""
    sub = orders[(orders["arm"] == arm) & (orders["order"] == "array")] if len(orders) else orders
    if not len(sub) or natural not in set(sub["condition"]):
        return f"No {ARM_NAMES.get(arm, arm)} networks on {natural} and permuted inputs to compare."
    nat = sub[sub["condition"] == natural]
    lines = []
    for cond, g in sub.groupby("condition", sort=False):
        if cond == natural:
            continue
        parts = []
        for col, what in (("ef", "paper EF"), ("ef_nyquist", "Nyquist EF")):
            text, r = rho_text(g["beta"].to_numpy(float), g[col].to_numpy(float))
            word = evidence_word(r, "survives the permutation", "is reversed by the permutation")
            if word.startswith(CANNOT_TELL):
                word = f"{CANNOT_TELL} whether it survives{word[len(CANNOT_TELL):]}"
            parts.append(f"with the {what}, Spearman(β, EF) {text}: the β effect **{word}**")
        slopes = []
        for act, ga in g.groupby("activation", sort=False):
            na = nat[nat["activation"] == act]["tail_slope"]
            slopes.append(f"{act} {bootstrap_mean_ci(ga['tail_slope']).text(3)} vs "
                          f"{bootstrap_mean_ci(na).text(3) if len(na) else 'n/a'}")
        lines.append(f"* **{ARM_NAMES.get(arm, arm)}, {cond}** (array order): " + "; ".join(parts)
                     + f". Gradient tail slope per activation, {cond} vs {natural}: " + "; ".join(slopes) + ".")
    return "\n".join(lines) if lines else f"Only {natural} inputs in this run."


def orders_sentences(orders, white: float, natural: str = "natural") -> str:
    """Per arm and non-natural condition: the paired difference image order - array order of each network's mean
    Nyquist EF (bootstrap over the networks: "lower in image order" only when its interval lies below 0), the two
    means, white noise's value; for the MLP also the image-order EF against the natural MLP's (the symmetry predicts
    no difference)."""
    if orders is None or not len(orders):
        return "**This run** has no network to read in two orders."
    lines = []
    for arm, sub in orders.groupby("arm", sort=False):
        name = ARM_NAMES.get(arm, arm)
        nat = sub[(sub["condition"] == natural) & (sub["order"] == "array")]
        for cond, g in sub.groupby("condition", sort=False):
            if cond == natural:
                continue
            wide = g.pivot_table(index=["activation", "seed"], columns="order", values="ef_nyquist")
            if not {"array", "image"} <= set(wide.columns):
                continue
            d = bootstrap_mean_ci(wide["image"] - wide["array"])
            text = (f"* **{name}, {cond}**: image order minus array order, mean Nyquist EF per network "
                    f"{interval_verdict(d, 'higher in image order', 'lower in image order', 0.0)} (means "
                    f"{wide['image'].mean():.3f} in image order, {wide['array'].mean():.3f} in array order; "
                    f"rank-normalised white noise {white:.3f})")
            if arm == "mlp" and len(nat):
                s = _symmetry_check(wide["image"], nat["ef_nyquist"])
                text += f"; image order against the {natural} MLP's EF: {s}"
            lines.append(text + ".")
        if len(nat):
            lines.append(f"* **{name}, {natural}**: mean Nyquist EF {bootstrap_mean_ci(nat['ef_nyquist']).text(3)}.")
    return "**This run.**\n\n" + "\n".join(lines)


def _symmetry_check(image, natural) -> str:
    """The permuted MLP's image-order EF against the natural MLP's: the symmetry (same distribution of networks)
    predicts no difference; the two sets of networks are initialised independently, so only in distribution."""
    iv = bootstrap_diff_ci(np.asarray(image, float), np.asarray(natural, float))
    if not (np.isfinite(iv.low) and np.isfinite(iv.high)):
        return f"difference {iv.text(3)} ({why_undecided(iv, 0.0)})"
    word = ("the interval contains 0, as the symmetry predicts" if not iv.excludes(0.0)
            else "the interval excludes 0, which the symmetry does not predict")
    return f"difference {iv.text(3)}: {word}"


def smoothgrad_gap_sentences(orders, natural: str = "natural") -> str:
    """Per arm and condition (array order): SmoothGrad's gap |ΔEF| of the smoothest SP network against ReLU's, as a
    ratio with a bootstrap interval over seeds ("smaller for the smoother network" only when it lies below 1)."""
    sub = orders[orders["order"] == "array"] if len(orders) else orders
    lines = []
    for (arm, cond), g in sub.groupby(["arm", "condition"], sort=False):
        relu = g[~np.isfinite(g["beta"])]
        sp = g[np.isfinite(g["beta"])]
        if not len(relu) or not len(sp) or not np.isfinite(g["sg_gap"]).any():
            continue
        smooth = sp[sp["beta"] == sp["beta"].min()]
        iv = bootstrap_ratio_ci(smooth["sg_gap"], relu["sg_gap"])
        lines.append(f"* **{ARM_NAMES.get(arm, arm)}, {cond}**: gap {smooth['sg_gap'].mean():.3f} for "
                     f"{smooth['activation'].iloc[0]} vs {relu['sg_gap'].mean():.3f} for ReLU (x1e-5); ratio "
                     + interval_verdict(iv, "larger for the smoother network", "smaller for the smoother network", 1.0)
                     + ".")
    if not lines:
        return "**This run** has no condition with both a ReLU and an SP network explained by SmoothGrad."
    return "**This run.**\n\n" + "\n".join(lines)


def neighbour_sentence(neigh) -> str:
    """"Neighbour-pixel correlation of the test inputs: natural 0.871; permuted 0.012." from a table indexed by
    condition with a ``neighbour correlation`` column."""
    if neigh is None or not len(neigh):
        return "**This run** has no input condition."
    return "**This run.** Neighbour-pixel correlation of the test inputs: " + "; ".join(
        f"{lab} {fmt(row['neighbour correlation'], 3)}" for lab, row in neigh.iterrows()) + "."
