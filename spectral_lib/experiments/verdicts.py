"""The sentences that state a run's outcome, computed from its records (never typed by hand), so that a rerun with
other parameters states *its* outcome; and :func:`fmt`, numbers for prose. Each verdict function is unit-tested on
hand-made records, including the edge cases (ties, one seed, NaN EF, an empty grid).

This module holds the generic pieces every chapter uses (dropped networks, an interval with its verdict word, a rank
correlation with its n and p); the chapters' own statements live beside it: :mod:`.verdicts_theorem1` (chapter 3),
:mod:`.verdicts_ablations` (chapter 6), :mod:`.verdicts_spatial` (chapter 9), :mod:`.verdicts_width` (chapter 10),
:mod:`.verdicts_penalty` (chapter 12).

The rule: a word that states an effect ("lower", "grows", "borne out") is used only when an interval over seeds (a
bootstrap over the networks) excludes no effect; otherwise the sentence says the run cannot tell, and why (one
network per group gives no interval; an interval that straddles the null)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from .stats import CANNOT_TELL, Interval, spearman_test, trend_word

__all__ = ["fmt", "dropped_note", "interval_verdict", "why_undecided", "rho_text", "smallest_p", "evidence_word",
           "seed_count_note", "CANNOT_TELL"]


def dropped_note(dropped: Sequence[dict], total: int, cap: float | None) -> str:
    """A sentence stating how many networks missed the cap and which (the authors drop them silently; we say so)."""
    if not dropped:
        return f"All {total} networks passed the accuracy cap ({fmt(cap)}); none was dropped."
    which = ", ".join(f"{r['activation']} seed {r['seed']} (test accuracy {r['train']['test_accuracy']:.3f} after "
                      f"{r['train']['epochs']:g} epochs)" for r in dropped)
    return (f"{len(dropped)} of {total} networks never passed the accuracy cap ({fmt(cap)}) and are dropped from "
            f"the figures and tables below, as the authors' code drops them: {which}.")


def fmt(x: Any, digits: int = 3) -> str:
    """A number for prose: ``None`` -> 'none', NaN -> 'n/a', ints as they are, floats to ``digits`` significant
    decimals (``%.{digits}g``), signed correlations with an explicit sign when ``digits`` is given as 2."""
    if x is None:
        return "none"
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return str(int(x))
    x = float(x)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def why_undecided(iv: Interval, null: float) -> str:
    """Why an interval decides nothing: no value, one network per group (no interval), or an interval that
    contains ``null``. Empty string when it does decide."""
    if not np.isfinite(iv.value):
        return "undefined: too few networks or values, or NaN EF"
    if not (np.isfinite(iv.low) and np.isfinite(iv.high)):
        return f"n = {iv.n}: no interval" + (" (one seed)" if iv.n == 1 else "")
    if iv.excludes(null):
        return ""
    return f"the interval contains {fmt(null)}"


def interval_verdict(iv: Interval, above: str, below: str, null: float = 0.0, digits: int = 3) -> str:
    """``"0.81 [0.75, 0.88] (n = 3): below"``: the interval's text and :func:`trend_word`'s word, or ``"... : the
    run cannot tell (the interval contains 1)"`` with :func:`why_undecided`'s reason."""
    word = trend_word(iv, above, below, null)
    if word == CANNOT_TELL:
        return f"{iv.text(digits)}: {CANNOT_TELL} ({why_undecided(iv, null)})"
    return f"{iv.text(digits)}: {word}"


def smallest_p(n: int) -> float:
    """The smallest two-sided p-value an exact Spearman test can give with ``n`` distinct values: 2/n! up to 9
    (1 for n = 2: two values are always perfectly ordered), 0 above (the t approximation); NaN below 2."""
    if n < 2:
        return math.nan
    if n <= 9:
        return 2.0 / math.factorial(n)
    return 0.0


def rho_text(a: Sequence[float], b: Sequence[float]) -> tuple[str, dict[str, float]]:
    """``("ρ = +0.93 (n = 9, p = 0.003)", spearman_test(a, b))``; ``"ρ undefined (n = 1)"`` for a constant side or
    fewer than 2 values."""
    r = spearman_test(a, b)
    if math.isnan(r["rho"]):
        return f"ρ undefined (n = {r['n']})", r
    p = r["p"]
    ptxt = "n/a" if math.isnan(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.1 else f"{p:.2f}")
    return f"ρ = {r['rho']:+.2f} (n = {r['n']}, p = {ptxt})", r


def evidence_word(r: dict[str, float], positive: str, negative: str, alpha: float = 0.05) -> str:
    """``positive`` for a rank correlation above zero with p < ``alpha``, ``negative`` below zero, else the run
    cannot tell, with the reason (the smallest p that n networks allow when it is not below ``alpha``)."""
    if math.isnan(r["rho"]):
        return f"{CANNOT_TELL} (undefined correlation)"
    if r["p"] < alpha:
        return positive if r["rho"] > 0 else negative
    floor = smallest_p(int(r["n"]))
    if np.isfinite(floor) and floor >= alpha:
        return f"{CANNOT_TELL} (with n = {int(r['n'])} the smallest possible p is {floor:.3g})"
    return f"{CANNOT_TELL} (p ≥ {alpha:g})"


def seed_count_note(seeds: Sequence[Any]) -> str:
    """A clause stating what the seeds allow: one seed gives no interval, several give bootstrap intervals."""
    n = len(list(seeds))
    if n <= 1:
        return ("one seed per setting: no interval over seeds, so no statement below says that a setting differs "
                "from another")
    return f"{n} seeds per setting: intervals are 95% percentile-bootstrap intervals over the networks (seeds)"
