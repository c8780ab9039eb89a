"""``python -m benchmarks [--only ef,vanilla,smooth,train] [--quick] [--write [PATH]]``: run the benchmarks,
print the results table and, with ``--write``, save it (with the machine, the date and the command) as markdown
(default ``benchmarks/RESULTS.md``; ``benchmarks/RESULTS-quick.md`` for ``--quick``)."""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from . import CASES
from ._harness import MAIN_HEADER, loadavg, machine_description, markdown_table, now_utc, setup_torch

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    ap.add_argument("--only", default=",".join(CASES), help=f"comma-separated cases among {', '.join(CASES)}")
    ap.add_argument("--quick", action="store_true", help="small sizes and few repeats: a smoke run (~1 min)")
    ap.add_argument("--write", nargs="?", const="", default=None, metavar="PATH",
                    help="write the results as markdown (default benchmarks/RESULTS.md, RESULTS-quick.md if --quick)")
    args = ap.parse_args(argv)
    cases = [c.strip() for c in args.only.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {unknown}; choose among {list(CASES)}")
    setup_torch()
    started, load0, t0 = now_utc(), loadavg(), time.perf_counter()
    sections = []
    for c in cases:
        print(f"[{c}] running...", file=sys.stderr, flush=True)
        tc = time.perf_counter()
        sections.append(importlib.import_module(f"benchmarks.{c}").run(quick=args.quick))
        print(f"[{c}] done in {time.perf_counter() - tc:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    rows = [r.cells() for s in sections for r in s.rows]
    body = [markdown_table(MAIN_HEADER, rows), ""]
    body.append("ratio = baseline time / our time (a speed-up), for `train` our img/s / ReLU's; [IQR] = inter-quartile "
                "range of the per-round ratios (implementations called interleaved).")
    for s in sections:
        for header, trs in s.extra_tables:
            body += ["", f"{s.name}:", "", markdown_table(header, trs)]
        if s.notes:
            body += ["", f"{s.name}:"] + [f"- {n}" for n in s.notes]
    command = "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = machine_description() + [
        f"date: {started}; wall time {wall:.0f} s; load average (1/5/15 min) at start {load0}, at end {loadavg()}",
        f"command: `{command.strip()}`" + ("  (QUICK smoke run: small sizes, not the targets' sizes)" if args.quick else ""),
    ]
    text = "\n".join(body)
    print(text)
    print("\n" + "\n".join(meta))
    if args.write is not None:
        path = Path(args.write) if args.write else HERE / ("RESULTS-quick.md" if args.quick else "RESULTS.md")
        md = ["# Benchmark results", "", "Produced by the command below (`python -m benchmarks --write`); see "
              "`benchmarks/__init__.py` for what each case measures.", ""]
        md += [f"- {m}" for m in meta] + ["", text, ""]
        path.write_text("\n".join(md))
        print(f"\nwritten to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
