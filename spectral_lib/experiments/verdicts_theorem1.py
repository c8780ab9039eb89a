"""The Theorem 1 chapter's statements (chapter 3), and the rank-correlation table it and the spatial-correlation
chapter share: per group of networks (a pooling type, an input condition), Spearman's rho between the network's
line tail mass and its gradient's spatial tail (slope, EF), with n and an exact or t-approximate p-value
(:func:`spectral_lib.experiments.stats.spearman_test`). A correlation is "borne out" only with p < 0.05; with 4
networks the smallest possible p is 1/12, so one seed of 4 activations can never support the theorem or refute it."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .stats import spearman_test
from .verdicts import CANNOT_TELL, evidence_word, rho_text

__all__ = ["THEOREM1_PAIRS", "correlation_table", "theorem1_sentences", "theorem1_verdict"]

# (x column, y column, words): the pairs Theorem 1 predicts to rank together (all positive in the paper's direction)
THEOREM1_PAIRS = (
    ("beta", "line_tail_mass", "β and the network's line tail mass"),
    ("line_tail_mass", "grad_tail_slope", "line tail mass and the gradient's spatial tail slope"),
    ("line_tail_mass", "grad_ef", "line tail mass and the gradient's EF (paper)"),
    ("line_tail_mass", "grad_ef_nyquist", "line tail mass and the gradient's EF (Nyquist)"),
)


def correlation_table(df, by: str, pairs: Sequence[tuple[str, str, str]] = THEOREM1_PAIRS):
    """Per value of column ``by`` of ``df`` (one row per network): ``networks`` and, per pair ``(x, y, words)`` of
    ``pairs``, columns ``"rho(x, y)"`` and ``"p(x, y)"`` (:func:`spearman_test`; NaN for a constant side or one
    network). Pairs whose columns are missing are skipped. Returns a DataFrame indexed by ``by`` (empty for empty
    ``df``)."""
    import pandas as pd

    rows = []
    for key, sub in df.groupby(by, sort=False):
        row = {by: key, "networks": int(len(sub))}
        for x, y, _ in pairs:
            if x in sub and y in sub:
                r = spearman_test(sub[x].to_numpy(float), sub[y].to_numpy(float))
                row[f"rho({x}, {y})"], row[f"p({x}, {y})"] = r["rho"], r["p"]
        rows.append(row)
    cols = [by, "networks"] + [f"{k}({x}, {y})" for x, y, _ in pairs for k in ("rho", "p")
                              if x in df and y in df]
    return pd.DataFrame(rows, columns=cols).set_index(by)


def _span(values: np.ndarray) -> str:
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) < 2:
        return ""
    lo, hi = float(v.min()), float(v.max())
    return f"; the line tail mass spans {lo:.1e} to {hi:.1e} ({math.log10(hi / lo):.1f} decades)"


def theorem1_verdict(sub, x: str = "line_tail_mass", y: str = "grad_tail_slope") -> str:
    """Whether one group of networks (``sub``: one row per network) bears out Theorem 1's link between ``x`` and
    ``y``: "borne out" (rho > 0, p < 0.05), "contradicted" (rho < 0, p < 0.05) or the run cannot tell (with the
    reason)."""
    r = spearman_test(sub[x].to_numpy(float), sub[y].to_numpy(float)) if len(sub) else {
        "rho": math.nan, "p": math.nan, "n": 0}
    return evidence_word(r, "borne out", "contradicted")


def theorem1_sentences(df, by: str = "pool", label: str = "{}-pool CNN") -> str:
    """The Theorem 1 chapter's "This run" paragraph: per group (``by``: the pooling type), the number of networks
    and seeds, each pair of :data:`THEOREM1_PAIRS` as "ρ = +0.80 (n = 12, p = 0.002)" and the verdict on the theorem's
    link (line tail mass vs gradient tail slope, :func:`theorem1_verdict`); the span of the line tail mass.

    ``df``: one row per kept network with ``by``, ``activation``, ``seed``, ``beta`` (inf for ReLU),
    ``line_tail_mass``, ``grad_tail_slope``, ``grad_ef``, ``grad_ef_nyquist``. Empty ``df``: says that no network
    passed the cap."""
    if df is None or not len(df):
        return "**This run.** No network passed the cap: nothing to correlate."
    lines = []
    for key, sub in df.groupby(by, sort=False):
        n_act, n_seed = sub["activation"].nunique(), sub["seed"].nunique()
        parts = []
        for x, y, words in THEOREM1_PAIRS:
            text, _ = rho_text(sub[x].to_numpy(float), sub[y].to_numpy(float))
            parts.append(f"between {words} {text}")
        verdict = theorem1_verdict(sub)
        span = _span(sub["line_tail_mass"].to_numpy(float))
        lines.append(f"* **{label.format(key)}** ({len(sub)} networks: {n_act} activations x {n_seed} seed"
                     f"{'s' if n_seed != 1 else ''}): " + "; ".join(parts) + span
                     + f". Theorem 1's link (a heavier network tail, a flatter gradient tail): **{verdict}**.")
    undecided = [k for k, s in df.groupby(by, sort=False) if theorem1_verdict(s).startswith(CANNOT_TELL)]
    tail = ""
    if undecided:
        tail = ("\n\nWhere the run cannot tell, more networks (seeds or activations) are needed: a rank correlation "
                "over n networks is evidence only when its p-value is small, and with few networks even a perfect "
                "ordering is not.")
    return "**This run.**\n\n" + "\n".join(lines) + tail
