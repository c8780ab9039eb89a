"""The sentences of the toolkit chapter (chapter 1): the synthetic maps' spectra, and VanillaGrad against
SmoothGrad on a ReLU and a smooth network.

SmoothGrad against VanillaGrad on one network is a paired comparison over that network's images (the same images
explained both ways; a 95% bootstrap over the images). A smooth network's VanillaGrad against ReLU's compares
networks, so its interval is over the networks (seeds) of each activation; one seed gives none, and the sentence
says the run cannot tell."""
from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from .stats import bootstrap_diff_ci
from .verdicts import fmt, interval_verdict
from .verdicts_faithfulness import paired_interval

__all__ = ["ranking", "synthetic_sentence", "vg_sg_sentences"]


def ranking(table, column: str) -> str:
    """``"a (3.1), b (2.0), ..."``: the rows of ``table`` from the highest to the lowest ``column`` (NaN last)."""
    order = table[column].sort_values(ascending=False, na_position="last")
    return ", ".join(f"{k} ({fmt(v)})" for k, v in order.items())


def synthetic_sentence(table, n_bins: int, peak: str = "peak bin (r > 0)", paper: str = "EF paper x1e5",
                       nyquist: str = "EF nyquist (cycles/px)") -> str:
    """The synthetic maps' sentence: where the two cosines' power lands (bins 5 and 15 for (3, 4) and (9, 12)
    cycles: sqrt(3^2 + 4^2) = 5, sqrt(9^2 + 12^2) = 15), the EF ranking under both definitions, and the checkerboard's
    peak bin against the last bin ``n_bins - 1`` (the corner). Rows that the table lacks are left out."""
    parts = []
    cos = [r for r in ("cosine (3, 4)", "cosine (9, 12)") if r in table.index]
    if cos:
        parts.append("The cosines land in bins " + " and ".join(
            f"{int(table.loc[r, peak])} ({r})" for r in cos) + " (expected: 5 and 15, the integer radii "
            "$\\sqrt{3^2+4^2}$ and $\\sqrt{9^2+12^2}$).")
    parts.append(f"From highest to lowest EF, paper definition: {ranking(table, paper)}; Nyquist variant: "
                 f"{ranking(table, nyquist)}.")
    if "checkerboard" in table.index:
        b = int(table.loc["checkerboard", peak])
        parts.append(f"The checkerboard's power peaks in bin {b} of {n_bins - 1}"
                     + (" (the corner bin, the highest frequency of the map)." if b == n_bins - 1 else "."))
    return " ".join(parts)


def _per_network(records: Sequence[dict]) -> list[dict]:
    seen, out = set(), []
    for r in records:
        key = json.dumps(r["config"], sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def vg_sg_sentences(records: Sequence[dict], metric: str = "ef", scale: float = 1e5, name: str = "paper EF x1e5"
                    ) -> str:
    """One bullet for ``metric`` (``"ef"`` or ``"ef_nyquist"``): does SmoothGrad lower the ReLU network's EF
    (paired over its images, per ReLU network), and is each other activation's own VanillaGrad EF below ReLU's
    (interval over seeds)? Needs a ReLU network with both methods; says so otherwise."""
    recs = _per_network(records)
    relu = [r for r in recs if r["activation"] == "ReLU" and {"vanilla_grad", "smooth_grad"} <= set(r[metric])]
    if not relu:
        return f"* {name}: no ReLU network with VanillaGrad and SmoothGrad in this run."
    parts = []
    for r in relu:
        vg = np.asarray(r[metric]["vanilla_grad"], dtype=float) * scale
        sg = np.asarray(r[metric]["smooth_grad"], dtype=float) * scale
        iv = paired_interval(sg, vg)
        seed = f" (seed {r['seed']})" if len(relu) > 1 else ""
        parts.append(f"SmoothGrad against VanillaGrad on the ReLU network{seed}: {fmt(np.nanmean(vg))} to "
                     f"{fmt(np.nanmean(sg))}, difference {interval_verdict(iv, 'raises it', 'lowers it')} (over "
                     f"its {iv.n} images)")
    means: dict[str, list[float]] = {}
    for r in recs:
        if "vanilla_grad" in r[metric]:
            means.setdefault(r["activation"], []).append(float(np.nanmean(np.asarray(r[metric]["vanilla_grad"],
                                                                                   dtype=float)) * scale))
    for act, vals in means.items():
        if act == "ReLU":
            continue
        iv = bootstrap_diff_ci(vals, means["ReLU"])
        parts.append(f"{act}'s own VanillaGrad EF {fmt(np.mean(vals))} against ReLU's {fmt(np.mean(means['ReLU']))}"
                     f": difference {interval_verdict(iv, 'above ReLU', 'below ReLU')} (over networks)")
    return f"* {name}: " + "; ".join(parts) + "."
