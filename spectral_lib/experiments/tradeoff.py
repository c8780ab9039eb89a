"""The complexity-faithfulness trade-off as tables: the plane of (model, method) points (complexity: EF; faithfulness:
the gradient-form gap, the paper's Delta EF as a second, labelled measure, and Quantus scores when computed), its
Pareto front, the best setting of each post-hoc family, and training cost (per training setting: EF, accuracy,
epochs, seconds, seconds per epoch measured back to back) with the lowest EF each family reaches within a budget.
The plane's sentences are in :mod:`.verdicts_plane`."""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Sequence

import numpy as np

from ..checks import check_nonnegative_finite, check_positive_int
from ..explain import method_family, method_label, parse_method_spec
from ..nn.activations import activation_family
from ..training import load_for, train
from .records import dedupe, method_means, network_means, paper_gap_table

__all__ = ["plane_table", "pareto_front", "surrogate_summary", "setting_label", "setting_family", "setting_table",
           "profile_tail_share", "benchmark_epoch_seconds", "best_within_budget", "budget_comparison"]

def plane_table(records: Sequence[dict], ef_metric: str = "ef", scale: float = 1e5, faithfulness=None):
    """The complexity-faithfulness plane as a table: one row per (model, method) present in ``records``.

    Columns: ``model`` (activation name), ``method`` (spec), ``family`` and ``label`` (:func:`method_family`,
    :func:`method_label`), ``setting`` (the method's numeric option, NaN without one), ``ef`` (mean ``ef_metric``
    over images and seeds, ``scale``d), ``gap`` (Delta EF, the paper's arithmetic: ``|ef - ef of the model's
    VanillaGrad|``, zero for VanillaGrad), ``gap_grad`` and ``gap_grad_rank`` (the paper's formal gap in its gradient
    form, ``||e - grad f||^2 / ||grad f||^2`` per image on the raw attributions and on rank maps, mean over images
    and seeds; NaN for records without it), ``trained`` (True for VanillaGrad: the model's own gradient, no
    post-hoc transform). A network measured in several grids counts once per method. ``ef_metric``: ``"ef"``,
    ``"ef_tiebreak"`` or ``"ef_nyquist"``. ``faithfulness``: a :func:`~spectral_lib.experiments.faithfulness.
    faithfulness_table`; its Quantus columns (mean over seeds) are added, matched on (activation, method)."""
    import pandas as pd

    cols = ["model", "method", "family", "label", "setting", "ef", "gap", "gap_grad", "gap_grad_rank", "trained"]
    recs = dedupe(records)
    if not recs:
        return pd.DataFrame(columns=cols)
    ef = method_means(recs, ef_metric, scale)
    gap = paper_gap_table(recs, ef_metric, scale)
    grad = {k: method_means(recs, key, 1.0) if all(key in r for r in recs) else None
            for k, key in (("gap_grad", "gap_grad_l2"), ("gap_grad_rank", "gap_grad_rank_l2"))}
    rows = []
    for model in ef.columns:
        for method in ef.index:
            v = ef.loc[method, model]
            if not np.isfinite(v):
                continue
            opts = parse_method_spec(method)[1]
            row = {"model": model, "method": method, "family": method_family(method),
                   "label": method_label(method), "setting": next(iter(opts.values()), math.nan),
                   "ef": float(v), "gap": float(gap.loc[method, model]), "trained": method == "vanilla_grad"}
            for k, t in grad.items():
                row[k] = float(t.loc[method, model]) if t is not None else math.nan
            rows.append(row)
    df = pd.DataFrame(rows, columns=cols)
    if faithfulness is not None and len(faithfulness) and len(df):
        from ..metrics.faithfulness import DIRECTION

        metrics = [m for m in DIRECTION if m in faithfulness.columns]
        means = faithfulness.groupby(["activation", "method"])[metrics].mean().reset_index()
        df = df.merge(means.rename(columns={"activation": "model"}), on=["model", "method"], how="left")
    return df


def pareto_front(df, x: str = "ef", y: str = "gap"):
    """Boolean Series over ``df``'s rows: True where no other row is at least as low on both ``x`` and ``y`` and
    strictly lower on one (the lower-left front: nothing is both simpler and more faithful). Rows with a NaN in
    either column are never on the front (and dominate nothing)."""
    import pandas as pd

    xs, ys = df[x].to_numpy(dtype=float), df[y].to_numpy(dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    front = []
    for i in range(len(df)):
        if not ok[i]:
            front.append(False)
            continue
        dominated = ok & (xs <= xs[i]) & (ys <= ys[i]) & ((xs < xs[i]) | (ys < ys[i]))
        front.append(not bool(dominated.any()))
    return pd.Series(front, index=df.index, name="on front")


def surrogate_summary(plane, model: str = "ReLU", gap: str = "gap"):
    """Per post-hoc family applied to ``model`` (every non-VanillaGrad method of that model in ``plane``): the
    setting with the lowest EF, its EF and its ``gap`` column (``"gap"``: Delta EF; ``"gap_grad"``: the
    gradient-form gap), and the trained models (rows with ``trained``) whose own gradient has an EF at most that
    low (they reach it with no gap). Returns a DataFrame indexed by family (sorted by EF)."""
    import pandas as pd

    cols = ["label", "method", "ef", "gap", "trained at most as complex"]
    sub = plane[(plane["model"] == model) & ~plane["trained"]]
    trained = plane[plane["trained"]]
    rows = []
    for family, g in sub.groupby("family", sort=False):
        best = g.loc[g["ef"].idxmin()]
        simpler = trained[trained["ef"] <= best["ef"]].sort_values("ef")["model"].tolist()
        rows.append({"family": family, "label": best["label"], "method": best["method"], "ef": float(best["ef"]),
                     "gap": float(best[gap]), "trained at most as complex": simpler})
    if not rows:
        return pd.DataFrame(columns=cols)
    return pd.DataFrame(rows).set_index("family").sort_values("ef")[cols]


# ------------------------------------------------------------------------------------------------ training cost
def setting_label(record: dict) -> str:
    """A training setting's name: the activation's display name, plus ``" + penalty <strength>"`` (and the kind when
    it is not ``tail_share``) for networks trained with the spectral penalty."""
    cfg = record["config"]
    s = float(cfg.get("penalty_strength", 0.0) or 0.0)
    if s > 0:
        kind = cfg.get("penalty_kind", "tail_share")
        return f"{record['activation']} + penalty {s:g}" + ("" if kind == "tail_share" else f" ({kind})")
    return record["activation"]


def setting_family(record: dict) -> str:
    """``"penalty"`` for a network trained with the spectral penalty, else its :func:`activation_family`."""
    if float(record["config"].get("penalty_strength", 0.0) or 0.0) > 0:
        return "penalty"
    return activation_family(record["config"]["activation"])


def profile_tail_share(profile, size: int, cutoff: float) -> float:
    """Share of a mean radial power spectrum (bin 0 = the zero frequency, bin r at ``r / size`` cycles/pixel, the
    penalty's binning) above ``cutoff`` cycles/pixel, bin 0 left out: the quantity the ``tail_share`` penalty lowers,
    here measured on the evaluated (rank-normalised) maps. NaN when there is no power outside bin 0."""
    p = np.asarray(profile, dtype=float)[1:]
    check_positive_int("size", size)
    cutoff = check_nonnegative_finite("cutoff", cutoff)
    f = np.arange(1, len(p) + 1) / size
    total = p.sum()
    return float(p[f > cutoff].sum() / total) if total > 0 else math.nan


def setting_table(records: Sequence[dict], ef_metric: str = "ef", scale: float = 1e5,
                  tail_cutoff: float | None = None):
    """One row per training setting (:func:`setting_label`; seeds pooled): ``family``, ``beta`` (SP's, inf for
    ReLU, NaN otherwise), ``penalty`` (strength, 0 without), the mean and std over networks of the per-network mean
    VanillaGrad ``ef_metric`` (``scale``d), ``networks``, ``cap reached`` (how many), mean ``test acc`` and ``epochs``,
    ``seconds`` (mean recorded training seconds) and ``s/epoch`` (recorded seconds / epochs, pooled). With
    ``tail_cutoff`` (cycles/pixel), ``tail share``: :func:`profile_tail_share` of the VanillaGrad mean spectrum,
    averaged over networks. Indexed by setting, ordered family (ReLU, penalty, SP, others) then beta/strength."""
    import pandas as pd

    rows = []
    labels = [setting_label(r) for r in records]
    for label in dict.fromkeys(labels):
        rs = [r for r, lab in zip(records, labels) if lab == label]
        per_net = network_means(rs, ef_metric, "vanilla_grad", scale)["value"]
        secs = [float(r["train"]["seconds"]) for r in rs]
        eps = [float(r["train"]["epochs"]) for r in rs]
        row = {"setting": label, "family": setting_family(rs[0]), "beta": float(rs[0]["beta"]),
               "penalty": float(rs[0]["config"].get("penalty_strength", 0.0) or 0.0),
               "EF mean": float(per_net.mean()), "EF std": float(per_net.std()) if len(per_net) > 1 else math.nan,
               "networks": len(rs), "cap reached": int(sum(bool(r["train"]["cap_reached"]) for r in rs)),
               "test acc": float(np.mean([r["train"]["test_accuracy"] for r in rs])), "epochs": float(np.mean(eps)),
               "seconds": float(np.mean(secs)), "s/epoch": float(sum(secs) / sum(eps)) if sum(eps) > 0 else math.nan}
        if tail_cutoff is not None:
            shares = [profile_tail_share(r["profile"]["vanilla_grad"], int(r["examples"]["vanilla_grad"].shape[-1]),
                                         tail_cutoff) for r in rs]
            row["tail share"] = float(np.nanmean(shares)) if np.isfinite(shares).any() else math.nan
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    order = {"ReLU": 0, "penalty": 1, "SP": 2, "Gaussian": 3, "other": 4}
    df = pd.DataFrame(rows)
    df["_o"] = df["family"].map(order)
    df["_b"] = np.where(df["family"] == "penalty", df["penalty"], -df["beta"].fillna(0.0))
    return df.sort_values(["_o", "_b"], kind="stable").drop(columns=["_o", "_b"]).set_index("setting")


def benchmark_epoch_seconds(config, epochs: int = 1, splits=None) -> float:
    """Seconds per training epoch of ``config``'s network measured *now*: ``train`` (the real training loop, with its
    end-of-epoch accuracy check) for ``epochs`` epochs without a cap, not cached. Networks trained at different times
    (by other chapters, under other machine load) record incomparable seconds; timing each setting back to back in
    one process gives a fair cost per epoch."""
    epochs = check_positive_int("epochs", epochs)
    cfg = replace(config, max_epochs=epochs, accuracy_cap=None).validate()
    splits = splits if splits is not None else load_for(cfg)
    _, result = train(cfg, splits, progress=False)
    return float(result.seconds / result.epochs)


def best_within_budget(table, family: str, budget: float, cost: str = "cost", ef: str = "EF mean"):
    """The row of ``table`` in ``family`` with the lowest ``ef`` among those whose ``cost`` is at most ``budget``
    (a Series, its name the setting), or None if no setting of the family is that cheap."""
    sub = table[(table["family"] == family) & (table[cost] <= budget) & np.isfinite(table[ef])]
    if sub.empty:
        return None
    return sub.loc[sub[ef].idxmin()]


def budget_comparison(table, family: str = "penalty", other: str = "SP", cost: str = "cost", ef: str = "EF mean"):
    """For each setting of ``family``: its ``cost`` and ``ef``, the lowest-EF setting of ``other`` that costs at most
    as much (``other setting``, ``other EF``, ``other cost``; NaN/None when none is that cheap) and ``lower EF``:
    which family's EF is lower at that budget (``family``, ``other``, ``tie`` or ``none`` when ``other`` has no
    setting within it). Returns a DataFrame indexed by ``family``'s settings."""
    import pandas as pd

    rows = []
    for name, row in table[table["family"] == family].iterrows():
        best = best_within_budget(table, other, float(row[cost]), cost, ef)
        if best is None:
            winner, o_name, o_ef, o_cost = "none", None, math.nan, math.nan
        else:
            o_name, o_ef, o_cost = best.name, float(best[ef]), float(best[cost])
            winner = family if row[ef] < o_ef else other if o_ef < row[ef] else "tie"
        rows.append({"setting": name, "cost": float(row[cost]), "EF": float(row[ef]), "other setting": o_name,
                     "other EF": o_ef, "other cost": o_cost, "lower EF": winner})
    cols = ["cost", "EF", "other setting", "other EF", "other cost", "lower EF"]
    return pd.DataFrame(rows, columns=["setting", *cols]).set_index("setting")
