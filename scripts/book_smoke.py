"""The smoke mode of ``scripts/build_book.py --smoke`` (``bash scripts/book.sh --profile paper --smoke``).

Every chapter of the profile runs with its real models, image sizes, methods and code paths on stand-ins of its
datasets (:mod:`spectral_lib.data.standins`) with every count shrunk to the minimum
(:func:`spectral_lib.companion.smoke.smoke_profile`), in a temporary folder: the smoke profile, the cache (never the
real one), the executed notebooks and tables, and the report. Each chapter's wall time and peak memory (resident,
and CUDA's where a GPU was used) are printed as it finishes and as a table at the end (``smoke_report.md`` and
``.json`` in that folder); then the models no chapter uses yet (ResNet-50 and ViT-B/16 on the ImageNet stand-in,
the 7-block CNN at 224 px) are run through one training step and the paper's methods
(:func:`spectral_lib.experiments.memory_plan.probe`). Nothing is recorded in ``book/run_times.json`` and no book
is built. The temporary cache is deleted at the end unless ``SPECTRAL_LIB_SMOKE_KEEP=1``.
``SPECTRAL_LIB_SMOKE_LEVEL=quick`` runs the test suite's shorter variant (:func:`spectral_lib.companion.smoke._quick`).
The chapters run one at a time, so that each wall time is the chapter's alone; ``--jobs N`` (what the test suite
passes) runs them in the book's lanes side by side (:meth:`Smoke.attached`), each still measured in its own kernel
(memory is per kernel; wall times then include the other lanes' load).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from spectral_lib.cache import atomic_write
from spectral_lib.companion import smoke as smoke_lib
from spectral_lib.companion.profiles import load_profile, prepare
from spectral_lib.data import standins

# models of the paper that no chapter trains yet, probed after the chapters: (label, model, dataset stand-in, options)
EXTRA_MODELS = (("ResNet-50 (ImageNet)", "resnet50", "imagenet", {}),
                ("ViT-B/16 (ImageNet)", "vit_b_16", "imagenet", {}),
                ("simple CNN, 7 blocks, 224 px (Imagenette)", "simple_cnn", "imagenette", {"depth": 7}))


class Smoke:
    """One smoke run: its folder, the smoke profile and the rows of the report."""

    lane = False  # True in a lane of a smoke run (see attached)
    lanes = 1  # chapters side by side (build_book.py --jobs)

    def _folders(self, folder: Path) -> None:
        self.dir = folder
        self.cache, self.gen, self.memory = folder / "cache", folder / "_generated", folder / "memory"

    def __init__(self, profile: str, root: Path, out: str | None = None) -> None:
        name, prof = load_profile(profile, root / "profiles")
        # the profile itself first, as the book would run it (every grid point, networks built on the meta device;
        # not the devices: the smoke runs where it is), so that its own errors are not hidden by the shrinking
        prepare(profile, list(prof["notebooks"]), notebooks_dir=root / "notebooks", profiles_dir=root / "profiles",
                devices=False)
        self.name = name
        self._folders(Path(out).absolute() if out else Path(tempfile.mkdtemp(prefix=f"spectral-smoke-{name}-")))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.level = os.environ.get("SPECTRAL_LIB_SMOKE_LEVEL", "full")
        small = smoke_lib.smoke_profile(prof, root / "notebooks", self.level)
        self.profile = self.dir / f"{name}.yaml"  # same name, so the chapters see profile == name
        self.profile.write_text("# smoke profile derived from " + name + " by spectral_lib.companion.smoke\n"
                                + yaml.safe_dump(small, sort_keys=False))
        os.environ.update({standins.ENV: "1", "SPECTRAL_LIB_CACHE": str(self.cache),
                           smoke_lib.REPORT_ENV: str(self.memory), **{k: str(v) for k, v in
                                                                      smoke_lib.STANDIN_SIZES.items()}})
        self.rows: list[dict] = []
        self.t0 = time.perf_counter()
        print(f"[smoke] {name} ({self.level}): stand-in data, shrunk counts; everything under {self.dir}", flush=True)

    @classmethod
    def attached(cls, folder: str | Path) -> "Smoke":
        """The smoke run of ``folder`` as seen from one of its lanes (``build_book.py --jobs N --smoke``): the lane
        executes its chapters into that run's folders, with the environment the run set up (inherited), and reports
        nothing itself; the run that started the lanes reads their wall times and memory and writes the report."""
        self = cls.__new__(cls)
        self._folders(Path(folder).absolute())
        self.name, self.level, self.rows, self.lane = "", os.environ.get("SPECTRAL_LIB_SMOKE_LEVEL", "full"), [], True
        self.t0 = time.perf_counter()
        return self

    def add_cells(self, nb, stem: str) -> None:
        """The memory cells: first (start-up memory) and last (peak memory) of the chapter."""
        import nbformat

        nb.cells.insert(0, nbformat.v4.new_code_cell(smoke_lib.start_cell(stem), metadata={"tags": ["remove-cell"]}))
        nb.cells.append(nbformat.v4.new_code_cell(smoke_lib.end_cell(stem), metadata={"tags": ["remove-cell"]}))

    def chapter_done(self, stem: str, wall: float, status: str = "ok") -> None:
        if self.lane:  # the run that started the lane reports it
            return
        row = {"chapter": stem, "wall_s": round(wall, 2), "status": status,
               **smoke_lib.read_memory(self.memory, stem)}
        self.rows.append(row)
        peak = row.get("rss_peak")
        above = peak - row["rss_start"] if peak is not None and "rss_start" in row else None
        cuda = f", CUDA peak {row['cuda_peak'] / 2**30:.2f} GiB" if row.get("cuda_peak") else ""
        print(f"[smoke] {stem}: {status} in {wall:.1f} s, peak resident memory "
              + (f"{peak / 2**30:.2f} GiB ({above / 2**30:.2f} GiB above start-up){cuda}" if peak else "not recorded"),
              flush=True)

    def finish(self, failed: str | None = None) -> str:
        """Probe the extra models (unless a chapter failed), print and write the report; returns its text (in a
        lane: nothing, "")."""
        if self.lane:
            return ""
        models = [] if failed else self._probe_models()
        text = smoke_lib.format_report(self.rows)
        if self.lanes > 1:
            text += (f"\n\nThe chapters ran in {self.lanes} lanes side by side: each wall time includes the other "
                     f"lanes' load (each peak memory is its own kernel's).")
        if models:
            text += ("\n\nModels no chapter trains yet (one training step at batch 2, each paper method on one "
                     "image):\n\n")
            text += "| model | input | wall time (s) | peak above start-up (GiB) | per step / method |\n"
            text += "|---|---|---:|---:|---|\n"
            for m in models:
                ops = ", ".join(f"{op} {b / 2**30:.2f}" for op, b in m["peaks"].items())
                text += (f"| {m['label']} | {m['in_shape']} / {m['classes']} classes | {m['wall_s']:.1f} | "
                         f"{max(m['peaks'].values()) / 2**30:.2f} | {ops} |\n")
        text += f"\nTotal smoke time {time.perf_counter() - self.t0:.1f} s"
        text += f"; FAILED at {failed}" if failed else ""
        atomic_write(self.dir / "smoke_report.md", text + "\n")
        atomic_write(self.dir / "smoke_report.json", json.dumps({"profile": self.name, "level": self.level,
                                                                 "chapters": self.rows, "lanes": self.lanes,
                                                                 "models": models, "failed": failed}, indent=1))
        print("\n" + text, flush=True)
        if os.environ.get("SPECTRAL_LIB_SMOKE_KEEP") != "1":
            shutil.rmtree(self.cache, ignore_errors=True)
        return text

    def _probe_models(self) -> list[dict]:
        out = []
        for label, model, data, options in EXTRA_MODELS:
            t0 = time.perf_counter()
            code = ("import json, sys; from spectral_lib.experiments.memory_plan import probe; "
                    f"print(json.dumps(probe({model!r}, {data!r}, {options!r})))")
            p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
            if p.returncode:
                raise RuntimeError(f"smoke: {label} failed:\n{p.stderr[-3000:]}")
            got = json.loads(p.stdout.strip().splitlines()[-1])
            got.update(label=label, wall_s=time.perf_counter() - t0)
            out.append(got)
            print(f"[smoke] {label}: ok in {got['wall_s']:.1f} s, peak "
                  f"{max(got['peaks'].values()) / 2**30:.2f} GiB above start-up", flush=True)
        return out
