"""The width-and-size chapter's tables and statements (chapter 10).

Width: per width multiplier, the SP network's mean VanillaGrad EF relative to ReLU's at the same width, with a
bootstrap interval over seeds; the trend is the log-log slope of that ratio against the width, with a bootstrap
interval over the networks (resampled within each width and activation): "the SP advantage grows as the network
widens" only when the slope's interval lies below zero. Input size: the log-log slope of the mean EF against the
number of radial bins R, with its interval, and the SP/ReLU ratio per size.

Input rows (one per kept network, from :func:`network_rows`): the axis value (``width`` or ``size``),
``activation``, ``beta`` (inf for ReLU, NaN for non-SP activations), ``seed``, ``epochs``, ``test acc``, ``EF x1e5``
and ``EF nyquist`` (mean over the network's images)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .stats import Interval, bootstrap_ratio_ci, bootstrap_rows_ci, ls_slope
from .verdicts import CANNOT_TELL, fmt, interval_verdict, why_undecided

__all__ = ["network_rows", "ratio_table", "ratio_trend", "width_sentences", "size_exponent", "size_sentences",
           "training_sentence", "published_size_sentences", "EF_COLUMNS"]

EF_COLUMNS = {"EF x1e5": "paper EF", "EF nyquist": "Nyquist EF"}


def network_rows(pairs: Sequence[tuple], axis: str, n_parameters=None) -> list[dict]:
    """One row per (axis value, record) pair: ``axis``, activation, beta, seed, parameters (``n_parameters(config)``
    when given), epochs, test acc, seconds, ``EF x1e5`` and ``EF nyquist`` (the network's mean VanillaGrad EF over
    its images, NaN images skipped)."""
    rows = []
    for v, r in pairs:
        ef = np.asarray(r["ef"]["vanilla_grad"], dtype=float)
        efn = np.asarray(r["ef_nyquist"]["vanilla_grad"], dtype=float)
        row = {axis: v, "activation": r["activation"], "beta": float(r["beta"]), "seed": r["seed"]}
        if n_parameters is not None:
            row["parameters"] = n_parameters(r["config"])
        row.update({"epochs": float(r["train"]["epochs"]), "test acc": float(r["train"]["test_accuracy"]),
                    "seconds": float(r["train"]["seconds"]),
                    "EF x1e5": float(np.nanmean(ef)) * 1e5 if np.isfinite(ef).any() else math.nan,
                    "EF nyquist": float(np.nanmean(efn)) if np.isfinite(efn).any() else math.nan})
        rows.append(row)
    return rows


def ratio_table(df, axis: str, reference: str = "ReLU"):
    """Per ``axis`` value and activation other than ``reference``: the ratio of its mean EF to the reference's at
    that value, with a bootstrap interval over seeds, for both EF columns. Columns: axis, activation, metric,
    ratio, low, high, seeds. Values without a reference network are left out."""
    import pandas as pd

    cols = [axis, "activation", "metric", "ratio", "low", "high", "seeds"]
    rows = []
    if df is None or not len(df):
        return pd.DataFrame(columns=cols)
    for v, sub in df.groupby(axis, sort=True):
        ref = sub[sub["activation"] == reference]
        if not len(ref):
            continue
        for act in [a for a in sub["activation"].unique() if a != reference]:
            for m in EF_COLUMNS:
                iv = bootstrap_ratio_ci(sub[sub["activation"] == act][m], ref[m])
                rows.append({axis: v, "activation": act, "metric": m, "ratio": iv.value, "low": iv.low,
                             "high": iv.high, "seeds": iv.n})
    return pd.DataFrame(rows, columns=cols)


def ratio_trend(df, axis: str, activation: str, metric: str, reference: str = "ReLU") -> Interval:
    """The log-log slope of (mean EF of ``activation`` / mean EF of ``reference``) against ``axis``, with a bootstrap
    interval over the networks resampled within each (axis value, activation); NaN with fewer than 2 values that
    have both networks. x per doubling of ``axis``: ``2 ** slope``."""
    sub = df[df["activation"].isin([activation, reference])]
    data = np.column_stack([sub[axis].to_numpy(float), (sub["activation"] == activation).to_numpy(float),
                            sub[metric].to_numpy(float)])
    groups = list(zip(sub[axis], sub["activation"]))

    def slope(stack: np.ndarray) -> np.ndarray:
        # (B, n, 3): axis value, is-activation flag, EF; both constant within the resampling groups
        vals, flag = stack[0, :, 0], stack[0, :, 1]
        xs, ratios = [], []
        for v in np.unique(vals):
            a, b = stack[:, (vals == v) & (flag == 1), 2], stack[:, (vals == v) & (flag == 0), 2]
            if v > 0 and a.shape[1] and b.shape[1] and np.isfinite(a).any() and np.isfinite(b).any():
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratios.append(np.nanmean(a, 1) / np.nanmean(b, 1))
                xs.append(v)
        if len(xs) < 2:
            return np.full(len(stack), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            return ls_slope(np.log10(xs), np.log10(np.stack(ratios, 1)))

    if not len(sub):
        return Interval(math.nan, math.nan, math.nan, 0)
    return bootstrap_rows_ci(slope, data, groups, vectorized=True)


def _per_doubling(iv: Interval) -> str:
    if not np.isfinite(iv.value):
        return "n/a"
    base = f"x{2 ** iv.value:.2f} per doubling"
    if np.isfinite(iv.low) and np.isfinite(iv.high):
        base += f" [{2 ** iv.low:.2f}, {2 ** iv.high:.2f}]"
    return base


def training_sentence(df, axis_words: str, cap) -> str:
    """"Test accuracy at the checkpoint ranges from a to b over the n kept networks of the width study (cap c);
    epochs to the cap range from e to f." (or says that no network passed the cap)."""
    if df is None or not len(df):
        return f"**This run.** No network of the {axis_words} passed the cap."
    return (f"**This run.** Test accuracy at the checkpoint ranges from {df['test acc'].min():.3f} to "
            f"{df['test acc'].max():.3f} over the {len(df)} kept networks of the {axis_words} (cap {fmt(cap)}); "
            f"epochs to the cap range from {df['epochs'].min():g} to {df['epochs'].max():g}.")


def width_sentences(df, axis: str = "width", reference: str = "ReLU") -> str:
    """The width study's statements: per SP activation and EF definition, the ratio at each width with its
    interval, at how many widths the interval lies below 1, and the trend (:func:`ratio_trend`): "falls as the
    network widens: the SP advantage grows" / "rises ...: shrinks" only when the slope's interval excludes 0."""
    ratios = ratio_table(df, axis, reference)
    if not len(ratios):
        return f"**This run.** No {axis} has both a {reference} and another kept network."
    lines = []
    for (act, m), sub in ratios.groupby(["activation", "metric"], sort=False):
        below = int((sub["high"] < 1).sum())
        each = ", ".join(f"{getattr(r, axis):g}: " + Interval(r.ratio, r.low, r.high, int(r.seeds)).text(2)
                         for r in sub.itertuples())
        trend = ratio_trend(df, axis, act, m, reference)
        if trend.excludes(0.0):
            word = ("falls as the network widens: the SP advantage grows" if trend.high < 0 else
                    "rises as the network widens: the SP advantage shrinks")
        else:
            word = f"{CANNOT_TELL} whether it changes with width ({why_undecided(trend, 0.0)})"
        lines.append(f"* **{act} / {reference}, {EF_COLUMNS[m]}**: {each}; the interval lies below 1 at {below} of "
                     f"{len(sub)} widths. Log-log slope against the width {trend.text(2)} ({_per_doubling(trend)}); "
                     f"the ratio: **{word}**.")
    return "**This run** (ratios with 95% bootstrap intervals over seeds):\n\n" + "\n".join(lines)


def size_exponent(df, bins: dict, activation: str, metric: str = "EF x1e5") -> Interval:
    """k of mean EF ~ R^k for ``activation`` (the log-log slope of the per-size mean ``metric`` against the number of
    radial bins ``bins[size]``), with a bootstrap interval over its networks resampled within each size; NaN with
    fewer than 2 sizes."""
    sub = df[df["activation"] == activation] if len(df) else df
    if not len(sub):
        return Interval(math.nan, math.nan, math.nan, 0)
    data = np.column_stack([sub["size"].map(bins).to_numpy(float), sub[metric].to_numpy(float)])

    def slope(stack: np.ndarray) -> np.ndarray:
        r = stack[0, :, 0]  # R, constant within each size's group
        rs = np.unique(r[np.isfinite(r) & (r > 0)])
        if len(rs) < 2:
            return np.full(len(stack), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.stack([np.nanmean(stack[:, r == v, 1], 1) for v in rs], 1)
            return ls_slope(np.log10(rs), np.log10(means))

    return bootstrap_rows_ci(slope, data, list(sub["size"]), vectorized=True)


def size_sentences(df, bins: dict, reference: str = "ReLU") -> str:
    """The input-size study's statements: per activation, the log-log slope of its mean EF against R (``bins``: size
    -> number of radial bins), with a bootstrap interval over the networks (resampled within each size), in both
    definitions; per SP activation, the ratio to ``reference`` at each size with its interval."""
    if df is None or not len(df):
        return "**This run.** No size has a kept network."
    lines = []
    for act, sub in df.groupby("activation", sort=False):
        parts = []
        for m in EF_COLUMNS:
            iv = size_exponent(df, bins, act, m)
            means = sub.groupby("size")[m].mean()
            if len(means) < 2:
                parts.append(f"the {EF_COLUMNS[m]} is {fmt(means.iloc[0])} at R = {bins[means.index[0]]} (one size: "
                             "no exponent)")
                continue
            parts.append(f"the {EF_COLUMNS[m]} goes from {means.iloc[0]:.3g} to {means.iloc[-1]:.3g} as R goes from "
                         f"{bins[means.index[0]]} to {bins[means.index[-1]]} (EF ~ R^k, k = {iv.text(2)})")
        lines.append(f"* {act}: " + "; ".join(parts) + ".")
    ratios = ratio_table(df, "size", reference)
    for (act, m), sub in ratios.groupby(["activation", "metric"], sort=False):
        lines.append(f"* {act} / {reference}, {EF_COLUMNS[m]}: " + ", ".join(
            f"{r.size} px: " + interval_verdict(Interval(r.ratio, r.low, r.high, int(r.seeds)), "higher", "lower",
                                                 1.0, digits=2) for r in sub.itertuples()) + ".")
    return "**This run** (95% bootstrap intervals over seeds):\n\n" + "\n".join(lines)


def published_size_sentences(p_relu: float, p_sp: float, r224: int, df, bins: dict, target_beta: float = 0.9,
                             reference: str = "ReLU") -> str:
    """Our numbers beside the third-party summary's (unverified) 224-pixel Imagenette VanillaGrad EFs ``p_relu`` and
    ``p_sp`` (SP(``target_beta``)): their ratio, our ratio for the SP network whose beta is closest to
    ``target_beta`` in log distance (``beta`` column, so any activation spec works), and the extrapolation of our
    ReLU EF to R = ``r224`` with its fitted exponent (:func:`size_exponent`; an order of magnitude only)."""
    lines = [f"Third-party summary, unverified: VanillaGrad EF {p_relu:.3f} for ReLU and {p_sp:.3f} for "
             f"SP({target_beta:g}) on 224-pixel Imagenette (R = {r224}; no unit printed there), a ratio of "
             f"**{p_sp / p_relu:.2f}**."]
    sp = df[np.isfinite(df["beta"]) & (df["beta"] > 0)] if len(df) else df
    if len(sp):
        nearest = sp.loc[(np.log(sp["beta"] / target_beta)).abs().idxmin(), "activation"]
        ratios = ratio_table(df, "size", reference)
        sub = ratios[ratios["activation"] == nearest]
        if len(sub):
            paper = sub[sub["metric"] == "EF x1e5"]
            nyq = sub[sub["metric"] == "EF nyquist"]
            lines.append(f"Our {nearest} / {reference} ratio (the SP network closest to SP({target_beta:g}) here) is "
                         + ", ".join(f"{r.ratio:.2f} at {r.size} px" for r in paper.itertuples())
                         + " with the paper's EF (" + ", ".join(f"{v:.2f}" for v in nyq["ratio"])
                         + " with the Nyquist EF).")
    relu = df[df["activation"] == reference].groupby("size")["EF x1e5"].mean() if len(df) else []
    exponent = size_exponent(df, bins, reference).value if len(relu) else math.nan
    if len(relu) and np.isfinite(exponent):
        size0, ef0 = relu.index[-1], float(relu.iloc[-1])
        r0 = bins[size0]
        lines.append(f"If the paper's EF kept scaling as R^{exponent:.2f} (our digits' {reference} fit), our "
                     f"{reference} EF of {ef0:.2f} x1e-5 at R = {r0} would be {ef0 * (r224 / r0) ** exponent:.3f} "
                     f"x1e-5 at R = {r224}: an extrapolation across datasets, to be read only as an order of "
                     f"magnitude next to the summary's {p_relu:.3f}.")
    return "**This run.** " + " ".join(lines)
