"""Statistics behind the chapters' sentences: rank correlations with their p-values, bootstrap intervals over
networks (seeds), the words a sentence may use for them, log-log slopes, the EF-vs-beta correlation and slope.

The rule every chapter follows: a trend word ("lower", "grows", "borne out") is used only when an interval excludes
"no effect" (:func:`trend_word`); otherwise the sentence says the run cannot tell. A correlation is reported with
its n and p-value (:func:`correlation_sentence`)."""
from __future__ import annotations

import math
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from .records import network_means

__all__ = ["spearman", "spearman_test", "describe_correlation", "correlation_sentence", "bootstrap_mean_ci",
           "bootstrap_diff_ci", "bootstrap_ratio_ci", "trend_word", "Interval", "ef_beta_correlation", "loglog_slope",
           "ef_beta_slope", "CANNOT_TELL"]

CANNOT_TELL = "the run cannot tell"


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation of two equally long sequences (average ranks for ties, ``inf`` allowed: it ranks
    last). ``nan`` when either side is constant or has fewer than 2 values (no ordering to correlate)."""
    from scipy.stats import rankdata

    a, b = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"spearman needs sequences of equal length, got {a.shape} and {b.shape}")
    if len(a) < 2 or np.isnan(a).any() or np.isnan(b).any():
        return math.nan
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def spearman_test(a: Sequence[float], b: Sequence[float]) -> dict[str, float]:
    """Spearman's rho with a two-sided p-value for "no association": ``{"rho", "p", "n"}``.

    The p-value is exact for n <= 9 (every permutation of b's ranks, ties kept) and from the t approximation with
    n - 2 degrees of freedom above. With n = 3 the smallest two-sided p-value is 1/3, with n = 4 it is 1/12: a
    perfect rank correlation over 3 networks is no evidence. rho and p are NaN where :func:`spearman` is."""
    from itertools import permutations

    from scipy.stats import rankdata, t as student_t

    rho = spearman(a, b)
    a, b = np.asarray(list(a), dtype=float), np.asarray(list(b), dtype=float)
    n = int(len(a))
    if math.isnan(rho):
        return {"rho": math.nan, "p": math.nan, "n": n}
    if n <= 9:
        ra, rb = rankdata(a), rankdata(b)
        ra = (ra - ra.mean()) / np.sqrt(((ra - ra.mean()) ** 2).sum())
        rb = (rb - rb.mean()) / np.sqrt(((rb - rb.mean()) ** 2).sum())
        perms = np.array(list(permutations(rb)))
        null = perms @ ra
        p = float(np.mean(np.abs(null) >= abs(float(ra @ rb)) - 1e-12))
    elif abs(rho) >= 1.0:
        p = 0.0
    else:
        t = rho * math.sqrt((n - 2) / (1 - rho * rho))
        p = float(2 * student_t.sf(abs(t), n - 2))
    return {"rho": rho, "p": p, "n": n}


def describe_correlation(rho: float, p: float | None = None, alpha: float = 0.05) -> str:
    """Words for a rank correlation: 'strongly positive' (>= 0.8), 'positive' (> 0.3), 'weak', 'negative',
    'strongly negative'; 'undefined' for NaN. With a p-value ``p`` at or above ``alpha`` the words are
    "not distinguishable from no correlation" instead: a strength word needs evidence."""
    if rho is None or math.isnan(rho):
        return "undefined"
    if p is not None and not (p < alpha):
        return "not distinguishable from no correlation"
    for lo, word in ((0.8, "strongly positive"), (0.3, "positive"), (-0.3, "weak"), (-0.8, "negative")):
        if rho >= lo if lo > 0 else rho > lo:
            return word
    return "strongly negative"


def correlation_sentence(a: Sequence[float], b: Sequence[float], what: str = "", alpha: float = 0.05) -> str:
    """"Spearman rho = +0.93 (n = 7, p = 0.003): strongly positive" for ``what`` ("between beta and EF"), from
    :func:`spearman_test` and :func:`describe_correlation`; "undefined" with the reason when rho is NaN."""
    r = spearman_test(a, b)
    head = f"Spearman ρ{' ' + what if what else ''}"
    if math.isnan(r["rho"]):
        return f"{head} is undefined (n = {r['n']}: fewer than 2 values or a constant side)"
    return (f"{head} = {r['rho']:+.2f} (n = {r['n']}, p = {_p(r['p'])}): "
            f"{describe_correlation(r['rho'], r['p'], alpha)}")


def _p(p: float) -> str:
    return "n/a" if math.isnan(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.1 else f"{p:.2f}")


class Interval(NamedTuple):
    """A point estimate with a (bootstrap percentile) interval and the number of values behind it. ``low`` and
    ``high`` are NaN when there are fewer than 2 values: one seed gives no interval."""

    value: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def excludes(self, null: float = 0.0) -> bool:
        """Whether the whole interval lies on one side of ``null`` (False when it is undefined)."""
        return bool(np.isfinite(self.low) and np.isfinite(self.high) and (self.low > null or self.high < null))

    def text(self, digits: int = 3) -> str:
        """``"0.752 [0.701, 0.803] (n = 3)"``, or ``"0.752 (n = 1, no interval)"``."""
        v = f"{self.value:.{digits}g}"
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return f"{v} (n = {self.n}, no interval)"
        return f"{v} [{self.low:.{digits}g}, {self.high:.{digits}g}] (n = {self.n})"


def _clean(values: Sequence[float]) -> np.ndarray:
    v = np.asarray(list(values), dtype=float)
    return v[np.isfinite(v)]


def _boot(stat, samples: list[np.ndarray], n_boot: int, level: float, seed: int) -> Interval:
    point = float(stat(*samples))
    n = min(len(s) for s in samples) if samples else 0
    if n < 2:
        return Interval(point, math.nan, math.nan, n, level)
    rng = np.random.default_rng(seed)
    draws = np.array([stat(*(s[rng.integers(0, len(s), len(s))] for s in samples)) for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2]) if len(draws) else (math.nan, math.nan)
    return Interval(point, float(lo), float(hi), n, level)


def bootstrap_mean_ci(values: Sequence[float], level: float = 0.95, n_boot: int = 4000, seed: int = 0) -> Interval:
    """Mean of ``values`` (one per network or seed; NaN skipped) with a percentile-bootstrap interval."""
    v = _clean(values)
    if len(v) == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    return _boot(np.mean, [v], n_boot, level, seed)


def bootstrap_diff_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95, n_boot: int = 4000,
                      seed: int = 0) -> Interval:
    """``mean(a) - mean(b)`` with a percentile-bootstrap interval, a and b resampled independently (e.g. the
    networks of two activations); n is the smaller group's size."""
    a, b = _clean(a), _clean(b)
    if len(a) == 0 or len(b) == 0:
        return Interval(math.nan, math.nan, math.nan, min(len(a), len(b)), level)
    return _boot(lambda x, y: np.mean(x) - np.mean(y), [a, b], n_boot, level, seed)


def bootstrap_ratio_ci(a: Sequence[float], b: Sequence[float], level: float = 0.95, n_boot: int = 4000,
                       seed: int = 0) -> Interval:
    """``mean(a) / mean(b)`` with a percentile-bootstrap interval (groups resampled independently)."""
    a, b = _clean(a), _clean(b)
    if len(a) == 0 or len(b) == 0 or np.mean(b) == 0:
        return Interval(math.nan, math.nan, math.nan, min(len(a), len(b)), level)
    return _boot(lambda x, y: np.mean(x) / np.mean(y) if np.mean(y) != 0 else math.nan, [a, b], n_boot, level,
                 seed)


def trend_word(interval: Interval, above: str, below: str, null: float = 0.0, cannot: str = CANNOT_TELL) -> str:
    """``above`` when the whole interval lies above ``null``, ``below`` when it lies below, else ``cannot``
    (also when the interval is undefined, e.g. one seed)."""
    if interval.excludes(null):
        return above if interval.low > null else below
    return cannot


def ef_beta_correlation(records: Iterable[dict], metric: str = "ef", method: str = "vanilla_grad") -> dict[str, float]:
    """The EF-vs-beta relation as numbers: ``per_beta`` is the Spearman correlation between beta (ReLU = inf) and
    the per-beta mean of the networks' mean EF (the criterion of the fidelity issue); ``per_network`` the same over
    every network; ``n_betas`` and ``n_networks`` how many points each used."""
    per_net = network_means(records, metric, method)
    per_beta = per_net.groupby("beta")["value"].mean()
    return {"per_beta": spearman(per_beta.index, per_beta.values),
            "per_network": spearman(per_net["beta"], per_net["value"]),
            "n_betas": int(len(per_beta)), "n_networks": int(len(per_net))}


def loglog_slope(x: Sequence[float], y: Sequence[float], log_y: bool = True) -> float:
    """Least-squares slope of log10(y) (or y, ``log_y=False``) against log10(x): the exponent k of ``y ~ x^k``.
    Points with a non-finite or non-positive coordinate are skipped; NaN with fewer than 2 points or one x value."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"loglog_slope needs x and y of equal length, got {x.shape} and {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & ((y > 0) if log_y else True)
    lx, ly = np.log10(x[ok]), (np.log10(y[ok]) if log_y else y[ok])
    if len(lx) < 2 or np.ptp(lx) == 0:
        return math.nan
    return float(np.polyfit(lx, ly, 1)[0])


def ef_beta_slope(records: Sequence[dict], metric: str = "ef", method: str = "vanilla_grad",
                  scale: float = 1e5) -> dict[str, float]:
    """How fast the mean EF falls as SP's beta falls: the least-squares slope of the per-beta mean of the networks'
    mean ``metric`` (``scale``d) against log10(beta), over the SP networks (ReLU, beta = inf, has no place on a log
    axis). Returns ``slope`` (EF units per decade of beta; positive: smoother activation, lower EF, as the paper
    claims), ``relative_slope`` (the slope divided by the mean of the per-beta means: comparable across conditions
    whose EF levels differ) and ``n_betas``; NaN slopes with fewer than 2 finite betas."""
    per_net = network_means(records, metric, method, scale)
    per_beta = per_net[per_net["beta"].apply(math.isfinite)].groupby("beta")["value"].mean().dropna()
    if len(per_beta) < 2:
        return {"slope": math.nan, "relative_slope": math.nan, "n_betas": int(len(per_beta))}
    slope = loglog_slope(per_beta.index.to_numpy(), per_beta.to_numpy(), log_y=False)
    return {"slope": slope, "relative_slope": slope / float(per_beta.mean()), "n_betas": int(len(per_beta))}
