"""The sentences of the explanation-gap chapter (chapter 5) that check the paper's claims on a run's records.

The paper's gap of a method on one network is ``|mean EF(method) - mean EF(VanillaGrad)|`` over that network's
images (its tables' arithmetic). A claim about activations ("the gap is smaller for the smoother network") compares
networks, so its interval is a bootstrap over the networks (seeds) of each activation
(:func:`~spectral_lib.experiments.stats.bootstrap_ratio_ci`); one seed gives no interval and the sentence says the
run cannot tell."""
from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np

from .stats import bootstrap_ratio_ci
from .verdicts import fmt, interval_verdict

__all__ = ["network_gaps", "gap_claim_sentences", "SURROGATE_ROWS", "GRADIENT_LIKE_ROWS"]

# the paper's rows that smooth (SmoothGrad, its "GradCAM" = captum GuidedGradCam, its "GuidedBP") and those that stay
# close to the gradient (IntGrad, DeepLift), as the authors' captum calls compute them
SURROGATE_ROWS = ("smooth_grad", "captum_guided_grad_cam", "captum_guided_backprop")
GRADIENT_LIKE_ROWS = ("captum_integrated_gradients", "captum_deeplift")
_NAMES = {"smooth_grad": "SmoothGrad", "captum_guided_grad_cam": "the paper's \"GradCAM\" (captum GuidedGradCam)",
          "grad_cam": "plain Grad-CAM", "captum_guided_backprop": "the paper's \"GuidedBP\" (captum)",
          "guided_backprop": "our generalised Guided Backprop"}


def network_gaps(records: Sequence[dict], method: str, ef_metric: str = "ef", scale: float = 1e5
                 ) -> dict[str, list[float]]:
    """Activation -> the paper's gap of ``method`` on each of its networks (one value per network, seeds in
    order), ``scale``d; a network measured in several grids counts once. Networks without the method are skipped;
    a gap with NaN EF on every image is NaN."""
    out: dict[str, list[float]] = {}
    seen = set()
    for r in records:
        if method not in r[ef_metric] or "vanilla_grad" not in r[ef_metric]:
            continue
        net = json.dumps(r["config"], sort_keys=True, default=str)
        if net in seen:
            continue
        seen.add(net)
        a = np.asarray(r[ef_metric][method], dtype=float)
        b = np.asarray(r[ef_metric]["vanilla_grad"], dtype=float)
        gap = abs(np.nanmean(a) - np.nanmean(b)) * scale if np.isfinite(a).any() and np.isfinite(b).any() else math.nan
        out.setdefault(r["activation"], []).append(float(gap))
    return out


def _smoothest(records: Sequence[dict]) -> str | None:
    sp = {r["activation"]: float(r["beta"]) for r in records if math.isfinite(float(r["beta"]))}
    return min(sp, key=sp.get) if sp else None


def gap_claim_sentences(records: Sequence[dict], ef_metric: str = "ef", scale: float = 1e5) -> list[str]:
    """Bullet sentences checking the paper's two gap claims on ``records`` (networks that reached the cap):

    1. for each smoothing method, the gap on the smoothest SP network against ReLU's: the ratio of the mean gaps
       with an interval over networks, "smaller"/"larger" only when it excludes 1;
    2. on ReLU networks, the mean gap of the paper's smoothing rows against its gradient-like rows (IntGrad,
       DeepLift), the same way;
    3. on SP networks, the gap of captum's Guided Backprop (which guides only ``nn.ReLU``: the plain logit gradient
       there) beside our generalised rule's, as numbers.

    Returns ``["This run has no ReLU and SP network pair to compare."]`` without both."""
    smooth = _smoothest(records)
    if smooth is None or not any(r["activation"] == "ReLU" for r in records):
        return ["This run has no ReLU and SP network pair to compare."]
    lines = []
    for m, name in _NAMES.items():
        g = network_gaps(records, m, ef_metric, scale)
        if smooth not in g or "ReLU" not in g:
            continue
        iv = bootstrap_ratio_ci(g[smooth], g["ReLU"])
        lines.append(f"* {name}: gap {fmt(np.nanmean(g[smooth]))} for {smooth} against {fmt(np.nanmean(g['ReLU']))}"
                     f" for ReLU; ratio {interval_verdict(iv, 'larger for the smoother network', 'smaller for the smoother network', 1.0)}.")
    sur = [network_gaps(records, m, ef_metric, scale).get("ReLU") for m in SURROGATE_ROWS]
    close = [network_gaps(records, m, ef_metric, scale).get("ReLU") for m in GRADIENT_LIKE_ROWS]
    if all(s is not None for s in sur) and all(c is not None for c in close):
        a = np.nanmean(np.array(sur, dtype=float), axis=0)  # per ReLU network: mean over the rows
        b = np.nanmean(np.array(close, dtype=float), axis=0)
        iv = bootstrap_ratio_ci(a, b)
        lines.append(f"* For ReLU, the mean gap of the paper's smoothing rows (SmoothGrad, GradCAM, GuidedBP) is "
                     f"{fmt(np.nanmean(a))} against {fmt(np.nanmean(b))} for the gradient-like rows (IntGrad, "
                     f"DeepLift); ratio {interval_verdict(iv, 'larger for the smoothing rows', 'smaller for the smoothing rows', 1.0)}.")
    paper = network_gaps(records, "captum_guided_backprop", ef_metric, scale)
    ours = network_gaps(records, "guided_backprop", ef_metric, scale)
    sp = [a for a in paper if a != "ReLU"]
    if sp:
        lines.append("* On the SP networks captum's Guided Backprop guides nothing (it hooks only `nn.ReLU`): the "
                     "paper's GuidedBP row there is the plain gradient of the logit, and its gap ("
                     + ", ".join(f"{a} {fmt(np.nanmean(paper[a]))}" for a in sp)
                     + ") is only the difference between explaining the logit and the log-softmax. Our generalised "
                       "rule, which does guide through SP, gives "
                     + (", ".join(f"{a} {fmt(np.nanmean(ours[a]))}" for a in sp if a in ours) or "n/a (not run)")
                     + ".")
    return lines or ["This run has none of the smoothing methods on both a ReLU and an SP network."]
