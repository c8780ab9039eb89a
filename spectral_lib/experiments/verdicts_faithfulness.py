"""The sentences of the independent-faithfulness sections (chapter 5; the plane of chapter 11 reads the same
tables), computed from :func:`~spectral_lib.experiments.faithfulness.run_faithfulness`'s records and entries and
:func:`~spectral_lib.experiments.faithfulness.faithfulness_table`.

Comparisons of two methods on one network are paired over that network's images (the same images explained by
both): a 95% percentile bootstrap over the images of the mean per-image difference. Such an interval is about *this*
network; with several seeds every network is stated on its own. A comparison word ("more faithful", "changes") is
used only when the interval excludes no difference; otherwise the sentence says the run cannot tell. Rank
agreements are Spearman correlations over (network, method) rows with their n and p
(:func:`~spectral_lib.experiments.stats.correlation_sentence`)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..metrics.faithfulness import DIRECTION, RANDOM_MAP
from .faithfulness import method_display
from .stats import CANNOT_TELL, Interval, correlation_sentence

__all__ = ["paired_interval", "network_name", "versus_sentence", "randomisation_sentence", "agreement_sentences",
           "gap_agreement_sentences", "cost_sentence", "METRIC_TEXT"]

METRIC_TEXT = {
    "PixelFlipping": "normalised area under p(y) as the most relevant pixels are replaced by the dataset mean; "
                     "lower: more faithful",
    "RegionPerturbation": "mean drop of p(y) as the most relevant patches are replaced by the dataset mean; "
                          "higher: more faithful",
    "ROAD": "accuracy as the most relevant pixels are imputed from their neighbours; lower: more faithful",
    "FaithfulnessCorrelation": "correlation of a random subset's attribution with the output drop when it is "
                               "removed; higher: more faithful",
    "Infidelity": "squared error of the attribution's first-order prediction of the output change under noise; "
                  "lower: more faithful",
    "MPRT": "Spearman correlation of |map| before and after every layer of the network is re-initialised; "
            "1: unchanged",
    "RandomLogit": "similarity (SSIM) of the map of the predicted class and of a random other class; 1: the same",
    "EfficientMPRT": "relative rise of the map's histogram entropy when the network is randomised; 0: unchanged",
    "Sparseness": "Gini index of |map|; higher: sparser",
    "Complexity": "entropy of |map|; lower: simpler",
}


_FAITHFULNESS = ("PixelFlipping", "RegionPerturbation", "ROAD", "FaithfulnessCorrelation", "Infidelity")


def paired_interval(a: Sequence[float], b: Sequence[float], sign: float = 1.0, level: float = 0.95,
                    n_boot: int = 2000, seed: int = 0) -> Interval:
    """Mean over images of ``sign * (a_i - b_i)`` (pairs with a NaN dropped) with a percentile-bootstrap interval
    over the images (all draws at once). n: the number of pairs; fewer than 2 pairs give no interval."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired_interval needs equally many values, got {a.shape} and {b.shape}")
    d = sign * (a - b)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    point = float(d.mean())
    if len(d) < 2:
        return Interval(point, math.nan, math.nan, len(d), level)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (n_boot, len(d)))].mean(1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(point, float(lo), float(hi), len(d), level)


def network_name(record: dict, several_seeds: bool) -> str:
    """``"ReLU"``, or ``"ReLU seed 1"`` when the run has several seeds of an activation."""
    return f"{record['activation']} seed {record['seed']}" if several_seeds else str(record["activation"])


def _pairs(records: Sequence[dict], entries: Sequence[dict | None]) -> list[tuple[dict, dict, str]]:
    """(record, entry, network name) per network with an entry (not None), in order: a network measured in several
    grids (same configuration) gets one merged entry whose scores hold every method once (its first measurement)."""
    import json

    kept = [(r, e) for r, e in zip(records, entries) if e is not None]
    seeds: dict[str, set] = {}
    for r, _ in kept:
        seeds.setdefault(r["activation"], set()).add(r["seed"])
    several = any(len(s) > 1 for s in seeds.values())
    merged: dict[str, tuple[dict, dict, str]] = {}
    for r, e in kept:
        net = json.dumps(r["config"], sort_keys=True, default=str)
        if net not in merged:
            merged[net] = (r, {**e, "scores": dict(e["scores"])}, network_name(r, several))
        else:
            scores = merged[net][1]["scores"]
            for m, v in e["scores"].items():
                scores.setdefault(m, v)
    return list(merged.values())


def _listing(items: list[tuple[str, Interval]], digits: int = 2) -> str:
    return ", ".join(f"{m} ({iv.value:+.{digits}g})" for m, iv in items)


def versus_sentence(records: Sequence[dict], entries: Sequence[dict | None], metric: str,
                    reference: str = RANDOM_MAP) -> str:
    """For each network: which methods score better than ``reference`` (``RANDOM_MAP``, the control, or
    ``"vanilla_grad"``, the model's own gradient) on ``metric``, which score worse, and which the run cannot tell
    apart from it (a paired interval over the network's images that contains 0). The numbers in brackets are the
    mean per-image advantage over the reference, in the metric's units, positive = better. Says so when no network
    has the metric or the reference."""
    if metric not in DIRECTION:
        raise ValueError(f"unknown metric {metric!r}; choose from {list(DIRECTION)}")
    ref = method_display(reference)
    good, bad = ("more faithful", "less faithful") if metric in _FAITHFULNESS else ("better", "worse")
    head = f"**{metric}** ({METRIC_TEXT.get(metric, '')}), against {ref}, paired over each network's images: "
    parts = []
    for rec, entry, name in _pairs(records, entries):
        scores = entry["scores"]
        if reference not in scores or metric not in scores[reference]:
            continue
        better, worse, unsure = [], [], []
        for method, s in scores.items():
            if method == reference or metric not in s:
                continue
            iv = paired_interval(s[metric], scores[reference][metric], DIRECTION[metric])
            target = better if iv.excludes(0) and iv.low > 0 else worse if iv.excludes(0) else unsure
            target.append((method_display(method), iv))
        if not (better or worse or unsure):
            continue
        n = entry["n_images"]
        text = [f"{len(better)} of {len(better) + len(worse) + len(unsure)} methods {good} than {ref}"
                + (f": {_listing(better)}" if better and reference != RANDOM_MAP else "")]
        if worse:
            text.append(f"{bad}: {_listing(worse)}")
        if unsure:
            text.append(f"{CANNOT_TELL} for {_listing(unsure)}")
        parts.append(f"*{name}* ({n} images): " + "; ".join(text))
    if not parts:
        return head + f"no network in this run has {metric} scores for {ref}."
    return head + ". ".join(parts) + "."


def randomisation_sentence(records: Sequence[dict], entries: Sequence[dict | None], metric: str = "MPRT") -> str:
    """For each network: the methods whose explanation changes under ``metric`` (``"MPRT"``: the network's weights
    randomised; ``"RandomLogit"``: another class explained), i.e. whose mean similarity has an interval over the
    images wholly below 1, with the value, and those for which the run cannot tell (the interval reaches 1, as for
    the model-independent random map, which must be flagged). Methods that were not re-explained are named."""
    if metric not in ("MPRT", "RandomLogit"):
        raise ValueError(f"metric must be 'MPRT' or 'RandomLogit', got {metric!r}")
    head = f"**{metric}** ({METRIC_TEXT[metric]}): "
    parts = []
    skipped: set[str] = set()
    for rec, entry, name in _pairs(records, entries):
        changed, unchanged = [], []
        for method, s in entry["scores"].items():
            if metric not in s:
                skipped.add(method_display(method))
                continue
            v = np.asarray(s[metric], dtype=float)
            iv = paired_interval(v, np.ones_like(v))
            item = f"{method_display(method)} {iv.value + 1:.2f}"
            (changed if iv.excludes(0) and iv.high < 0 else unchanged).append(item)
        if changed or unchanged:
            parts.append(f"*{name}*: changes (interval below 1) for {', '.join(changed) or 'no method'}"
                         + (f"; {CANNOT_TELL} (interval reaches 1) for {', '.join(unchanged)}" if unchanged else ""))
    if not parts:
        return head + "not computed in this run."
    note = f" Not re-explained (cost): {', '.join(sorted(skipped))}." if skipped else ""
    return head + ". ".join(parts) + "." + note


def _rows(table, exclude: Sequence[str] = (RANDOM_MAP,)):
    return table[~table["method"].isin(list(exclude))] if len(table) else table


def agreement_sentences(table, ef_columns: Sequence[tuple[str, str]] = (("ef_paper", "the paper's EF"),
                                                                      ("ef_tiebreak", "the tie-broken paper EF"),
                                                                      ("ef_nyquist", "the Nyquist EF"))) -> list[str]:
    """Rank agreement of EF with Quantus' complexity metrics over the (network, method) rows of
    :func:`faithfulness_table` (the control left out): one sentence per EF column and metric (Sparseness: an
    agreeing EF correlates negatively; Complexity: positively), each with n and p."""
    rows = _rows(table)
    out = []
    for col, name in ef_columns:
        for metric, sign in (("Complexity", "+"), ("Sparseness", "-")):
            if len(rows) == 0 or col not in rows.columns or metric not in rows.columns:
                out.append(f"{name} against {metric}: not computed in this run.")
                continue
            d = rows[[col, metric]].astype(float).dropna()
            s = correlation_sentence(d[col], d[metric], f"between {name} and Quantus' {metric}")
            out.append(f"{s} (agreement means a {'positive' if sign == '+' else 'negative'} ρ).")
    return out


def gap_agreement_sentences(table, metrics: Sequence[str] = ("PixelFlipping", "RegionPerturbation")) -> list[str]:
    """Does the paper's Delta EF rank methods like the independent measures? Spearman correlations over the
    (network, method) rows other than VanillaGrad (whose Delta EF and gradient-form gap are zero by construction)
    and the control: Delta EF against the gradient-form gap on rank maps, and the gradient-form gap and Delta EF
    against each perturbation metric, each with n and p."""
    rows = _rows(table, (RANDOM_MAP, "vanilla_grad"))
    pairs = [("delta_ef", "gap_grad_rank_l2", "between ΔEF and the gradient-form gap (rank maps)")]
    for m in metrics:
        pairs.append(("gap_grad_rank_l2", m, f"between the gradient-form gap (rank maps) and {m}"))
        pairs.append(("delta_ef", m, f"between ΔEF and {m}"))
    out = []
    for a, b, what in pairs:
        if len(rows) == 0 or a not in rows.columns or b not in rows.columns:
            out.append(f"Spearman ρ {what}: not computed in this run.")
            continue
        d = rows[[a, b]].astype(float).dropna()
        out.append(correlation_sentence(d[a], d[b], what) + ".")
    return out


def cost_sentence(entries: Sequence[dict | None]) -> str:
    """What the Quantus suite cost when its entries were computed (each entry records its own seconds; a cached
    entry keeps the time of the build that computed it): pairs, images, total seconds and seconds per
    image-method pair."""
    es = [e for e in entries if e is not None]
    if not es:
        return "No network passed the cap: no faithfulness score was computed."
    pairs = sum(len(e["scores"]) for e in es)
    images = sum(len(e["scores"]) * int(e["n_images"]) for e in es)
    secs = sum(float(e["seconds"]) for e in es)
    return (f"The Quantus suite scored {pairs} (network, method) pairs ({images} image-method pairs, the random-map "
            f"control included) in {secs:.0f} s when it was computed ({1000 * secs / max(images, 1):.0f} ms per "
            "image and method, on the machine and under the load of that build; the entries are cached since).")
