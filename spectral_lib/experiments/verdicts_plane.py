"""The sentences of the complexity-faithfulness plane (chapter 11), from :func:`~spectral_lib.experiments.tradeoff.
plane_table` and the records behind it. No sentence compares a method with itself.

The plane's faithfulness axis is the gradient-form gap ``||e - grad f||^2 / ||grad f||^2`` (``gap="gap_grad"``;
zero for a model's own gradient by definition, so it measures only how far a post-hoc transform moves the map from
the gradient), the paper's Delta EF is the second, labelled measure (``gap="gap"``), and a Quantus score (e.g.
PixelFlipping) is the test that scores every point, own gradients included. Comparisons of two methods on the same
network are paired over its images (with several seeds: a bootstrap over the networks of the per-network mean
differences); comparisons between networks are bootstraps over networks (seeds), so one seed gives no interval and
the sentence says the run cannot tell."""
from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

from .stats import CANNOT_TELL, Interval, bootstrap_diff_ci, bootstrap_mean_ci, correlation_sentence
from .tradeoff import pareto_front, surrogate_summary
from .verdicts import fmt, interval_verdict
from .verdicts_faithfulness import paired_interval

__all__ = ["method_difference", "front_sentence", "posthoc_sentences", "within_smoothgrad_sentence",
           "betasmooth_direction_sentence", "trained_vs_posthoc_sentences", "own_gradient_faithfulness_sentence",
           "plane_sentences", "GAP_NAMES"]

GAP_NAMES = {"gap_grad": "gradient-form gap", "gap_grad_rank": "gradient-form gap on rank maps",
             "gap": "ΔEF (the paper's gap, a difference of complexities)"}
_RECORD_KEY = {"ef": "ef", "ef_nyquist": "ef_nyquist", "ef_tiebreak": "ef_tiebreak", "gap_grad": "gap_grad_l2",
               "gap_grad_rank": "gap_grad_rank_l2"}


def _networks(records: Sequence[dict], model: str, methods: Sequence[str], key: str) -> list[dict]:
    """The records of ``model``'s networks that hold every method of ``methods`` under ``key``, each network once."""
    seen, out = set(), []
    for r in records:
        if r["activation"] != model or key not in r or not all(m in r[key] for m in methods):
            continue
        net = json.dumps(r["config"], sort_keys=True, default=str)
        if net not in seen:
            seen.add(net)
            out.append(r)
    return out


def method_difference(records: Sequence[dict], model: str, method: str, other: str, column: str = "ef",
                      scale: float = 1.0) -> tuple[Interval, str]:
    """``column`` of ``method`` minus that of ``other`` on ``model``'s networks (``column``: a plane column with
    per-image values, ``"ef"``, ``"ef_nyquist"``, ``"gap_grad"``, ``"gap_grad_rank"``), ``scale``d, and what the
    interval is over: ``"images"`` (one network: paired over its images) or ``"networks"`` (several: bootstrap over
    the per-network mean differences). NaN interval (n = 0) when no network has both methods."""
    key = _RECORD_KEY.get(column, column)
    nets = _networks(records, model, [method, other], key)
    if not nets:
        return Interval(math.nan, math.nan, math.nan, 0), "networks"
    if len(nets) == 1:
        r = nets[0]
        return paired_interval(np.asarray(r[key][method], dtype=float) * scale,
                               np.asarray(r[key][other], dtype=float) * scale), "images"
    diffs = [float(np.nanmean(np.asarray(r[key][method], dtype=float) - np.asarray(r[key][other], dtype=float)))
             * scale for r in nets]
    return bootstrap_mean_ci(diffs), "networks"


def front_sentence(plane, gap: str = "gap_grad", unit: str = "x1e-5") -> str:
    """The points of the plane's lower-left front (EF against ``gap``), as numbers."""
    if plane.empty or gap not in plane.columns or not np.isfinite(plane[gap].to_numpy(dtype=float)).any():
        return f"The plane with the {GAP_NAMES.get(gap, gap)} has no point in this run."
    front = plane[pareto_front(plane, "ef", gap)].sort_values("ef")
    return (f"With the {GAP_NAMES.get(gap, gap)} as the faithfulness axis and EF ({unit}) as complexity, the front "
            "(points that no other point beats on both) is: "
            + ", ".join(f"{r['model']} {r['label']} (EF {fmt(r['ef'])}, gap {fmt(r[gap])})" for _, r in front.iterrows())
            + ".")


def posthoc_sentences(plane, gap: str = "gap_grad", model: str = "ReLU") -> str:
    """Per post-hoc family on ``model``: its lowest-EF setting with that setting's EF and ``gap``, and the trained
    networks whose own gradient has a mean EF at most as low (at zero gap). The latter compares networks by their
    means; :func:`trained_vs_posthoc_sentences` gives the intervals."""
    summ = surrogate_summary(plane, model, gap) if len(plane) else plane
    if len(summ) == 0:
        return f"No post-hoc method was applied to the {model} network in this run."
    return (f"On the {model} network, per family, the lowest EF: "
            + "; ".join(f"{r['label']}: EF {fmt(r['ef'])} at a {GAP_NAMES.get(gap, gap)} of {fmt(r['gap'])}, "
                        f"matched or beaten by the mean EF of the own gradient of "
                        f"{', '.join(r['trained at most as complex']) or 'no trained network'}"
                        for _, r in summ.iterrows()) + ".")


def within_smoothgrad_sentence(plane, records: Sequence[dict], gap: str = "gap_grad", model: str = "ReLU",
                               unit_scale: float = 1e5) -> str:
    """Among ``model``'s post-hoc points *other than SmoothGrad* whose mean ``gap`` is at most SmoothGrad's: the
    one with the lowest EF, and whether its EF is below SmoothGrad's (a paired interval); or that none stays
    within SmoothGrad's gap. Never compares SmoothGrad with itself."""
    sub = plane[(plane["model"] == model) & ~plane["trained"]]
    sg = sub[sub["method"] == "smooth_grad"]
    if sg.empty or gap not in sub.columns or not np.isfinite(float(sg[gap].iloc[0])):
        return f"SmoothGrad was not applied to the {model} network in this run (or has no {GAP_NAMES.get(gap, gap)})."
    g0, e0 = float(sg[gap].iloc[0]), float(sg["ef"].iloc[0])
    within = sub[(sub["method"] != "smooth_grad") & (sub[gap] <= g0)]
    head = f"SmoothGrad on the {model} network: EF {fmt(e0)} at a {GAP_NAMES.get(gap, gap)} of {fmt(g0)}. "
    if within.empty:
        return head + "No other post-hoc point stays within that gap."
    w = within.loc[within["ef"].idxmin()]
    iv, basis = method_difference(records, model, w["method"], "smooth_grad", "ef", unit_scale)
    return (head + f"Of the {len(within)} other post-hoc point(s) within it, the lowest EF is {w['label']}'s "
            f"(EF {fmt(w['ef'])}, gap {fmt(w[gap])}); its EF minus SmoothGrad's: "
            f"{interval_verdict(iv, 'higher than SmoothGrad', 'lower than SmoothGrad')} (over {basis}).")


def betasmooth_direction_sentence(records: Sequence[dict], model: str = "ReLU", column: str = "ef",
                                  scale: float = 1e5) -> str:
    """Whether each BetaSmooth setting raises or lowers the EF of ``model``'s own gradient (``column``: ``"ef"``
    or ``"ef_nyquist"``), each with its interval, and a count."""
    methods = sorted({m for r in records if r["activation"] == model for m in r.get(_RECORD_KEY[column], {})
                      if m.startswith("beta_smooth_grad")})
    if not methods:
        return f"BetaSmooth was not applied to the {model} network in this run."
    words, parts = [], []
    for m in methods:
        iv, basis = method_difference(records, model, m, "vanilla_grad", column, scale)
        word = interval_verdict(iv, "raises", "lowers")
        words.append(word.rsplit(": ", 1)[-1] if CANNOT_TELL not in word else CANNOT_TELL)
        parts.append(f"{m.split(':')[1] if ':' in m else m}: {word} (over {basis})")
    counts = {w: words.count(w) for w in ("raises", "lowers", CANNOT_TELL)}
    return (f"BetaSmooth against the {model} network's own gradient ({column}, difference): β = " + "; β = ".join(parts)
            + f". It raises EF at {counts['raises']}, lowers it at {counts['lowers']} and the run cannot tell at "
              f"{counts[CANNOT_TELL]} of {len(methods)} settings.")


def _net_means(records: Sequence[dict], model: str, method: str, key: str, scale: float) -> list[float]:
    return [float(np.nanmean(np.asarray(r[key][method], dtype=float))) * scale
            for r in _networks(records, model, [method], key)]


def trained_vs_posthoc_sentences(plane, records: Sequence[dict], betas: Sequence[float] = (),
                                 model: str = "ReLU", scale: float = 1e5) -> list[str]:
    """The simplest trained SP network (lowest mean EF, on the zero-gap axis) against each of ``model``'s post-hoc
    points, and for each ``beta`` explain-time BetaSmooth(beta) on ``model`` against the SP(beta) network trained
    from scratch: differences of EF with intervals over networks (one seed: none, the run cannot tell)."""
    sp = plane[plane["trained"] & plane["model"].astype(str).str.startswith("SP(")]
    post = plane[(plane["model"] == model) & ~plane["trained"]]
    if sp.empty or post.empty:
        return [f"No trained SP network and no post-hoc point of the {model} network to compare in this run."]
    s = sp.loc[sp["ef"].idxmin()]
    sp_vals = _net_means(records, s["model"], "vanilla_grad", "ef", scale)
    parts = []
    for _, row in post.sort_values("ef").iterrows():
        iv = bootstrap_diff_ci(_net_means(records, model, row["method"], "ef", scale), sp_vals)
        parts.append(f"{row['label']} {interval_verdict(iv, 'more complex', 'simpler')}")
    out = [f"The simplest trained SP network, {s['model']} (EF {fmt(s['ef'])}, its own gradient: gap 0), against "
           f"the {model} network's post-hoc points (EF difference, over networks): " + "; ".join(parts) + "."]
    for b in betas:
        e = post[post["method"] == f"beta_smooth_grad:{b:g}"]
        t = sp[sp["model"] == f"SP({b:g})"]
        if e.empty or t.empty:
            continue
        iv = bootstrap_diff_ci(_net_means(records, model, f"beta_smooth_grad:{b:g}", "ef", scale),
                               _net_means(records, f"SP({b:g})", "vanilla_grad", "ef", scale))
        out.append(f"At β = {b:g}: explain-time BetaSmooth on {model}, EF {fmt(e['ef'].iloc[0])}, against SP({b:g}) "
                   f"trained from scratch, EF {fmt(t['ef'].iloc[0])}: difference "
                   f"{interval_verdict(iv, 'BetaSmooth more complex', 'BetaSmooth simpler')}.")
    return out


def own_gradient_faithfulness_sentence(plane, metric: str = "PixelFlipping") -> str:
    """Across the trained networks' own gradients (one point per network kind): the rank correlation of EF with an
    independent faithfulness score ``metric`` (n and p): does a simpler own gradient score differently?"""
    t = plane[plane["trained"]] if len(plane) else plane
    if len(t) == 0 or metric not in t.columns:
        return f"{metric} was not computed for the trained networks in this run."
    d = t[["ef", metric]].astype(float).dropna()
    return correlation_sentence(d["ef"], d[metric], f"between EF and {metric} over the trained networks' own "
                                                    "gradients") + "."


def plane_sentences(plane, records: Sequence[dict], betas: Sequence[float] = (), gap: str = "gap_grad",
                    metric: str | None = "PixelFlipping", model: str = "ReLU", unit: str = "x1e-5",
                    scale: float = 1e5) -> list[str]:
    """Every sentence of the plane (paper EF, ``scale``d as the plane's ``ef`` column), in reading order."""
    if plane.empty:
        return ["No network passed the cap: the plane is empty."]
    out = [front_sentence(plane, gap, unit), posthoc_sentences(plane, gap, model),
           within_smoothgrad_sentence(plane, records, gap, model, scale),
           betasmooth_direction_sentence(records, model, "ef", scale)]
    out += trained_vs_posthoc_sentences(plane, records, betas, model, scale)
    if metric:
        out.append(own_gradient_faithfulness_sentence(plane, metric))
    return out
