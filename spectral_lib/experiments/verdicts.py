"""The sentences that state a run's outcome, computed from its records (never typed by hand), so that a rerun with
other parameters states *its* outcome; and :func:`fmt`, numbers for prose. Each verdict function is unit-tested on
hand-made records, including the edge cases (ties, one seed, NaN EF, an empty grid)."""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

__all__ = ["fmt", "dropped_note"]

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
