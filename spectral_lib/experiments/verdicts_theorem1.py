"""The Theorem 1 chapter's statements (chapter 3), and the rank-correlation table it and the spatial-correlation
chapter share: per group of networks (a pooling type, an input condition), Spearman's rho between the network's
line tail mass and its gradient's spatial tail (slope, EF), with n and an exact or t-approximate p-value
(:func:`spectral_lib.experiments.stats.spearman_test`). A correlation is "borne out" only with p < 0.05; with 4
networks the smallest possible p is 1/12, so one seed of 4 activations can never support the theorem or refute it.

The line tail mass has a measurement floor (``line_floor_mass``, :func:`spectral_lib.theory.theorem1_summary`):
float32's rounding noise, or, where float32 does not resolve a tail and the summary measures it again in float64,
the window's leakage. A smooth network's true tail can lie below it, and then the measured mass ranks noise. Before
any correlation, :func:`ranked_tail_mass` puts every unresolved mass (below
:data:`~spectral_lib.theory.LINE_FLOOR_FACTOR` times its floor) in one tie below every resolved mass: it is known
only to be small, not how small."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..theory import LINE_FLOOR_FACTOR, tail_mass_resolved
from .stats import spearman_test
from .verdicts import CANNOT_TELL, evidence_word, rho_text

__all__ = ["THEOREM1_PAIRS", "correlation_table", "theorem1_sentences", "theorem1_verdict", "ranked_tail_mass",
           "with_ranked_tail_mass", "floor_status", "mostly_tied", "MOSTLY_TIED"]

# (x column, y column, words): the pairs Theorem 1 predicts to rank together (all positive in the paper's direction)
THEOREM1_PAIRS = (
    ("beta", "line_tail_mass", "β and the network's line tail mass"),
    ("line_tail_mass", "grad_tail_slope", "line tail mass and the gradient's spatial tail slope"),
    ("line_tail_mass", "grad_ef", "line tail mass and the gradient's EF (paper)"),
    ("line_tail_mass", "grad_ef_nyquist", "line tail mass and the gradient's EF (Nyquist)"),
)


def ranked_tail_mass(mass: Sequence[float], floor: Sequence[float] | None,
                     factor: float = LINE_FLOOR_FACTOR) -> tuple[np.ndarray, int]:
    """Line tail masses made fit for ranking: ``(values, n_unresolved)``. A mass resolved above its measurement floor
    (:func:`~spectral_lib.theory.tail_mass_resolved`) is kept; every unresolved one becomes 0, one tie below all the
    resolved ones (its measured value is the floor's noise; the true mass is at most about that). If an unresolved mass
    measures above a resolved one, that tie would misorder them, so every value is NaN (no ranking can be made; see
    :func:`floor_status`). ``floor=None`` or all NaN (a table from before the floor was measured): the masses as
    given, 0 unresolved. A NaN mass stays NaN and is not counted as unresolved; a finite mass with a NaN floor is
    kept as measured."""
    m = np.asarray(mass, dtype=float)
    if floor is None:
        return m.copy(), 0
    f = np.asarray(floor, dtype=float)
    if f.shape != m.shape:
        raise ValueError(f"floor must have the shape of mass {m.shape}, got {f.shape}")
    if np.isnan(f).all():
        return m.copy(), 0
    low = _unresolved(m, f, factor)
    out = np.where(low, 0.0, m)
    kept = np.isfinite(m) & ~low
    if kept.any() and low.any() and m[low].max() > m[kept].min():
        out[:] = np.nan
    return out, int(low.sum())


def _unresolved(mass: np.ndarray, floor: np.ndarray, factor: float = LINE_FLOOR_FACTOR) -> np.ndarray:
    """(n,) bool: the finite masses with a finite floor that are not resolved above it."""
    return np.isfinite(mass) & np.isfinite(floor) & ~np.array(
        [tail_mass_resolved(a, b, factor) for a, b in zip(mass, floor)], dtype=bool)


# what a correlation over a mostly tied group tests (:func:`mostly_tied`)
MOSTLY_TIED = ("as a comparison of the resolved networks with the tied ones only: how the tied networks order among "
               "themselves, for instance by β, is not tested")


def mostly_tied(n_rows: int, n_low: int, ranked: np.ndarray) -> bool:
    """Whether at least half of a group's ``n_rows`` line tail masses are unresolved and tied at the bottom
    (:func:`floor_status` "tied"): its rank correlations then compare the resolved networks with the tied ones."""
    return floor_status(n_rows, n_low, ranked) == "tied" and 2 * n_low >= n_rows


def floor_status(n_rows: int, n_low: int, ranked: np.ndarray) -> str:
    """What the measurement floor did to a group of ``n_rows`` line tail masses, ``n_low`` of them unresolved, ranked
    as ``ranked`` (:func:`ranked_tail_mass`): ``""`` (all resolved), ``"tied"`` (the unresolved ones tied at the
    bottom), ``"all below"`` (every one unresolved: nothing to rank) or ``"misordered"`` (an unresolved one measures
    above a resolved one: no ranking)."""
    if not n_low:
        return ""
    if n_low >= n_rows:
        return "all below"
    return "misordered" if np.isnan(ranked).all() else "tied"


def with_ranked_tail_mass(df):
    """``df`` with ``line_tail_mass`` replaced by :func:`ranked_tail_mass` of it and ``line_floor_mass`` (if that
    column exists), computed within the rows given (one group of networks). Returns (a copy, n_unresolved)."""
    if "line_tail_mass" not in df:
        return df, 0
    floor = df["line_floor_mass"].to_numpy(float) if "line_floor_mass" in df else None
    values, n_low = ranked_tail_mass(df["line_tail_mass"].to_numpy(float), floor)
    return df.assign(line_tail_mass=values), n_low


def correlation_table(df, by: str, pairs: Sequence[tuple[str, str, str]] = THEOREM1_PAIRS):
    """Per value of column ``by`` of ``df`` (one row per network): ``networks`` and, per pair ``(x, y, words)`` of
    ``pairs``, columns ``"rho(x, y)"`` and ``"p(x, y)"`` (:func:`spearman_test`; NaN for a constant side or one
    network), the line tail mass ranked as :func:`with_ranked_tail_mass` does (``below floor``: how many networks'
    masses are unresolved). Pairs whose columns are missing are skipped. Returns a DataFrame indexed by ``by``
    (empty for empty ``df``)."""
    import pandas as pd

    rows = []
    for key, sub in df.groupby(by, sort=False):
        sub, n_low = with_ranked_tail_mass(sub)
        row = {by: key, "networks": int(len(sub)), "below floor": n_low}
        for x, y, _ in pairs:
            if x in sub and y in sub:
                r = spearman_test(sub[x].to_numpy(float), sub[y].to_numpy(float))
                row[f"rho({x}, {y})"], row[f"p({x}, {y})"] = r["rho"], r["p"]
        rows.append(row)
    cols = [by, "networks", "below floor"] + [f"{k}({x}, {y})" for x, y, _ in pairs for k in ("rho", "p")
                              if x in df and y in df]
    return pd.DataFrame(rows, columns=cols).set_index(by)


def _span(values: np.ndarray) -> str:
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) < 2:
        return ""
    lo, hi = float(v.min()), float(v.max())
    which = "the resolved line tail masses span" if (values == 0).any() else "the line tail mass spans"
    return f"; {which} {lo:.1e} to {hi:.1e} ({math.log10(hi / lo):.1f} decades)"


# why a mass is unresolved, in words
_FLOOR_WHY = (f"under {LINE_FLOOR_FACTOR:g}x the tail mass that rounding noise and the window's leakage put "
              "there")


def _dtype_clause(raw) -> str:
    """How many of a group's line tails were measured again in float64 ("" if none, or no ``line_dtype``)."""
    if "line_dtype" not in raw:
        return ""
    n64 = int((raw["line_dtype"] == "float64").sum())
    return f"; {n64} of {len(raw)} measured in float64 (float32 did not resolve them)" if n64 else ""


def _remedy(floored) -> str:
    """What would measure the line tails of ``floored`` (the rows of the groups whose tails are all unresolved)."""
    if "line_dtype" in floored and (floored["line_dtype"] == "float64").all():
        return ("they are measured in float64 already, where the floor is the window's leakage (the Gaussian window "
                "is cut at six widths, so even a straight line has a tail mass: `window_leakage`), so those tails "
                "need a window that leaks less.")
    return "those tails need the line spectra in float64 (theorem1_summary's precision=\"auto\")."


def _floor_clause(raw, n_low: int, ranked: np.ndarray) -> str:
    """What the measurement floor did to one group's line tail masses, in words ("" when every mass is resolved)."""
    status = floor_status(len(raw), n_low, ranked)
    if not status:
        return ""
    if status == "all below":
        return (f"; all {n_low} line tail masses are below their measurement floor ({_FLOOR_WHY}), so the run cannot "
                "rank these networks by their line tails")
    if status == "misordered":
        return (f"; {n_low} of {len(raw)} line tail masses are below their measurement floor and one of them measures "
                "above a resolved mass, so the masses cannot be ranked")
    low = _unresolved(raw["line_tail_mass"].to_numpy(float), raw["line_floor_mass"].to_numpy(float))
    acts = ", ".join(sorted(raw.loc[low, "activation"].astype(str).unique()))
    return (f"; {n_low} of {len(raw)} line tail masses ({acts}) are below their measurement floor ({_FLOOR_WHY}) "
            "and are ranked as one tie below the resolved ones")


def theorem1_verdict(sub, x: str = "line_tail_mass", y: str = "grad_tail_slope") -> str:
    """Whether one group of networks (``sub``: one row per network) bears out Theorem 1's link between ``x`` and
    ``y``: "borne out" (rho > 0, p < 0.05), "contradicted" (rho < 0, p < 0.05) or the run cannot tell (with the
    reason). The line tail mass is ranked as :func:`with_ranked_tail_mass` does."""
    sub, _ = with_ranked_tail_mass(sub)
    r = spearman_test(sub[x].to_numpy(float), sub[y].to_numpy(float)) if len(sub) else {
        "rho": math.nan, "p": math.nan, "n": 0}
    return evidence_word(r, "borne out", "contradicted")


def theorem1_sentences(df, by: str = "pool", label: str = "{}-pool CNN") -> str:
    """The Theorem 1 chapter's "This run" paragraph: per group (``by``: the pooling type), the number of networks
    and seeds, each pair of :data:`THEOREM1_PAIRS` as "ρ = +0.80 (n = 12, p = 0.002)" and the verdict on the theorem's
    link (line tail mass vs gradient tail slope, :func:`theorem1_verdict`); the span of the resolved line tail
    masses, how many were measured in float64 and how many are below the measurement floor
    (:func:`with_ranked_tail_mass`).

    ``df``: one row per kept network with ``by``, ``activation``, ``seed``, ``beta`` (inf for ReLU),
    ``line_tail_mass``, ``grad_tail_slope``, ``grad_ef``, ``grad_ef_nyquist`` and, optionally, ``line_floor_mass``
    and ``line_dtype``.
    Empty ``df``: says that no network passed the cap."""
    if df is None or not len(df):
        return "**This run.** No network passed the cap: nothing to correlate."
    lines = []
    for key, raw in df.groupby(by, sort=False):
        n_act, n_seed = raw["activation"].nunique(), raw["seed"].nunique()
        sub, n_low = with_ranked_tail_mass(raw)
        parts = []
        for x, y, words in THEOREM1_PAIRS:
            text, _ = rho_text(sub[x].to_numpy(float), sub[y].to_numpy(float))
            parts.append(f"between {words} {text}")
        verdict = theorem1_verdict(raw)
        resolved = sub["line_tail_mass"].to_numpy(float)
        lines.append(f"* **{label.format(key)}** ({len(sub)} networks: {n_act} activations x {n_seed} seed"
                     f"{'s' if n_seed != 1 else ''}): " + "; ".join(parts) + _span(resolved)
                     + _floor_clause(raw, n_low, resolved)
                     + _dtype_clause(raw)
                     + f". Theorem 1's link (a heavier network tail, a flatter gradient tail): **{verdict}**"
                     + (f" ({MOSTLY_TIED})" if mostly_tied(len(raw), n_low, resolved) else "") + ".")
    undecided = [k for k, s in df.groupby(by, sort=False) if theorem1_verdict(s).startswith(CANNOT_TELL)]
    floored = [k for k, s in df.groupby(by, sort=False) if with_ranked_tail_mass(s)[1] == len(s)]
    tail = ""
    if [k for k in undecided if k not in floored]:
        tail = ("\n\nWhere the run cannot tell, more networks (seeds or activations) are needed: a rank correlation "
                "over n networks is evidence only when its p-value is small, and with few networks even a perfect "
                "ordering is not.")
    if floored:
        tail += "\n\nWhere every line tail is below the measurement floor, more networks do not help: " + _remedy(
            df[df[by].isin(floored)])
    return "**This run.**\n\n" + "\n".join(lines) + tail
