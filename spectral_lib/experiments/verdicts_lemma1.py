"""Lemma 1's statements (chapter 2) and the smooth-alternatives chapter's tail section (chapter 11): the activation's
tail measured with and without the FFT window, and its rank correlation with the trained networks' EF.

The windowed tail *mass* (:func:`~spectral_lib.theory.activation_tail`) divides by a total power that only the
window makes finite, so it falls with the window's half-width ``L`` (ReLU's about as ``L^-3``); the window-free
measures (:func:`~spectral_lib.theory.tail_power`, closed form; :func:`~spectral_lib.theory.measured_tail_power`,
second differences, no window; :func:`~spectral_lib.theory.tail_band_ratio`, scale-free) do not. Tables here put
them side by side; sentences say, computed, how much each moves with ``L`` and whether the ranking of activations
(and its correlation with EF, n and p) depends on the window."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..nn.activations import activation_family, activation_name
from ..theory.lemma1 import TAIL_FLOOR, activation_tail, measured_tail_power, tail_band_ratio, tail_power
from .records import network_means
from .stats import loglog_slope, spearman_test
from .verdicts import evidence_word, fmt
from .verdicts_training_length import rho_sentence_part as rho_text
from .verdicts_training_length import epochs_confound_sentence

__all__ = ["window_table", "window_sentences", "lemma1_sentence", "tail_measures_table", "tail_columns",
           "tail_ranking_sentences", "matched_gaussian_sentence", "POWER", "RATIO"]


def _mass_col(L: float) -> str:
    return f"windowed mass L={L:g}"


def _free_col(L: float) -> str:
    return f"window-free measured L={L:g}"


POWER = "tail power (closed form)"
RATIO = "band ratio (closed form)"


def window_table(specs: Sequence[str], cutoff: float, half_widths: Sequence[float], n_points: int = 8192):
    """Per activation spec: the windowed tail mass above ``cutoff`` at each half-width of ``half_widths``
    (``activation_tail(spec, cutoff, half_width=L)``, ``n_points`` samples), the window-free tail power measured on
    ``[-L, L]`` (:func:`measured_tail_power`, 2^16 samples) and its closed form (:func:`tail_power`). Indexed by
    activation name, in the order given."""
    import pandas as pd

    if not half_widths:
        raise ValueError("half_widths must be a non-empty list of positive numbers, got []")
    rows = []
    for spec in specs:
        row = {"activation": activation_name(spec), "spec": spec}
        for L in half_widths:
            row[_mass_col(L)] = activation_tail(spec, cutoff, half_width=L, n_points=n_points)
        for L in half_widths:
            row[_free_col(L)] = measured_tail_power(spec, cutoff, half_width=L, n_points=max(2**16, n_points))
        row[POWER] = tail_power(spec, cutoff)
        rows.append(row)
    return pd.DataFrame(rows).set_index("activation")


def window_sentences(table, half_widths: Sequence[float], tolerance: float = 0.02) -> str:
    """How the windowed tail mass and the window-free tail power move with the window's half-width L: per activation,
    the windowed mass at the smallest and largest L and its log-log slope against L (or that it sits at the round-off
    floor), and the smallest L from which the window-free measurement stays within ``tolerance`` of its closed form
    (it needs ``[-L, L]`` to hold ``phi''``); then whether the activations' order by the windowed mass is the same at
    every window (and the same as the window-free order)."""
    if table is None or not len(table):
        return "No activation to measure."
    Ls = sorted(half_widths)
    lo, hi = Ls[0], Ls[-1]
    parts, reach = [], {}
    for name, row in table.iterrows():
        m = np.array([row[_mass_col(L)] for L in Ls], dtype=float)
        if (m < TAIL_FLOOR).all():
            parts.append(f"{name} at the round-off floor (below {TAIL_FLOOR:g}) at every L")
        else:
            slope = loglog_slope(Ls, np.clip(m, TAIL_FLOOR, None)) if len(Ls) > 1 else math.nan
            floor = " (the floor reached)" if (m < TAIL_FLOOR).any() else ""
            parts.append(f"{name} {fmt(m[0], 2)} → {fmt(m[-1], 2)} (∝ L^{fmt(slope, 2)}){floor}")
        free = np.array([row[_free_col(L)] for L in Ls], dtype=float)
        ok = np.abs(free - row[POWER]) <= tolerance * abs(row[POWER])
        first = next((L for i, L in enumerate(Ls) if ok[i:].all()), None)
        reach.setdefault(f"from L = {first:g}" if first is not None else f"at no L up to {hi:g}", []).append(name)
    free_text = "; ".join(f"{when} for {', '.join(names)}" for when, names in reach.items())
    def order(values) -> list[str]:
        return [str(n) for n in table.index[np.argsort(np.asarray(values, dtype=float), kind="stable")]]

    orders = {L: order(table[_mass_col(L)].clip(lower=TAIL_FLOOR)) for L in Ls}
    free = order(table[POWER])
    text = (f"**This run.** From L = {lo:g} to L = {hi:g}, the windowed tail mass moves: " + "; ".join(parts)
            + f". The window-free tail power measured on [-L, L] stays within {100 * tolerance:g}% of its closed "
            f"form {free_text}. ")
    if all(o == free for o in orders.values()):
        return text + "The activations' order (lightest tail first) is the same at every window and without one."
    if all(o == orders[lo] for o in orders.values()):
        return text + (f"The activations' order by windowed mass (lightest first: {', '.join(orders[lo])}) is the "
                       f"same at every window here but not the window-free order ({', '.join(free)}).")
    return text + ("The activations' order (lightest tail first) depends on the window: "
                   + "; ".join(f"L = {L:g}: {', '.join(o)}" for L, o in orders.items())
                   + f"; without a window: {', '.join(free)}.")


def lemma1_sentence(relu_slope: float, relu_err: float, band: tuple, activations, networks, cutoff: float) -> str:
    """Chapter 2's summary: ReLU's measured log-log slope on ``band`` (analytic -4) and its largest relative error
    there; whether the tail masses of SP(beta) (``activations``: rows with ``activation``, ``beta``, ``tail``; ReLU
    has beta inf) increase with beta and stay below ReLU's, and the same for the random networks (``networks``).
    Masses below :data:`TAIL_FLOOR` are round-off: they count as tied at the floor, never as an ordering."""
    def monotone(df) -> str:
        beta = df["beta"].to_numpy(dtype=float)
        sp, relu = df[np.isfinite(beta)].sort_values("beta"), df[~np.isfinite(beta)]
        if len(sp) < 2 or not len(relu):
            return "cannot be ordered (fewer than two SP activations, or no ReLU)"
        t = np.clip(sp["tail"].to_numpy(dtype=float), TAIL_FLOOR, None)
        d = np.diff(t)
        inc = bool(np.all((d > 0) | ((d == 0) & (t[1:] == TAIL_FLOOR))))
        below = bool(t.max() < relu["tail"].iloc[0])
        at_floor = [str(n) for n, v in zip(sp["activation"], t) if v == TAIL_FLOOR]
        word = ("increases monotonically with β and stays below ReLU's" if inc and below else
                "increases with β but does not stay below ReLU's" if inc else "is not monotone in β")
        floor = f" ({', '.join(at_floor)} at the round-off floor, tied)" if at_floor else ""
        first = sp.iloc[0]
        return (f"{fmt(first['tail'], 2)} for {first['activation']} against {fmt(relu['tail'].iloc[0], 2)} for "
                f"ReLU, and {word}{floor}")

    return (f"**This run.** ReLU's measured spectrum has a log-log slope of {relu_slope:.2f} on ω ∈ "
            f"[{band[0]:g}, {band[1]:g}] (analytic: −4) and stays within {100 * relu_err:.1f}% of the analytic "
            f"ω^−4 there. The activation's windowed tail mass above ω = {cutoff:g} is {monotone(activations)}. For "
            f"the random networks it is {monotone(networks)}.")


def tail_columns(half_widths: Sequence[float]) -> list[str]:
    """The tail-measure columns of :func:`tail_measures_table`: windowed masses, then the window-free ones."""
    return [_mass_col(L) for L in half_widths] + [POWER, RATIO]


def tail_measures_table(records: Sequence[dict], cutoff: float, half_widths: Sequence[float], reference: float,
                        ef_metric: str = "ef", scale: float = 1e5):
    """One row per activation of ``records`` (kept networks): spec, family, the windowed tail mass above ``cutoff``
    at each of ``half_widths``, the window-free tail power (closed form) and band ratio (``tail_power(cutoff) /
    tail_power(reference)``), the mean over networks of the per-network mean VanillaGrad ``ef_metric``
    (``scale``d), its std, the networks, mean test accuracy and epochs. Indexed by activation name, lightest
    window-free tail first."""
    import pandas as pd

    cols = ["spec", "family", *tail_columns(half_widths), "EF mean", "EF std", "networks", "test acc", "epochs"]
    if not records:
        return pd.DataFrame(columns=cols)
    per_net = network_means(records, ef_metric, "vanilla_grad", scale)
    spec_of = {r["activation"]: r["config"]["activation"] for r in records}
    rows = []
    for name, g in per_net.groupby("activation", sort=False):
        rs = [r for r in records if r["activation"] == name]
        spec = spec_of[name]
        row = {"activation": name, "spec": spec, "family": activation_family(spec)}
        for L in half_widths:
            row[_mass_col(L)] = activation_tail(spec, cutoff, half_width=L)
        row[POWER] = tail_power(spec, cutoff)
        row[RATIO] = tail_band_ratio(spec, cutoff, reference)
        row.update({"EF mean": float(g["value"].mean()),
                    "EF std": float(g["value"].std()) if len(g) > 1 else math.nan, "networks": int(len(g)),
                    "test acc": float(np.mean([r["train"]["test_accuracy"] for r in rs])),
                    "epochs": float(np.mean([r["train"]["epochs"] for r in rs]))})
        rows.append(row)
    return pd.DataFrame(rows, columns=["activation", *cols]).set_index("activation").sort_values(POWER,
                                                                                                  kind="stable")


def tail_ranking_sentences(table, half_widths: Sequence[float], cutoff: float) -> str:
    """For each tail measure of :func:`tail_measures_table`: the Spearman correlation of the activations' tail with
    their networks' mean EF (n, p, and a word only when p < 0.05; windowed masses below the round-off floor tied),
    the activations not lighter-tailed than ReLU by that measure, whether the measures agree on the order, and the
    training-length control (:func:`~spectral_lib.experiments.verdicts_training_length.epochs_confound_sentence`) for the
    window-free tail power."""
    if table is None or len(table) < 2:
        return "Too few activations passed the cap to correlate their tails with their networks' EF."
    lines = [f"**This run.** Over the {len(table)} activations whose networks passed the cap, the rank correlation "
             f"of the activation's tail above ω = {cutoff:g} with its networks' mean VanillaGrad EF:"]
    for col in tail_columns(half_widths):
        tail = table[col].clip(lower=TAIL_FLOOR) if col.startswith("windowed") else table[col]
        txt, r = rho_text(tail, table["EF mean"])
        heavier = []
        if "ReLU" in table.index:
            heavier = [n for n in table.index if n != "ReLU" and tail[n] >= tail["ReLU"]]
        lines.append(f"* {col}: {txt}, {evidence_word(r, 'heavier tail, higher EF', 'heavier tail, lower EF')}; "
                     + (f"not lighter-tailed than ReLU: {', '.join(heavier)}." if heavier else
                        "every activation is lighter-tailed than ReLU." if "ReLU" in table.index else
                        "no ReLU network to compare with."))
    windowed = [table[_mass_col(L)].clip(lower=TAIL_FLOOR) for L in half_widths]
    agree = [spearman_test(w, table[POWER])["rho"] for w in windowed]
    lines.append("Rank agreement of each windowed mass with the window-free tail power: "
                 + ", ".join(f"L = {L:g}: ρ = {fmt(a, 2)}" for L, a in zip(half_widths, agree)) + ".")
    lines.append("Training length: " + epochs_confound_sentence(table[POWER], table["EF mean"], table["epochs"],
                                                                 "window-free tail power", "mean EF") + "")
    return "\n".join(lines)


def matched_gaussian_sentence(records: Sequence[dict], betas: Sequence[float], scale: float = 1e5) -> str:
    """For each beta of ``betas``: the Gaussian-smoothed ReLU matched to SP(beta) (:func:`gaussian_spec`, this
    project's variance matching) against SP(beta), mean VanillaGrad paper EF (``scale``d) and the difference with a
    bootstrap interval over seeds (one network each: no interval, the run cannot tell). Empty string when no pair
    is among the records."""
    from ..nn.activations import gaussian_spec
    from .stats import bootstrap_diff_ci
    from .verdicts import interval_verdict

    nets = network_means(records, "ef", "vanilla_grad", scale) if records else None
    spec_of = {r["activation"]: r["config"]["activation"] for r in records}
    parts = []
    for b in betas:
        sp = activation_name(f"sp:{b}")
        ga = next((n for n, s in spec_of.items() if s == gaussian_spec(b)), None)
        if ga is None or sp not in spec_of:
            continue
        g, s = nets[nets["activation"] == ga]["value"], nets[nets["activation"] == sp]["value"]
        parts.append(f"{ga} {fmt(g.mean())} vs {sp} {fmt(s.mean())}, difference "
                     + interval_verdict(bootstrap_diff_ci(g, s), "Gaussian higher", "Gaussian lower", digits=2))
    if not parts:
        return ""
    return ("Matched Gaussian smoothing (σ = π/(√3 β), this project's matching) against SP at the same β, mean "
            "VanillaGrad EF x1e-5: " + "; ".join(parts) + ".")
