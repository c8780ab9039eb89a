"""Ties in explanation maps and what they do to each EF definition: a synthetic example with a known answer
(chapter 1) and the tie fraction of every method of a run with its tie-broken EF (chapter 5).

Why ties matter. The paper's maps give exactly tied pixels their average rank (a flat plateau). The rank map's mean
is the same with or without ties, but a plateau of a fraction ``t`` of the pixels removes a share of about ``t^3``
of the map's variance (the variance of a uniform rank interval of width ``t``). The paper's EF keeps the zero
frequency in its normalisation, and a rank map's zero-frequency power is fixed, so that lost variance lowers the
paper's EF by about ``t^3`` although nothing about the map's spatial frequencies changed; the Nyquist EF, which
leaves the zero frequency out, sees only where the remaining power sits. Breaking the ties at random (a fixed seed)
turns a plateau into noise and restores the variance."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..checks import check_positive_int
from ..spectral import expected_frequency, tie_fraction, to_map
from .records import method_means
from .stats import CANNOT_TELL
from .faithfulness import method_display
from .verdicts_faithfulness import network_name, paired_interval

__all__ = ["tie_example", "tie_example_table", "tie_example_sentences", "tie_table", "tie_sentences",
           "PLACEMENTS", "EF_COLUMNS"]

PLACEMENTS = ("scattered", "block")
EF_COLUMNS = {"EF paper x1e5": ("paper", "average", 1e5), "EF paper x1e5, ties broken": ("paper", "random", 1e5),
              "EF nyquist": ("nyquist", "average", 1.0), "EF nyquist, ties broken": ("nyquist", "random", 1.0)}


def tie_example(fractions: Sequence[float] = (0.0, 0.3, 0.6), placements: Sequence[str] = PLACEMENTS,
                n_maps: int = 64, size: int = 28, seed: int = 0):
    """White-noise maps with a fraction of their pixels set exactly to zero, under both EF definitions, with ties
    averaged (the paper's maps) and broken at random (seed ``seed``).

    The same ``n_maps`` N(0, 1) maps (size x size, generator seeded with ``seed``) are used for every fraction, so
    the rows are paired. Placements: ``"scattered"`` (zeros at random pixels, like a sparse map) or ``"block"`` (the
    first pixels in raster order, a contiguous region like a CAM's background). Returns a long DataFrame: one row
    per (map, fraction, placement) with ``map, zeros, placement, tie fraction`` and the :data:`EF_COLUMNS`."""
    import pandas as pd

    check_positive_int("n_maps", n_maps)
    check_positive_int("size", size)
    for f in fractions:
        if not (isinstance(f, (int, float)) and 0 <= f < 1):
            raise ValueError(f"fractions must be numbers in [0, 1), got {f!r}")
    bad = [p for p in placements if p not in PLACEMENTS]
    if bad:
        raise ValueError(f"placements must be among {list(PLACEMENTS)}, got {bad}")
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n_maps, size, size, generator=g, dtype=torch.float64)
    positions = torch.argsort(torch.rand(n_maps, size * size, generator=g), dim=1)
    rows = []
    for place in placements:
        for f in fractions:
            k = round(f * size * size)
            m = base.clone().view(n_maps, -1)
            idx = positions[:, :k] if place == "scattered" else torch.arange(k).expand(n_maps, k)
            m.scatter_(1, idx, 0.0)
            m = m.view(n_maps, size, size)
            cols = {}
            for col, (definition, ties, scale) in EF_COLUMNS.items():
                maps = to_map(m, ties=ties, generator=torch.Generator().manual_seed(seed))
                cols[col] = (expected_frequency(maps, definition) * scale).tolist()
            t = tie_fraction(m).tolist()
            for i in range(n_maps):
                rows.append({"map": i, "zeros": float(f), "placement": place, "tie fraction": t[i],
                             **{c: v[i] for c, v in cols.items()}})
    return pd.DataFrame(rows)


def tie_example_table(long):
    """Means over the maps of :func:`tie_example`, one row per (placement, zeros)."""
    cols = ["tie fraction", *EF_COLUMNS]
    return long.groupby(["placement", "zeros"], sort=False)[cols].mean()


def _relative(long, place: str, zeros: float, col: str, ref_col: str | None = None):
    """Paired interval of the relative change of ``col`` at ``zeros`` against ``ref_col`` (default the same column)
    of the untied maps (zeros = 0), in percent."""
    a = long[(long["placement"] == place) & (long["zeros"] == zeros)].sort_values("map")
    b = long[(long["placement"] == place) & (long["zeros"] == 0.0)].sort_values("map")
    ref = b[ref_col or col].to_numpy()
    return paired_interval(100 * a[col].to_numpy() / ref, np.full(len(ref), 100.0))


def tie_example_sentences(long) -> list[str]:
    """One sentence per placement and non-zero fraction of :func:`tie_example`: the relative change of each EF
    (ties averaged, and broken) against the same maps without zeros, with a 95% interval over the maps and the word
    "lowers"/"raises" only where the interval excludes 0. Needs the untied (zeros = 0) rows; says so otherwise."""
    if long is None or len(long) == 0 or not (long["zeros"] == 0.0).any():
        return ["The example needs the maps without zeros (zeros = 0) as its reference."]
    out = []
    for place in dict.fromkeys(long["placement"]):
        for zeros in sorted(z for z in set(long["zeros"]) if z > 0):
            parts = []
            for col in EF_COLUMNS:
                iv = _relative(long, place, zeros, col)
                word = ("lowers it" if iv.high < 0 else "raises it") if iv.excludes(0) else CANNOT_TELL + " whether it moves"
                parts.append(f"{col}: {iv.value:+.1f}% [{iv.low:+.1f}%, {iv.high:+.1f}%] ({word})")
            t = long[(long["placement"] == place) & (long["zeros"] == zeros)]["tie fraction"].mean()
            out.append(f"*{100 * zeros:.0f}% zeros, {place}* (tie fraction {t:.2f}; change against the same maps "
                       f"without zeros, {len(set(long['map']))} maps): " + "; ".join(parts) + ".")
    return out


def tie_table(records: Sequence[dict]):
    """Per method and activation of a run's records: the mean tie fraction, the paper's EF (x1e5) with ties
    averaged and broken at random, and the Nyquist EF both ways. A (method, activation) x measure DataFrame;
    empty without records that carry the tie measurements (records from before version 4)."""
    import pandas as pd

    recs = [r for r in records if "tie_fraction" in r]
    if not recs:
        return pd.DataFrame()
    parts = {"tie fraction": method_means(recs, "tie_fraction", 1.0),
             "EF paper x1e5": method_means(recs, "ef", 1e5),
             "EF paper x1e5, ties broken": method_means(recs, "ef_tiebreak", 1e5),
             "EF nyquist": method_means(recs, "ef_nyquist", 1.0),
             "EF nyquist, ties broken": method_means(recs, "ef_nyquist_tiebreak", 1.0)}
    long = pd.concat({k: v.stack(future_stack=True) for k, v in parts.items()}, axis=1)
    long.index.names = ["method", "activation"]
    return long


def tie_sentences(records: Sequence[dict], threshold: float = 0.05) -> list[str]:
    """For every (network, method) whose maps have more than ``threshold`` tied pixels on average: the tie fraction
    and the relative change of each EF when ties are broken at random, paired over the network's images (95%
    interval; "raises"/"lowers" only where it excludes 0). One sentence when no map is that tied."""
    import json

    out, seen = [], set()
    recs = [r for r in records if "tie_fraction" in r]
    several = len({(r["activation"], r["seed"]) for r in recs}) > len({r["activation"] for r in recs})
    for r in recs:
        net = json.dumps(r["config"], sort_keys=True, default=str)
        for m, t in r["tie_fraction"].items():
            frac = float(np.nanmean(np.asarray(t, dtype=float)))
            if (net, m) in seen or not frac > threshold:
                continue
            seen.add((net, m))
            parts = []
            for name, avg, brk in (("paper EF", "ef", "ef_tiebreak"), ("Nyquist EF", "ef_nyquist",
                                                                       "ef_nyquist_tiebreak")):
                a = np.asarray(r[avg][m], dtype=float)
                b = np.asarray(r[brk][m], dtype=float)
                floor = np.abs(a) <= 1e-6 * np.abs(b)  # the tie-averaged map is constant: EF at round-off
                if floor.all():
                    parts.append(f"{name}: with the ties averaged every map is constant (EF at the round-off floor, "
                                 f"median {float(np.nanmedian(a)):.2g} against {float(np.nanmedian(b)):.2g} with the "
                                 f"ties broken): the ties alone set it, no ratio is given")
                    continue
                note = (f" ({int(floor.sum())} of {len(a)} images left out: constant with the ties averaged)"
                        if floor.any() else "")
                a, b = a[~floor], b[~floor]
                iv = paired_interval(100 * b / a, np.full(len(a), 100.0))
                if not math.isfinite(iv.value):
                    parts.append(f"{name}: undefined (NaN EF)")
                    continue
                word = ("raises" if iv.low > 0 else "lowers") if iv.excludes(0) else CANNOT_TELL
                parts.append(f"{name} {iv.value:+.1f}% [{iv.low:+.1f}%, {iv.high:+.1f}%]: {word}{note}")
            out.append(f"{network_name(r, several)}, {method_display(m)}: {100 * frac:.0f}% tied pixels; breaking the ties: "
                       + "; ".join(parts) + ".")
    if not out:
        return [f"No method's maps have more than {100 * threshold:.0f}% tied pixels on average in this run."]
    return out
