"""The "Results at a glance" scorecard: one row per claim, computed from the CSV tables the chapters saved in this
build (``book/_generated/tables/<stem>/<name>.csv``, written by :func:`spectral_lib.companion.save_table`).

Each row says what is claimed and by whom (``source``: the paper's abstract, the third-party summary, the authors'
code, or this companion for our own questions), what this build measured (``dataset``, ``measure``, ``value`` with a
95% bootstrap interval ``interval_low``/``interval_high`` and ``n``) and a ``verdict``: for the paper's claims
"reproduced" / "not reproduced", for our own questions "holds" / "does not hold", and otherwise "the run cannot tell"
(an interval that does not exclude "no effect", one seed, a correlation with p >= 0.05) or "not computed in this
build" (the chapter did not run or did not save the table the row reads: :data:`NOT_COMPUTED`, with the table and
columns it needs in ``detail``). The rules are the book's (:mod:`spectral_lib.experiments.stats`): a verdict word
needs an interval over seeds (or, for rows over settings, over settings) that excludes no effect, or a correlation
with p < 0.05. The row functions are in :mod:`spectral_lib.experiments.scorecard_rows`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .stats import CANNOT_TELL, Interval, spearman_test

__all__ = ["Row", "Build", "COLUMNS", "REPRODUCED", "NOT_REPRODUCED", "HOLDS", "DOES_NOT_HOLD", "CANNOT_TELL",
           "NOT_COMPUTED", "interval_verdict", "correlation_verdict", "not_computed", "scorecard", "to_frame",
           "write_csv", "page_markdown"]

COLUMNS = ("claim", "source", "chapter", "dataset", "measure", "value", "interval_low", "interval_high", "n",
           "verdict")
REPRODUCED, NOT_REPRODUCED = "reproduced", "not reproduced"
HOLDS, DOES_NOT_HOLD = "holds", "does not hold"
NOT_COMPUTED = "not computed in this build"
SOURCES = ("the paper's abstract", "the third-party summary", "the authors' code", "this companion")


@dataclass(frozen=True)
class Row:
    """One claim of the scorecard (the CSV's columns, plus ``kind`` and a ``detail`` note for the page)."""

    claim: str
    source: str
    chapter: str
    dataset: str
    measure: str
    value: float = math.nan
    interval_low: float = math.nan
    interval_high: float = math.nan
    n: int | None = None
    verdict: str = NOT_COMPUTED
    kind: str = "paper"  # "paper": the paper's claim; "ours": this companion's question
    detail: str = ""
    label: str = ""  # a short name for the page's table (the claim in a few words)

    def __post_init__(self):
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")
        allowed = ({REPRODUCED, NOT_REPRODUCED} if self.kind == "paper" else {HOLDS, DOES_NOT_HOLD}) | {
            CANNOT_TELL, NOT_COMPUTED}
        if self.verdict not in allowed:
            raise ValueError(f"verdict of a {self.kind!r} row must be one of {sorted(allowed)}, got {self.verdict!r}")
        if self.verdict not in (CANNOT_TELL, NOT_COMPUTED) and not np.isfinite(self.value):
            raise ValueError(f"{self.claim!r}: a verdict needs a finite value")


@dataclass
class Build:
    """What the scorecard reads: the tables folder and, per chapter that ran, ``{"profile", "dataset"}``."""

    tables: Path
    chapters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def ran(self, stem: str) -> bool:
        return stem in self.chapters

    def dataset(self, stem: str) -> str:
        return str(self.chapters.get(stem, {}).get("dataset") or "")

    def table(self, stem: str, name: str, **read_csv):
        """The chapter's saved table ``name`` as a DataFrame, or None when the chapter did not run in this build or
        did not save it."""
        import pandas as pd

        path = Path(self.tables) / stem / f"{name}.csv"
        if not self.ran(stem) or not path.is_file():
            return None
        return pd.read_csv(path, **read_csv)


def _words(kind: str) -> tuple[str, str]:
    return (REPRODUCED, NOT_REPRODUCED) if kind == "paper" else (HOLDS, DOES_NOT_HOLD)


def interval_verdict(iv: Interval, expect: str, null: float = 0.0, kind: str = "paper") -> str:
    """The verdict of a row whose claim is that the quantity lies ``expect`` ("above" or "below") ``null``: the
    positive word when the whole interval lies on that side, the negative word when it lies wholly on the other side,
    else "the run cannot tell" (also for an undefined interval: one seed)."""
    if expect not in ("above", "below"):
        raise ValueError(f"expect must be 'above' or 'below', got {expect!r}")
    yes, no = _words(kind)
    if not iv.excludes(null):
        return CANNOT_TELL
    above = iv.low > null
    return yes if above == (expect == "above") else no


def correlation_verdict(test: Mapping[str, float], expect: str, alpha: float = 0.05, kind: str = "paper") -> str:
    """The verdict of a claimed rank correlation of sign ``expect`` ("positive" or "negative") from
    :func:`~spectral_lib.experiments.stats.spearman_test`'s ``{"rho", "p", "n"}``: the positive word when rho has
    that sign with p < ``alpha``, the negative word when it has the other sign with p < ``alpha``, else "the run
    cannot tell" (NaN rho, p >= alpha)."""
    if expect not in ("positive", "negative"):
        raise ValueError(f"expect must be 'positive' or 'negative', got {expect!r}")
    yes, no = _words(kind)
    rho, p = test.get("rho", math.nan), test.get("p", math.nan)
    if not (np.isfinite(rho) and np.isfinite(p) and p < alpha and rho != 0):
        return CANNOT_TELL
    return yes if (rho > 0) == (expect == "positive") else no


def p_text(p: float) -> str:
    return "n/a" if not np.isfinite(p) else "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def correlation_row(base: Mapping[str, Any], a, b, expect: str, what: str) -> Row:
    """A row for a claimed rank correlation between ``a`` and ``b`` (equal-length sequences): value rho, no
    interval, n and the p-value in the measure. ``what``: e.g. ``"(β, EF) over networks"``."""
    t = spearman_test(list(a), list(b))
    return Row(**base, measure=f"Spearman ρ{what}; two-sided p = {p_text(t['p'])}", value=t["rho"], n=t["n"],
               verdict=correlation_verdict(t, expect, kind=base.get("kind", "paper")))


def interval_row(base: Mapping[str, Any], iv: Interval, expect: str, null: float, measure: str) -> Row:
    """A row for a claimed quantity with its interval (see :func:`interval_verdict`)."""
    return Row(**base, measure=measure, value=iv.value, interval_low=iv.low, interval_high=iv.high, n=iv.n,
               verdict=interval_verdict(iv, expect, null, kind=base.get("kind", "paper")))


def not_computed(base: Mapping[str, Any], needs: str, measure: str = "") -> Row:
    """A row that this build could not compute; ``needs`` says which table and columns the chapter must save."""
    return Row(**base, measure=measure, verdict=NOT_COMPUTED, detail=f"needs {needs}")


def scorecard(build: Build, rows: list[Callable[[Build], Row]]) -> list[Row]:
    """The rows ``rows`` (row functions, e.g. :data:`spectral_lib.experiments.scorecard_rows.ROWS`) computed for
    ``build``, the paper's claims first. A row function that fails on a malformed table gives a "not computed" row
    naming the error instead of stopping the build."""
    out = []
    for fn in sorted(rows, key=lambda f: getattr(f, "meta", {}).get("kind", "ours") != "paper"):  # paper's first
        try:
            out.append(fn(build))
        except (KeyError, ValueError, TypeError, IndexError) as e:
            meta = getattr(fn, "meta", None) or {"claim": fn.__name__, "source": "this companion", "chapter": "",
                                                  "dataset": "", "kind": "ours"}
            out.append(Row(**meta, measure="", verdict=NOT_COMPUTED,
                           detail=f"the chapter's table could not be read: {type(e).__name__}: {e}"))
    return out


def to_frame(rows: list[Row]):
    """The rows as a DataFrame with exactly :data:`COLUMNS`."""
    import pandas as pd

    return pd.DataFrame([{k: asdict(r)[k] for k in COLUMNS} for r in rows], columns=list(COLUMNS))


def write_csv(rows: list[Row], path: Path) -> Path:
    """``scorecard.csv`` (atomic)."""
    from ..cache import atomic_write

    return atomic_write(Path(path), to_frame(rows).to_csv(index=False))


def _num(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "n/a" if x is None or math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.3g}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _measured(r: Row) -> str:
    if r.verdict == NOT_COMPUTED:
        return "not computed"
    iv = (f" [{_num(r.interval_low)}, {_num(r.interval_high)}]"
          if np.isfinite(r.interval_low) and np.isfinite(r.interval_high) else " (no interval)")
    return f"{_num(r.value)}{iv}"


def page_markdown(rows: list[Row], titles: Mapping[str, str], doc_prefix: str = "_generated/",
                  csv_path: str = "_generated/scorecard.csv") -> str:
    """The scorecard as MyST Markdown: a compact table per kind of row (the paper's claims; our own questions):
    number, claim (its label), verdict, value [interval], n and a link to the chapter (``titles``: stem -> title);
    then every row in full (the claim, its source, the dataset, the measure and the note); then the CSV download."""
    out = [f"{{download}}`Download the scorecard as CSV <{csv_path}>` (columns {', '.join(COLUMNS)}).", ""]
    full: dict[int, str] = {}
    for kind, head in (("paper", "The paper's claims"), ("ours", "Our own questions, beyond the paper")):
        sel = [r for r in rows if r.kind == kind]
        if not sel:
            continue
        out += [f"## {head}", "", "| # | claim | verdict | value [95% interval] | n | chapter |",
                "|---:|---|---|---|---:|---|"]
        for r in sel:
            k = rows.index(r) + 1
            chap = (f"{{doc}}`{r.chapter[:2].lstrip('0')} <{doc_prefix}{r.chapter}>`" if r.chapter in titles
                    else r.chapter[:2].lstrip("0") or "")
            out.append(f"| {k} | {_cell(r.label or r.claim)} | **{_cell(r.verdict)}** | {_measured(r)} | "
                       f"{'' if r.n is None else r.n} | {chap} |")
            where = (f"{{doc}}`{titles[r.chapter]} <{doc_prefix}{r.chapter}>`" if r.chapter in titles
                     else f"{r.chapter} (not in this build)")
            full[k] = (f"{k}. **{_cell(r.label or r.claim)}.** {r.claim}. *Source:* {r.source}. *Chapter:* "
                        f"{where}. *Dataset:* {r.dataset or 'none (no data set)'}. *Measure:* "
                        f"{r.measure or 'none'}. *Verdict:* {r.verdict}." + (f" {r.detail}" if r.detail else ""))
        out.append("")
    out += ["## Every row in full", ""] + [full[k] for k in sorted(full)] + [""]
    return "\n".join(out)
