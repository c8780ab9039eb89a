"""Timing, peak-memory and reporting helpers shared by the benchmark cases."""
from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

THREADS = 2
ROOT = Path(__file__).resolve().parent.parent


def setup_torch() -> None:
    import torch

    torch.set_num_threads(THREADS)
    torch.set_default_dtype(torch.float32)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function: ``warmup`` untimed calls each, then ``repeats`` rounds in which every
    function is called once, in an order that rotates from round to round (load hits all of them alike)."""
    names = list(fns)
    for _ in range(warmup):
        for n in names:
            fns[n]()
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        k = r % len(names)
        for n in names[k:] + names[:k]:
            t0 = time.perf_counter()
            fns[n]()
            times[n].append(time.perf_counter() - t0)
    return times


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def paired_ratio(num: list[float], den: list[float]) -> tuple[float, float, float]:
    """Median and inter-quartile range of the per-round ratios num[i] / den[i]."""
    rs = sorted(a / b for a, b in zip(num, den))
    if len(rs) < 4:
        return statistics.median(rs), rs[0], rs[-1]
    q = statistics.quantiles(rs, n=4)
    return statistics.median(rs), q[0], q[2]


@dataclass
class Row:
    """One line of the results table. ``ratio`` is defined by the case (a speed-up: baseline time / our time, or
    a throughput ratio); ``target`` is a lower bound on it (None: reported only)."""

    case: str
    ours: str
    baseline: str
    ratio: float
    target: float | None
    iqr: tuple[float, float] | None = None
    target_text: str = ""
    noise_ok: bool = False  # a target "within noise": met when the IQR of the ratios reaches it

    @property
    def met(self) -> str:
        if self.target is None:
            return "n/a"
        if self.ratio >= self.target:
            return "yes"
        if self.noise_ok and self.iqr is not None and self.iqr[1] >= self.target:
            return "yes (within noise)"
        return "NO"

    def cells(self) -> list[str]:
        r = f"{self.ratio:.2f}"
        if self.iqr is not None:
            r += f" [{self.iqr[0]:.2f}-{self.iqr[1]:.2f}]"
        tgt = self.target_text or ("-" if self.target is None else f">= {self.target:g}")
        return [self.case, self.ours, self.baseline, r, tgt, self.met]


@dataclass
class Section:
    """A case's rows plus free-form lines (checks, memory tables) printed under the main table."""

    name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra_tables: list[tuple[list[str], list[list[str]]]] = field(default_factory=list)


def fmt_time(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 10 else f"{s:.2f} s"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


MAIN_HEADER = ["case", "ours", "baseline", "ratio [IQR]", "target", "met?"]


def rss_now_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith(field + ":"):
                return int(ln.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0: ``5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_kib() -> int:
    """Peak RSS of this process image in KiB: VmHWM from /proc/self/status. (``getrusage(...).ru_maxrss`` is not
    used: across fork + exec it keeps the RSS the *parent* had when it forked, so a child of a big benchmark process
    reports the parent's size.) Falls back to ru_maxrss where /proc is missing."""
    try:
        return _status_kib("VmHWM")
    except (OSError, KeyError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_probe(args: list[str], timeout: float = 600) -> dict:
    """Run ``python -m benchmarks._memprobe ARGS`` in a fresh interpreter and return its JSON answer."""
    cmd = [sys.executable, "-m", "benchmarks._memprobe", *args]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def machine_description() -> list[str]:
    import numpy
    import torch

    try:
        import captum

        captum_v = captum.__version__
    except Exception:  # pragma: no cover
        captum_v = "missing"
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    cpu = ln.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError):
        pass
    return [
        f"CPU: {cpu}, {os.cpu_count()} logical cores{mem}; no GPU used (all runs on CPU)",
        f"OS: {platform.platform()}; Python {platform.python_version()}",
        f"torch {torch.__version__} ({torch.get_num_threads()} intra-op threads, MKL {torch.backends.mkl.is_available()}),"
        f" captum {captum_v}, numpy {numpy.__version__}",
    ]


def now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def loadavg() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"
