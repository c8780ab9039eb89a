"""Statistics behind the chapters' sentences: rank correlations with their p-values, bootstrap intervals over
networks (seeds), the words a sentence may use for them, log-log slopes, the EF-vs-beta correlation and slope.

The rule every chapter follows: a trend word ("lower", "grows", "borne out") is used only when an interval excludes
"no effect" (:func:`trend_word`); otherwise the sentence says the run cannot tell. A correlation is reported with
its n and p-value (:func:`correlation_sentence`)."""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from .records import network_means

__all__ = ["spearman", "spearman_test", "describe_correlation", "correlation_sentence", "bootstrap_mean_ci",
           "bootstrap_diff_ci", "bootstrap_ratio_ci", "trend_word", "Interval", "ef_beta_correlation", "loglog_slope",
           "ef_beta_slope", "CANNOT_TELL", "bootstrap_stat_ci", "sign_test",
           "bootstrap_rows_ci", "ls_slope", "partial_spearman", "ols_fit", "Coefficient"]

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
        null = rb[_permutation_index(n)] @ ra  # every ordering of b's ranks (ties kept)
        p = float(np.mean(np.abs(null) >= abs(float(ra @ rb)) - 1e-12))
    elif abs(rho) >= 1.0:
        p = 0.0
    else:
        t = rho * math.sqrt((n - 2) / (1 - rho * rho))
        p = float(2 * student_t.sf(abs(t), n - 2))
    return {"rho": rho, "p": p, "n": n}


@lru_cache(maxsize=16)
def _permutation_index(n: int) -> np.ndarray:
    """(n!, n) int array: every permutation of range(n), in itertools order (built once per n; 9! rows at most)."""
    from itertools import permutations

    return np.array(list(permutations(range(n))), dtype=np.int8)


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


def bootstrap_stat_ci(stat, groups: Sequence[Sequence[float]], level: float = 0.95, n_boot: int = 2000,
                      seed: int = 0) -> Interval:
    """``stat(*groups)`` with a percentile-bootstrap interval, each group resampled independently within itself
    (e.g. the seeds of each activation, so that a statistic over activations keeps its design). ``groups``: one
    sequence of per-network values per group (NaN dropped); ``stat`` takes the cleaned arrays, in order, and returns
    a number (NaN draws are skipped). n is the smallest group's size: with one network in some group (one seed)
    there is no interval; an empty group gives NaN throughout."""
    clean = [_clean(g) for g in groups]
    if not clean or any(len(g) == 0 for g in clean):
        return Interval(math.nan, math.nan, math.nan, min((len(g) for g in clean), default=0), level)
    return _boot(stat, clean, n_boot, level, seed)


def sign_test(values: Sequence[float], null: float = 0.0) -> dict[str, float]:
    """The two-sided exact sign test of "values fall above and below ``null`` equally often": ``{"below", "above",
    "n", "p"}`` (values equal to ``null`` and NaN left out; ``n = below + above``; p = NaN with n = 0). With n
    values all on one side p = 2 / 2**n: 5 of 5 gives 0.0625, not below 0.05."""
    from scipy.stats import binomtest

    v = _clean(values)
    below, above = int((v < null).sum()), int((v > null).sum())
    n = below + above
    p = float(binomtest(below, n, 0.5).pvalue) if n else math.nan
    return {"below": below, "above": above, "n": n, "p": p}


def bootstrap_rows_ci(stat, data, groups: Sequence, level: float = 0.95, n_boot: int = 2000,
                      seed: int = 0, vectorized: bool = False) -> Interval:
    """``stat(data)`` with a percentile-bootstrap interval, the rows of ``data`` resampled within each group of
    ``groups`` (one label per row: e.g. (condition, beta), so that every activation of every condition keeps its
    number of networks). ``data``: (n, k) array (one row per network, columns as ``stat`` reads them); ``stat``
    returns a number (NaN draws skipped). n is the smallest group's size (one seed: no interval); no rows: NaN.

    ``vectorized=True``: ``stat`` takes a (B, n, k) stack of B resampled tables and returns (B,) values (all draws
    at once; the point estimate is ``stat(data[None])[0]``). In every draw the rows of a group stay in the group's
    positions, so a column that is constant within groups (beta, a condition flag) is the same in every draw."""
    data = np.asarray(data, dtype=float)
    labels = list(groups)
    if data.ndim != 2 or len(data) != len(labels):
        raise ValueError(f"bootstrap_rows_ci needs (n, k) data and n group labels, got {data.shape} and "
                         f"{len(labels)}")
    if len(data) == 0:
        return Interval(math.nan, math.nan, math.nan, 0, level)
    index: dict = {}
    for i, g in enumerate(labels):
        index.setdefault(g, []).append(i)
    members = [np.array(v) for v in index.values()]
    order = np.concatenate(members)
    data = data[order]  # rows grouped, group by group
    starts = np.cumsum([0] + [len(m) for m in members[:-1]])
    point = float(stat(data[None])[0]) if vectorized else float(stat(data))
    n = min(len(m) for m in members)
    if n < 2:
        return Interval(point, math.nan, math.nan, n, level)
    rng = np.random.default_rng(seed)
    rows = np.concatenate([st + rng.integers(0, len(m), (n_boot, len(m))) for st, m in zip(starts, members)], axis=1)
    if vectorized:
        d = np.asarray(stat(data[rows]), dtype=float)
    else:
        d = np.array([float(stat(data[r])) for r in rows])
    d = d[np.isfinite(d)]
    lo, hi = np.quantile(d, [(1 - level) / 2, (1 + level) / 2]) if len(d) else (math.nan, math.nan)
    return Interval(point, float(lo), float(hi), n, level)


def ls_slope(x: Sequence[float], y) -> np.ndarray:
    """Least-squares slope of ``y`` on ``x`` along y's last axis (x: (m,), y: (..., m)), all draws of a bootstrap at
    once; NaN where x has fewer than 2 distinct values. No point is skipped: give finite values (a NaN in y gives a
    NaN slope)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    xc = x - x.mean() if len(x) else x
    den = float(xc @ xc) if len(x) >= 2 else 0.0
    if den <= 0:
        return np.full(y.shape[:-1], np.nan)
    return ((y - y.mean(-1, keepdims=True)) @ xc) / den


def partial_spearman(x: Sequence[float], y: Sequence[float], covariates: Sequence[Sequence[float]]
                     ) -> dict[str, float]:
    """Partial Spearman correlation of ``x`` and ``y`` given ``covariates`` (a list of sequences as long as x):
    the Pearson correlation of the residuals of x's and y's ranks after a least-squares fit on the covariates' ranks
    (average ranks for ties, ``inf`` ranks last). ``{"rho", "p", "n", "k"}``: p two-sided from the t distribution
    with ``n - 2 - k`` degrees of freedom (k covariates). Rows with a NaN anywhere are dropped; rho and p are NaN
    with fewer than ``k + 3`` rows or when a residual is constant (x or y fully explained by the covariates). With
    no covariates this is :func:`spearman` with the t approximation's p."""
    from scipy.stats import rankdata, t as student_t

    cols = [np.asarray(list(v), dtype=float) for v in (x, y, *covariates)]
    if len({c.shape for c in cols}) != 1:
        raise ValueError(f"partial_spearman needs sequences of equal length, got {[c.shape for c in cols]}")
    m = np.column_stack(cols) if cols[0].size else np.empty((0, len(cols)))
    m = m[~np.isnan(m).any(axis=1)]
    n, k = int(len(m)), len(cols) - 2
    out = {"rho": math.nan, "p": math.nan, "n": n, "k": k}
    if n < k + 3:
        return out
    ranks = np.column_stack([rankdata(m[:, j]) for j in range(m.shape[1])])
    design = np.column_stack([np.ones(n), ranks[:, 2:]])

    def residual(v: np.ndarray) -> np.ndarray:
        coef, *_ = np.linalg.lstsq(design, v, rcond=None)
        return v - design @ coef

    rx, ry = residual(ranks[:, 0]), residual(ranks[:, 1])
    if np.allclose(rx, 0, atol=1e-9) or np.allclose(ry, 0, atol=1e-9):
        return out
    rho = float(np.clip(np.corrcoef(rx, ry)[0, 1], -1.0, 1.0))
    dof = n - 2 - k
    if abs(rho) >= 1.0:
        p = 0.0
    else:
        p = float(2 * student_t.sf(abs(rho) * math.sqrt(dof / (1 - rho * rho)), dof))
    return {"rho": rho, "p": p, "n": n, "k": k}


class Coefficient(NamedTuple):
    """One least-squares coefficient with its t-based confidence interval."""

    name: str
    value: float
    low: float
    high: float
    se: float
    n: int
    level: float = 0.95

    def interval(self) -> Interval:
        """As an :class:`Interval` (for :func:`trend_word`)."""
        return Interval(self.value, self.low, self.high, self.n, self.level)


def ols_fit(y: Sequence[float], predictors: dict[str, Sequence[float]], level: float = 0.95) -> list[Coefficient]:
    """Ordinary least squares ``y ~ 1 + sum_j b_j x_j`` with classical (homoscedastic) standard errors and t
    intervals on ``n - 1 - k`` degrees of freedom: one :class:`Coefficient` per predictor, then the intercept
    (``"intercept"``). Rows with a non-finite value anywhere are dropped; with no degrees of freedom left (or a
    singular design, e.g. a constant predictor) the values are NaN."""
    from scipy.stats import t as student_t

    names = list(predictors)
    cols = [np.asarray(list(y), dtype=float)] + [np.asarray(list(predictors[k]), dtype=float) for k in names]
    if len({c.shape for c in cols}) != 1:
        raise ValueError(f"ols_fit needs y and predictors of equal length, got {[c.shape for c in cols]}")
    m = np.column_stack(cols) if cols[0].size else np.empty((0, len(cols)))
    m = m[np.isfinite(m).all(axis=1)]
    n, k = int(len(m)), len(names)
    nan = [Coefficient(nm, math.nan, math.nan, math.nan, math.nan, n, level) for nm in names + ["intercept"]]
    dof = n - 1 - k
    if dof < 1:
        return nan
    X = np.column_stack([m[:, 1:], np.ones(n)])
    if np.linalg.matrix_rank(X) < k + 1:
        return nan
    coef, *_ = np.linalg.lstsq(X, m[:, 0], rcond=None)
    resid = m[:, 0] - X @ coef
    sigma2 = float(resid @ resid) / dof
    se = np.sqrt(np.diag(sigma2 * np.linalg.inv(X.T @ X)))
    q = float(student_t.ppf((1 + level) / 2, dof))
    return [Coefficient(nm, float(c), float(c - q * e), float(c + q * e), float(e), n, level)
            for nm, c, e in zip(names + ["intercept"], coef, se)]
