"""Reading the chapters' saved tables for the scorecard (:mod:`.scorecard_rows`): column lookup by any of
several names, the per-network table of the networks at the cap (:func:`networks`), Spearman's rho over seeds with
a bootstrap interval (:func:`rho_over_seeds`), and the geometric mean of per-setting ratios with its interval."""
from __future__ import annotations

import math

import numpy as np

from .stats import Interval, spearman_test

__all__ = ["networks", "rho_over_seeds"]


def _col(df, *names: str, prefix: bool = False) -> str:
    for n in names:
        for c in df.columns:
            if (str(c).startswith(n) if prefix else str(c) == n):
                return c
    raise KeyError(f"none of the columns {list(names)} in {list(df.columns)}")


def _display_activation(a: str) -> str:
    """``ReLU`` / ``SP(β)`` for a spec (``relu``, ``sp:2``) or an already displayed name (other names unchanged)."""
    a = str(a)
    if a.lower() == "relu":
        return "ReLU"
    if a.startswith("sp:"):
        return f"SP({float(a[3:]):g})"
    return a


def networks(df):
    """A per-network table with the standard columns (``activation, beta, seed, ef_paper``) of the networks that
    reached the cap; SP networks and ReLU only (centred SPc and other families left out). ``activation`` may hold
    specs (``relu``, ``sp:2``: the downloadable per-network tables) or display names (``ReLU``, ``SP(2)``)."""
    cap = _col(df, "cap_reached", "cap reached")
    ef = _col(df, "ef_paper", "EF x1e5", "grad EF x1e5", "grad_ef")
    out = df[df[cap].astype(str).str.lower().isin(["true", "1", "1.0"])].copy()
    out = out.rename(columns={ef: "ef_paper"})
    out["beta"] = out["beta"].astype(float)
    out["activation"] = out["activation"].map(_display_activation)
    act = out["activation"].astype(str)
    return out[(act == "ReLU") | (act.str.startswith("SP(") & np.isfinite(out["beta"]))]


def rho_over_seeds(df, value: str = "ef_paper", group: str = "beta", n_boot: int = 2000, seed: int = 0
                   ) -> tuple[dict, Interval]:
    """Spearman's rho between ``group`` and the per-group mean of ``value`` (with its exact test), and a bootstrap
    interval of that rho over the networks of each group (resampled within the group). The interval is undefined
    when a group has fewer than 2 networks."""
    groups = {g: d[value].to_numpy(float) for g, d in df.groupby(group)}
    keys = sorted(groups)
    test = spearman_test(keys, [np.nanmean(groups[k]) for k in keys])
    n_min = min((len(v) for v in groups.values()), default=0)
    if n_min < 2 or len(keys) < 2:
        return test, Interval(test["rho"], math.nan, math.nan, int(sum(len(v) for v in groups.values())))
    draws = _boot_rhos(keys, [groups[k] for k in keys], n_boot, np.random.default_rng(seed))
    lo, hi = np.quantile(draws, [0.025, 0.975]) if len(draws) else (math.nan, math.nan)
    return test, Interval(test["rho"], float(lo), float(hi), int(sum(len(v) for v in groups.values())))


def _boot_rhos(keys, values: list, n_boot: int, rng) -> np.ndarray:
    """Spearman's rho between ``keys`` and the means of ``values`` (one array per key) resampled with replacement
    within each key, ``n_boot`` times (vectorised; draws with a constant side are dropped, as :func:`spearman`
    makes them NaN)."""
    from scipy.stats import rankdata

    means = np.column_stack([np.nanmean(v[rng.integers(0, len(v), (n_boot, len(v)))], axis=1) for v in values])
    rk = rankdata(np.asarray(keys, dtype=float))
    rm = rankdata(means, axis=1)
    rk, rm = rk - rk.mean(), rm - rm.mean(axis=1, keepdims=True)
    den = np.sqrt((rk ** 2).sum() * (rm ** 2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rm @ rk) / den
    return rho[np.isfinite(rho) & (den > 0)]


def _geomean_ratio_over_settings(ratios, n_boot: int = 4000, seed: int = 0) -> Interval:
    """Geometric mean of per-setting ratios with a bootstrap interval over the settings."""
    r = np.asarray([x for x in ratios if np.isfinite(x) and x > 0], dtype=float)
    if len(r) == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    point = float(np.exp(np.log(r).mean()))
    if len(r) < 2:
        return Interval(point, math.nan, math.nan, len(r))
    rng = np.random.default_rng(seed)
    draws = np.exp(np.array([np.log(rng.choice(r, len(r))).mean() for _ in range(n_boot)]))
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return Interval(point, float(lo), float(hi), len(r))
