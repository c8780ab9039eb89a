"""The training-length controls' statements (chapter 4, reusable wherever networks trained for different numbers
of epochs): is it the activation that lowers EF, or the longer training that smooth activations need to reach the cap?

Inputs are the control table's rows (:func:`~spectral_lib.experiments.training_length.control_table`: ``arm``,
``activation``, ``beta``, ``lr``, ``seed``, ``epochs``, ``test_accuracy``, ``cap_reached``, ``ef_paper`` x1e5,
``ef_nyquist``) and the trajectory table's (:func:`~spectral_lib.experiments.training_length.trajectory_table`). The
rules: a word that states a difference needs a bootstrap interval over seeds that excludes no effect; a correlation
is reported with its n and p, and called an effect only when p < 0.05. :func:`epochs_confound_sentence` is the
reusable piece for chapters that report epochs beside an activation property (chapters 9-11)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .stats import bootstrap_mean_ci, bootstrap_stat_ci, partial_spearman, spearman_test
from .verdicts import CANNOT_TELL, evidence_word, fmt, interval_verdict

__all__ = ["slow_relu_comparison", "slow_relu_sentences", "training_length_correlations",
           "equal_epoch_correlation", "trajectory_summary", "trajectory_sentence", "training_length_verdict",
           "epochs_confound_sentence", "partial_text", "capped_identity_sentence", "regression_summary",
           "correlations_sentence", "rho_sentence_part", "EF_LABELS", "ALPHA"]

EF_LABELS = {"ef_paper": "paper EF (x1e5)", "ef_nyquist": "Nyquist EF"}
ALPHA = 0.05


def _kept(df, arm: str):
    sub = df[df["arm"] == arm]
    return sub[sub["cap_reached"].astype(bool)] if len(sub) else sub


def slow_relu_comparison(table, column: str = "ef_paper") -> list[dict]:
    """Per learning rate of the slow-ReLU arm: the kept (capped) networks' mean ``column`` with a bootstrap interval
    over seeds for slow ReLU, fast ReLU (the capped arm's ReLU) and the smoothest SP network kept (lowest finite
    beta of the capped arm), their mean epochs, and ``share``: how far slow training moves ReLU's EF towards SP's,
    ``(slow - fast) / (sp - fast)`` (0: as fast ReLU, 1: as SP), with an interval from resampling the three groups
    independently. Dicts: ``lr``, ``slow``, ``fast``, ``sp`` (:class:`Interval`), ``sp_name``, ``epochs`` (dict of
    means), ``share`` (Interval), ``dropped`` (slow networks that missed the cap), ``n_slow`` (all slow networks).
    [] when the table has no slow-ReLU rows."""
    if table is None or not len(table) or not (table["arm"] == "slow_relu").any():
        return []
    capped = _kept(table, "capped")
    fast = capped[capped["activation"] == "ReLU"]
    sps = capped[np.isfinite(capped["beta"].to_numpy(dtype=float)) & (capped["activation"] != "ReLU")]
    sp_beta = float(sps["beta"].min()) if len(sps) else math.nan
    sp = sps[sps["beta"] == sp_beta]
    sp_name = str(sp["activation"].iloc[0]) if len(sp) else "none"
    out = []
    slow_all = table[table["arm"] == "slow_relu"]
    for lr in sorted(slow_all["lr"].unique(), reverse=True):
        rows = slow_all[slow_all["lr"] == lr]
        slow = rows[rows["cap_reached"].astype(bool)]
        a, f, s = (g[column].to_numpy(dtype=float) for g in (slow, fast, sp))

        def share(x, y, z):
            gap = np.mean(z) - np.mean(y)
            return (np.mean(x) - np.mean(y)) / gap if gap != 0 else math.nan

        out.append({"lr": float(lr), "slow": bootstrap_mean_ci(a), "fast": bootstrap_mean_ci(f),
                    "sp": bootstrap_mean_ci(s), "sp_name": sp_name,
                    "epochs": {k: float(g["epochs"].mean()) if len(g) else math.nan
                               for k, g in (("slow", slow), ("fast", fast), ("sp", sp))},
                    "share": bootstrap_stat_ci(share, [a, f, s]), "dropped": int(len(rows) - len(slow)),
                    "n_slow": int(len(rows))})
    return out


def slow_relu_sentences(comparisons: Sequence[dict], column: str = "ef_paper") -> str:
    """One sentence per slow learning rate: the three means with their intervals and epochs, and whether slow ReLU's
    EF is closer to fast ReLU's (share interval below 0.5) or to SP's (above 0.5), or that the run cannot tell."""
    if not comparisons:
        return "No slow-ReLU networks in this run: no training-length control by learning rate."
    label = EF_LABELS.get(column, column)
    lines = []
    for c in comparisons:
        e = c["epochs"]
        if not c["slow"].n:
            lines.append(f"No slow ReLU network at lr {fmt(c['lr'])} passed the cap ({c['dropped']} of "
                         f"{c['n_slow']} dropped): no comparison at that learning rate.")
            continue
        drop = f" ({c['dropped']} of {c['n_slow']} slow networks missed the cap)" if c["dropped"] else ""
        head = (f"Slow ReLU (lr {fmt(c['lr'])}, {fmt(e['slow'])} epochs to the cap on average{drop}) has a mean "
                f"{label} of {c['slow'].text()}, against {c['fast'].text()} for fast ReLU ({fmt(e['fast'])} epochs) "
                f"and {c['sp'].text()} for {c['sp_name']} ({fmt(e['sp'])} epochs).")
        if not c["sp"].n or not c["fast"].n:
            lines.append(head + f" Without both references, {CANNOT_TELL} which it is closer to.")
            continue
        word = interval_verdict(c["share"], f"closer to {c['sp_name']}'s than to fast ReLU's",
                                "closer to fast ReLU's than to " + f"{c['sp_name']}'s", null=0.5, digits=2)
        lines.append(f"{head} Slow training moves ReLU's EF this share of the way from fast ReLU's to "
                     f"{c['sp_name']}'s: {word}.")
    return " ".join(lines)


def _beta_for_ranks(beta: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(beta), np.nan, beta)  # inf (ReLU) ranks last; NaN (not SP) is dropped


def training_length_correlations(table, column: str = "ef_paper") -> dict:
    """Over the kept capped networks of the capped and slow-ReLU arms (SP and ReLU only): Spearman of EF with beta
    and with epochs, and the partial correlations of EF with beta given epochs and with epochs given beta
    (:func:`partial_spearman`). The slow-ReLU networks break the tie between the two (in the capped arm alone,
    smoother means longer). Returns ``{"beta", "epochs", "beta_given_epochs", "epochs_given_beta"}`` (dicts with
    rho, p, n)."""
    if table is None or not len(table):
        nan = {"rho": math.nan, "p": math.nan, "n": 0}
        return {k: nan for k in ("beta", "epochs", "beta_given_epochs", "epochs_given_beta")}
    import pandas as pd

    sub = pd.concat([_kept(table, "capped"), _kept(table, "slow_relu")])
    sub = sub[~np.isnan(sub["beta"].to_numpy(dtype=float))]
    b, e, y = (_beta_for_ranks(sub["beta"].to_numpy(dtype=float)), sub["epochs"].to_numpy(dtype=float),
               sub[column].to_numpy(dtype=float))
    ok = np.isfinite(y)
    b, e, y = b[ok], e[ok], y[ok]
    return {"beta": spearman_test(b, y), "epochs": spearman_test(e, y),
            "beta_given_epochs": partial_spearman(b, y, [e]), "epochs_given_beta": partial_spearman(e, y, [b])}


def equal_epoch_correlation(table, column: str = "ef_paper") -> dict:
    """Spearman of EF with beta over the equal-epoch networks (arm ``equal_epochs``: the chapter's learning rates,
    no cap, all trained the same number of epochs): ``spearman_test`` plus ``epochs`` (the common number, NaN if
    they differ or there is none) and the test accuracies' ``acc_range``."""
    sub = table[table["arm"] == "equal_epochs"] if table is not None and len(table) else None
    if sub is None or not len(sub):
        return {"rho": math.nan, "p": math.nan, "n": 0, "epochs": math.nan, "acc_range": (math.nan, math.nan)}
    sub = sub[~np.isnan(sub["beta"].to_numpy(dtype=float)) & np.isfinite(sub[column].to_numpy(dtype=float))]
    r = spearman_test(sub["beta"].to_numpy(dtype=float), sub[column].to_numpy(dtype=float))
    ep = sub["epochs"].unique()
    acc = sub["test_accuracy"]
    return {**r, "epochs": float(ep[0]) if len(ep) == 1 else math.nan,
            "acc_range": (float(acc.min()), float(acc.max())) if len(acc) else (math.nan, math.nan)}


def partial_text(r: dict) -> str:
    """``"ρ = +0.62 (n = 24, p = 0.002)"`` for a (partial) correlation dict; ``"ρ undefined (n = 3)"``."""
    if math.isnan(r["rho"]):
        return f"ρ undefined (n = {r['n']})"
    p = r["p"]
    ptxt = "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"
    return f"ρ = {r['rho']:+.2f} (n = {r['n']}, {ptxt})"


def rho_sentence_part(a: Sequence[float], b: Sequence[float]) -> tuple[str, dict]:
    """``(":func:`partial_text` of the Spearman test of a and b", the test's dict)``."""
    r = spearman_test(a, b)
    return partial_text(r), r


def trajectory_summary(trajectories, column: str = "ef_paper") -> list[dict]:
    """Per trajectory (role, activation, lr, seed) of the trajectory table: EF at the first epoch, at the epoch where
    the capped run stops (``capped_here``; NaN when not on the trajectory) and at the last, the relative change from
    the cap epoch to the last, and the Spearman trend of EF over the epochs from the cap on (n epochs, p)."""
    if trajectories is None or not len(trajectories):
        return []
    out = []
    for (role, act, lr, seed), g in trajectories.groupby(["role", "activation", "lr", "seed"], sort=False):
        g = g.sort_values("epoch")
        cap = g[g["capped_here"].astype(bool)]
        cap_epoch = int(cap["epoch"].iloc[0]) if len(cap) else None
        ef_cap = float(cap[column].iloc[0]) if len(cap) else math.nan
        after = g[g["epoch"] >= cap_epoch] if cap_epoch is not None else g.iloc[:0]
        last = float(g[column].iloc[-1])
        out.append({"role": role, "activation": act, "lr": float(lr), "seed": int(seed),
                    "first": float(g[column].iloc[0]), "cap_epoch": cap_epoch, "at_cap": ef_cap,
                    "last_epoch": int(g["epoch"].iloc[-1]), "last": last,
                    "acc_at_cap": float(cap["test_accuracy"].iloc[0]) if len(cap) else math.nan,
                    "acc_last": float(g["test_accuracy"].iloc[-1]),
                    "change": (last - ef_cap) / ef_cap if np.isfinite(ef_cap) and ef_cap != 0 else math.nan,
                    "trend": spearman_test(after["epoch"].to_numpy(dtype=float), after[column].to_numpy(dtype=float))})
    return out


def trajectory_sentence(summary: Sequence[dict], column: str = "ef_paper") -> str:
    """What training past the cap does to EF, per trajectory (change from the cap epoch to the last, with the trend's
    ρ, n, p) and in how many runs EF falls, rises or shows no trend (p < 0.05 needed)."""
    if not summary:
        return "No trajectories in this run."
    label = EF_LABELS.get(column, column)
    parts, falls, rises, flat, off = [], [], [], [], []
    for s in summary:
        name = s["activation"] + (f" (lr {fmt(s['lr'])})" if s["role"] == "slow_relu" else "")
        if s["cap_epoch"] is None:
            off.append(name)
            continue
        word = evidence_word(s["trend"], "rises", "falls")
        (rises if word == "rises" else falls if word == "falls" else flat).append(name)
        change = 100 * s["change"]
        parts.append(f"{name} {change:+.1f}% from epoch {s['cap_epoch']} (cap, accuracy {s['acc_at_cap']:.3f}) to "
                     f"{s['last_epoch']} (accuracy {s['acc_last']:.3f}), trend {partial_text(s['trend'])}")
    text = (f"Training on past the cap changes the mean {label}: " + "; ".join(parts) + "." if parts else "")
    counts = (f" Over the epochs from the cap on, EF falls in {len(falls)}, rises in {len(rises)} and shows no "
              f"trend (p ≥ {ALPHA:g}) in {len(flat)} of {len(parts)} runs"
              + (f" (falls: {', '.join(falls)})" if falls else "") + (f" (rises: {', '.join(rises)})" if rises else "")
              + "." if parts else "")
    miss = (f" Not capped within the trajectory: {', '.join(off)}." if off else "")
    return (text + counts + miss).strip()


def training_length_verdict(comparisons: Sequence[dict], correlations: dict, equal: dict,
                            column: str = "ef_paper", trajectories: Sequence[dict] = ()) -> str:
    """Which explanation the data support. Evidence for the activation: slow ReLU closer to fast ReLU than to SP
    (share interval below 0.5), EF rising with beta given epochs (partial ρ > 0, p < 0.05), or at equal epochs
    (ρ > 0, p < 0.05). Evidence for training length: slow ReLU closer to SP (share interval above 0.5), or EF falling
    with epochs given beta (partial ρ < 0, p < 0.05). Both, one, or neither ("the run cannot tell").

    ``trajectories`` (:func:`trajectory_summary`) adds a qualifying sentence, not evidence either way: runs whose EF
    falls significantly while they train on past the cap. There accuracy rises too, so they do not compare
    networks at equal accuracy as the capped arms (and the slow ReLU) do."""
    label = EF_LABELS.get(column, column)
    note = _trajectory_note(trajectories)
    act, length = [], []
    for c in comparisons:
        iv = c["share"]
        if iv.excludes(0.5):
            (length if iv.low > 0.5 else act).append(
                f"slow ReLU (lr {fmt(c['lr'])}) is closer to {'SP' if iv.low > 0.5 else 'fast ReLU'} "
                f"(share {iv.text(2)})")
    bg, eg = correlations["beta_given_epochs"], correlations["epochs_given_beta"]
    if bg["p"] < ALPHA and bg["rho"] > 0:
        act.append(f"given epochs, EF still rises with β (partial {partial_text(bg)})")
    if eg["p"] < ALPHA and eg["rho"] < 0:
        length.append(f"given β, EF falls with epochs (partial {partial_text(eg)})")
    if equal.get("p", math.nan) < ALPHA and equal["rho"] > 0:
        act.append(f"at equal epochs ({fmt(equal['epochs'])}), EF rises with β ({partial_text(equal)})")
    if act and not length:
        head = "the **activation**, not the training length, sets the EF"
    elif length and not act:
        head = "the **training length** accounts for the EF differences"
    elif act and length:
        head = "**both** the activation and the training length move the EF"
    else:
        return (f"**Activation or training length?** With the {label}, {CANNOT_TELL}: no control gives an interval "
                f"or a p-value that decides (EF with β given epochs: partial {partial_text(bg)}; with epochs given "
                f"β: partial {partial_text(eg)}; with β at equal epochs: {partial_text(equal)})." + note)
    return f"**Activation or training length?** With the {label}, the data support that {head}: " + "; ".join(
        act + length) + "." + note


def _trajectory_note(summary: Sequence[dict]) -> str:
    falls = [s for s in summary if s.get("cap_epoch") is not None and evidence_word(s["trend"], "r", "f") == "f"]
    if not falls:
        return ""
    runs = ", ".join(f"{s['activation']}{' (lr ' + fmt(s['lr']) + ')' if s['role'] == 'slow_relu' else ''} "
                     f"{100 * s['change']:+.1f}% by epoch {s['last_epoch']}, accuracy {s['acc_at_cap']:.3f} → "
                     f"{s['acc_last']:.3f}" for s in falls)
    return (f" Training on past the cap does lower EF in {len(falls)} of {len(summary)} runs ({runs}), but with "
            "rising accuracy: not a comparison at equal accuracy.")


def epochs_confound_sentence(x: Sequence[float], ef: Sequence[float], epochs: Sequence[float], x_name: str,
                             ef_name: str = "EF") -> str:
    """For chapters whose networks trained for different numbers of epochs: the Spearman correlation of ``ef`` with
    ``x`` (an activation property, e.g. beta or its tail mass) and with ``epochs``, and of ``ef`` with ``x`` given
    ``epochs`` (partial), each with n and p, and whether the association with ``x`` survives controlling for
    training length (p < 0.05 both before and after), disappears, or the run cannot tell."""
    xs, ys, es = (np.asarray(list(v), dtype=float) for v in (x, ef, epochs))
    raw, ep = spearman_test(xs, ys), spearman_test(es, ys)
    part = partial_spearman(xs, ys, [es])
    head = (f"{ef_name} against {x_name}: {partial_text(raw)}; against epochs: {partial_text(ep)}; against "
            f"{x_name} given epochs: partial {partial_text(part)}")
    if math.isnan(raw["rho"]):
        return f"{head}: {CANNOT_TELL} whether training length explains the association (too few networks)."
    if math.isnan(part["rho"]):
        if part["n"] >= 4:
            return (f"{head}: the ranks of epochs account for those of {ef_name} or of {x_name} entirely, so the "
                    f"association with {x_name} cannot be separated from training length.")
        return f"{head}: {CANNOT_TELL} whether training length explains the association (too few networks)."
    if raw["p"] < ALPHA and part["p"] < ALPHA and np.sign(raw["rho"]) == np.sign(part["rho"]):
        return f"{head}: the association with {x_name} survives controlling for training length."
    if raw["p"] < ALPHA and part["p"] >= ALPHA:
        return (f"{head}: the association with {x_name} is not distinguishable from none once epochs are "
                f"controlled for (training length may explain it).")
    return f"{head}: {CANNOT_TELL} (no association with {x_name} at p < {ALPHA:g} before controlling)."


def capped_identity_sentence(trajectories: Sequence[dict], records: Sequence[dict]) -> str:
    """The check behind reading capped networks off trajectories: for every trajectory whose capped run stops within
    it, the largest per-image difference between the trajectory's VanillaGrad EF at that epoch and the EF
    run_point measured on the capped network (``records``, matched by training configuration and image count)."""
    from ..training import TrainConfig
    from .training_length import capped_epoch, trajectory_point

    by_key = {}
    for r in records:
        by_key.setdefault((TrainConfig(**r["config"]).key(), len(r["ef"]["vanilla_grad"])), r)
    checked, worst, beyond = 0, 0.0, []
    for t in trajectories:
        if not t.get("capped_config"):
            continue
        capped = TrainConfig(**t["capped_config"])
        e = capped_epoch(t, capped)
        if e is None:
            beyond.append(t["activation"])
            continue
        rec = by_key.get((capped.key(), t["ef"].shape[1]))
        if rec is None:
            continue
        point = trajectory_point(t, e)
        for key in ("ef", "ef_nyquist"):
            a = np.asarray(point[key], dtype=float)
            b = np.asarray(rec[key]["vanilla_grad"], dtype=float)
            both = np.isfinite(a) & np.isfinite(b)
            if (np.isfinite(a) != np.isfinite(b)).any():
                worst = math.inf
            elif both.any():
                worst = max(worst, float(np.max(np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), 1e-300))))
        checked += 1
    if not checked and not beyond:
        return "No trajectory has a capped network among this run's records to compare with."
    text = (f"Capped networks read off the trajectories: for {checked} network(s), the EF at the epoch where the "
            f"capped run stops {'equals' if worst == 0 else 'differs from'} the EF measured on the capped network "
            f"itself (largest relative difference over images and both EF definitions: {fmt(worst)}).")
    if beyond:
        text += f" Not capped within the trajectory: {', '.join(beyond)}."
    return text


def regression_summary(table, column: str = "ef_paper") -> dict:
    """Least squares ``EF ~ 1 + log10(beta) + epochs`` over the SP networks (finite beta) of every arm, capped and
    uncapped: coefficients with 95% t intervals (:func:`~spectral_lib.experiments.stats.ols_fit`), keyed
    ``log10_beta``, ``epochs``, ``intercept``."""
    from .stats import ols_fit

    if table is None or not len(table):
        return {c.name: c for c in ols_fit([], {"log10_beta": [], "epochs": []})}
    sub = table[np.isfinite(table["beta"].to_numpy(dtype=float))]
    sub = sub[(sub["arm"] != "capped") | sub["cap_reached"].astype(bool)]
    fit = ols_fit(sub[column], {"log10_beta": np.log10(sub["beta"].to_numpy(dtype=float)),
                                "epochs": sub["epochs"].to_numpy(dtype=float)})
    return {c.name: c for c in fit}


def correlations_sentence(correlations: dict, equal: dict, column: str = "ef_paper", regression=None) -> str:
    """The correlations behind :func:`training_length_verdict`, each with n and p, and (given ``regression``, from
    :func:`regression_summary`) the least-squares slopes per decade of beta and per epoch with their intervals."""
    label = EF_LABELS.get(column, column)
    c = correlations
    text = (f"Over the {c['beta']['n']} capped networks (the chapter's grid and the slow ReLU), the {label} against "
            f"β: {partial_text(c['beta'])}; against epochs: {partial_text(c['epochs'])}; against β given epochs: "
            f"partial {partial_text(c['beta_given_epochs'])}; against epochs given β: partial "
            f"{partial_text(c['epochs_given_beta'])}. ")
    if equal["n"]:
        lo, hi = equal["acc_range"]
        text += (f"At equal epochs ({fmt(equal['epochs'])}, no cap, test accuracy {fmt(lo)} to {fmt(hi)}): "
                 f"against β {partial_text(equal)}, "
                 + evidence_word(equal, "EF rises with β", "EF falls with β") + ".")
    else:
        text += "No equal-epoch networks in this run."
    if regression:
        b, e = regression["log10_beta"], regression["epochs"]
        if math.isfinite(b.value):
            text += (f" Least squares {label} ~ log10 β + epochs over the {b.n} SP networks of every arm: per "
                     f"decade of β, " + interval_verdict(b.interval(), "rises with β", "falls with β", digits=2)
                     + "; per epoch, "
                     + interval_verdict(e.interval(), "rises with training", "falls with training", digits=2) + ".")
    return text
