"""The EF-vs-beta chapter's headline statements (chapter 4): EF against beta with n and p, epochs to the cap, and the
centred-SoftPlus ablation, from the run's records. The training-length controls' statements are in
:mod:`.verdicts_training_length`."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .records import network_means
from .stats import Interval, bootstrap_diff_ci, bootstrap_ratio_ci
from .verdicts import evidence_word, fmt, interval_verdict
from .verdicts_training_length import rho_sentence_part as rho_text

__all__ = ["ef_beta_sentence", "centred_sentence", "cap_epochs_sentence"]


def ef_beta_sentence(records: Sequence[dict], scale: float = 1e5) -> str:
    """The chapter's headline numbers: Spearman of beta with the per-beta mean VanillaGrad EF (paper and Nyquist),
    over the per-beta means and over the networks, each with n and p; the smoothest network's mean EF against
    ReLU's with a bootstrap ratio interval over seeds; the NaN images skipped."""
    if not records:
        return "No network passed the cap: nothing to correlate."
    parts = []
    for metric, name, sc in (("ef", "paper EF", scale), ("ef_nyquist", "Nyquist EF", 1.0)):
        nets = network_means(records, metric, "vanilla_grad", sc).dropna(subset=["value"])
        per_beta = nets.groupby("beta")["value"].mean()
        pb, _ = rho_text(per_beta.index, per_beta.values)
        pn, rn = rho_text(nets["beta"], nets["value"])
        parts.append(f"with the {name}, {pb} over the per-β means and {pn} over the networks: "
                     f"{evidence_word(rn, 'EF rises with β', 'EF falls with β')}")
    nets = network_means(records, "ef", "vanilla_grad", scale).dropna(subset=["value"])
    finite = nets[np.isfinite(nets["beta"])]
    text = "**This run.** Spearman ρ between β and the mean VanillaGrad EF: " + "; ".join(parts) + "."
    if len(finite) and (nets["beta"] == math.inf).any():
        b0 = float(finite["beta"].min())
        low, relu = finite[finite["beta"] == b0]["value"], nets[nets["beta"] == math.inf]["value"]
        name = str(finite[finite["beta"] == b0]["activation"].iloc[0])
        ratio = bootstrap_ratio_ci(low, relu)
        text += (f" The smoothest network kept, {name}, has a mean paper EF of {fmt(low.mean())} x1e-5 against "
                 f"{fmt(relu.mean())} x1e-5 for ReLU, a ratio of "
                 + interval_verdict(ratio, "above ReLU's", "below ReLU's", null=1.0, digits=2) + ".")
    nan = sum(int(np.isnan(np.asarray(r["ef"]["vanilla_grad"], dtype=float)).sum()) for r in records)
    return text + f" {nan} per-image EF values were NaN (constant maps) and are skipped in the means."


def centred_sentence(sp_records: Sequence[dict], centred_records: Sequence[dict], scale: float = 1e5) -> str:
    """The centred-SoftPlus ablation: per beta present in both, the centred networks' mean VanillaGrad EF minus the
    paper SP's, with a bootstrap interval over seeds and its word ("higher", "lower" or that the run cannot tell),
    and the centred networks against ReLU."""
    if not centred_records:
        return "No centred network passed the cap."
    sp = network_means(sp_records, "ef", "vanilla_grad", scale)
    ce = network_means(centred_records, "ef", "vanilla_grad", scale)
    relu = sp[sp["beta"] == math.inf]["value"]
    parts = []
    for b in sorted(ce["beta"].unique()):
        c, s = ce[ce["beta"] == b]["value"], sp[sp["beta"] == b]["value"]
        if not len(s):
            continue
        d = bootstrap_diff_ci(c, s)
        vs_relu = bootstrap_diff_ci(c, relu) if len(relu) else Interval(math.nan, math.nan, math.nan, 0)
        parts.append(f"β = {b:g}: SPc {fmt(c.mean())} vs SP {fmt(s.mean())}, SPc − SP = "
                     + interval_verdict(d, "SPc higher", "SPc lower", digits=2) + "; SPc − ReLU = "
                     + interval_verdict(vs_relu, "SPc higher than ReLU", "SPc lower than ReLU", digits=2))
    if not parts:
        return "No β of the centred networks is among the paper SP networks kept: no pairwise comparison."
    return "**This run.** Mean VanillaGrad paper EF x1e5, centred against the paper's SP at the same β: " + \
        "; ".join(parts) + "."


def cap_epochs_sentence(records: Sequence[dict]) -> str:
    """Epochs to the cap per activation (mean over its kept networks, smoothest first) and the Spearman correlation
    of beta with epochs over the kept SP and ReLU networks (n, p): how strongly the cap ties training length to the
    activation."""
    kept = [r for r in records if r["train"]["cap_reached"]]
    if not kept:
        return "No network passed the cap."
    by: dict = {}
    for r in kept:
        by.setdefault((float(r["beta"]), r["activation"]), []).append(float(r["train"]["epochs"]))
    order = sorted(by, key=lambda k: (math.isnan(k[0]), k[0]))
    means = ", ".join(f"{name} {fmt(np.mean(by[(b, name)]))}" for b, name in order)
    pairs = [(float(r["beta"]), float(r["train"]["epochs"])) for r in kept if not math.isnan(float(r["beta"]))]
    txt, r = rho_text([b for b, _ in pairs], [e for _, e in pairs])
    return (f"Epochs to the cap (mean over the kept networks): {means}. Spearman between β and epochs: {txt}, "
            + evidence_word(r, "smoother activations stop earlier", "smoother activations train longer") + ".")
