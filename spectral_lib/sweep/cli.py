"""Run a profile's grid points as jobs: in this process, as local subprocesses, or on a SLURM cluster (submitit).

The points are exactly the ones the notebooks compute, so the book later finds them in the cache: for every notebook
entry of the profile whose parameters have ``activations`` (the grid notebooks), the notebook's own parameters cell
(``notebooks/<stem>.py``) + the profile ``defaults`` it declares + its profile entry are merged and validated by
:mod:`spectral_lib.companion.profiles` (the same code as ``scripts/build_book.py`` and the notebooks' first
cell), expanded with :func:`param_sets` and passed to :func:`spectral_lib.experiments.points_from_params`. Points
shared by several notebooks run once. Every network is built on the ``meta`` device first, and ``device: cuda`` is
refused where the jobs would have no CUDA, so a bad configuration fails in seconds, before anything is submitted.

One job per point calls :func:`spectral_lib.experiments.run_point` and returns a small summary. Idempotent: a point
whose record is already in ``cache_dir/evals`` is skipped, and so is one whose job is still queued or running; failed,
pre-empted or never-submitted points are (re)submitted, and training resumes from the per-epoch checkpoints of
:func:`spectral_lib.training.train_or_load`. Submitted job ids and the outcome of every point are kept in
``cache_dir/sweeps/<profile>.json`` (written atomically); job logs go to ``cache_dir/sweeps/<profile>-jobs/``.
``cache_dir``: ``--cache-dir``, else the notebooks' ``cache_dir`` parameter if the profile sets one, else
``$SPECTRAL_LIB_CACHE`` or ``~/.cache/spectral_lib`` (:func:`spectral_lib.paths.default_cache_dir`).

Executors: ``local`` (default: sequential, in this process), ``submitit-local`` (submitit's LocalExecutor: one
subprocess per point, ``parallel`` at a time, waited for) and ``slurm`` (submitit's SlurmExecutor: one job array;
sbatch refusing it raises a SweepError naming the ``sweep.slurm`` setting; book/scaling.md). Profile section
(optional)::

    sweep:
      executor: slurm                 # local | submitit-local | slurm
      device: cuda                    # what device "auto" means inside the jobs (default: cuda if the slurm
                                      # section asks for GPUs, cpu for slurm without GPUs, this machine otherwise)
      slurm: {partition: gpu, gpus_per_node: 1, cpus_per_task: 8, timeout_min: 240, mem_gb: 32,
              array_parallelism: 64, additional_parameters: {account: myproject},
              points_per_task: 1,     # grid points per array task, run one after another (the sweep's own key)
              max_num_timeout: 3}     # requeues of a task that reaches its time limit (the sweep's own key)
      submitit-local: {parallel: 2, timeout_min: 1440}

Modules: :mod:`~spectral_lib.sweep.settings` (the ``sweep`` section), :mod:`~spectral_lib.sweep.plan` (the points),
:mod:`~spectral_lib.sweep.state` (the state file, statuses), :mod:`~spectral_lib.sweep.job` (the job),
:mod:`~spectral_lib.sweep.executors` (running and polling), :mod:`~spectral_lib.sweep.table` (the report); this one
holds the two commands (:func:`submit`, :func:`status`) and the command line.

Command line::

    python -m spectral_lib.sweep --profile quick|paper|tiny|path.yaml [--executor local|submitit-local|slurm]
        [--status] [--dry-run] [--cache-dir DIR] [--only NOTEBOOK ...] [--wait] [--force]
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Iterable

from ..checks import ConfigError
from ..companion.profiles import load_profile as _load_profile
from .executors import log, run_local, run_slurm, run_submitit_local, sbatch_preview, slurm_executor, tasks
from .plan import NOTEBOOKS_DIR, PROFILES_DIR, check_devices, plan
from .settings import EXECUTORS, SweepError
from .state import refresh, save_state
from .table import format_table
from .table import rows as _rows

__all__ = ["load_profile", "submit", "status", "main"]


def load_profile(name: str | os.PathLike, profiles_dir: str | Path = PROFILES_DIR) -> tuple[str, dict]:
    """(name, mapping) of a profile (:func:`spectral_lib.companion.profiles.load_profile`); SweepError if it is bad."""
    try:
        return _load_profile(name, profiles_dir)
    except ConfigError as e:
        raise SweepError(str(e)) from None


def submit(profile: str | os.PathLike, executor: str | None = None, cache_dir: str | Path | None = None,
           only: Iterable[str] | None = None, dry_run: bool = False, wait: bool = False, force: bool = False,
           notebooks_dir: str | Path = NOTEBOOKS_DIR, profiles_dir: str | Path = PROFILES_DIR) -> list[dict]:
    """Run (or, with ``dry_run``, list) the profile's points that are not done and not running; returns the status
    rows after the run (see :func:`status`). ``force``: also resubmit points whose job looks queued/running."""
    pl = plan(profile, executor, cache_dir, only, notebooks_dir, profiles_dir)
    statuses = refresh(pl.points, pl.state, pl.cache_dir)
    skip = ("done",) if force else ("done", "running")
    todo = [p for p in pl.points if statuses[p.key][0] not in skip]
    check_devices(pl, todo)
    ex = pl.settings["executor"]
    if dry_run:
        out = _rows(pl, statuses)
        for r in out:
            r["action"] = "submit" if r["status"] not in skip else "skip"
        if ex == "slurm" and todo:
            per_task = pl.settings["slurm"].get("points_per_task", 1)
            log(sbatch_preview(pl, len(tasks(todo, per_task))))
        return out
    if todo and ex != "local":
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise SweepError(f"the {ex} executor needs submitit: pip install 'submitit>=1.5'") from None
    ex_folder = slurm_executor(pl) if ex == "slurm" and todo else None  # fails here, before submitting, on bad input
    pl.state.update(profile=pl.profile, cache_dir=str(pl.cache_dir), device=pl.device)
    if not todo:
        log(f"nothing to do: {sum(s == 'done' for s, _ in statuses.values())} done, "
            f"{sum(s == 'running' for s, _ in statuses.values())} running")
    elif ex == "local":
        run_local(pl, todo)
    elif ex == "submitit-local":
        run_submitit_local(pl, todo)
    else:
        run_slurm(pl, todo, wait, ex_folder)
    save_state(pl.state_file, pl.state)
    return _rows(pl, refresh(pl.points, pl.state, pl.cache_dir))


def status(profile: str | os.PathLike, executor: str | None = None, cache_dir: str | Path | None = None,
           only: Iterable[str] | None = None, notebooks_dir: str | Path = NOTEBOOKS_DIR,
           profiles_dir: str | Path = PROFILES_DIR) -> list[dict]:
    """One row per point: key, notebooks, model, activation, seed, status (done/running/failed/missing), detail,
    and for done points the summary (test_accuracy, cap_reached, ef: method -> mean EF)."""
    pl = plan(profile, executor, cache_dir, only, notebooks_dir, profiles_dir)
    statuses = refresh(pl.points, pl.state, pl.cache_dir)
    if pl.state_file.exists() or any(s != "missing" for s, _ in statuses.values()):
        try:
            save_state(pl.state_file, pl.state)
        except OSError:
            pass
    return _rows(pl, statuses)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 some point failed, 2 bad input)."""
    ap = argparse.ArgumentParser(prog="python -m spectral_lib.sweep", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True, help="profile name in profiles/ (quick, paper, tiny) or a YAML path")
    ap.add_argument("--executor", help=f"one of {', '.join(EXECUTORS)} (default: the profile's sweep.executor, "
                                       "else local)")
    ap.add_argument("--status", action="store_true", help="only report done / running / failed / missing")
    ap.add_argument("--dry-run", action="store_true", help="validate and list what would be submitted")
    ap.add_argument("--cache-dir", help="cache root (default: the notebooks' cache_dir if the profile sets one, else "
                                        "$SPECTRAL_LIB_CACHE, else ~/.cache/spectral_lib)")
    ap.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="only these notebooks' points")
    ap.add_argument("--wait", action="store_true", help="slurm: wait for the jobs and record their outcome")
    ap.add_argument("--force", action="store_true", help="also resubmit points whose job looks queued or running")
    ap.add_argument("--notebooks-dir", default=str(NOTEBOOKS_DIR), help="notebook sources (default: %(default)s)")
    args = ap.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = lambda msg, *a, **k: print(f"warning: {msg}", file=sys.stderr)
        try:
            if args.status:
                out = status(args.profile, args.executor, args.cache_dir, args.only, args.notebooks_dir)
            else:
                out = submit(args.profile, args.executor, args.cache_dir, args.only, dry_run=args.dry_run,
                             wait=args.wait, force=args.force, notebooks_dir=args.notebooks_dir)
        except ConfigError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    print(format_table(out))
    return 1 if not args.status and not args.dry_run and any(r["status"] == "failed" for r in out) else 0
