"""The sweep's executors, all through the same job (:class:`~spectral_lib.sweep.job.PointJob`): ``local`` (in this
process, sequentially), ``submitit-local`` (submitit's LocalExecutor: ``parallel`` subprocesses at a time, waited
for) and ``slurm`` (submitit's SlurmExecutor: one job array); polling records every outcome in the state."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

from .job import PointJob, run_job
from .plan import Plan
from .points import Point
from .settings import SweepError, slurm_parameters
from .state import job_outcome, jobs_folder, now, record, save_state

__all__ = ["run_local", "run_submitit_local", "slurm_executor", "run_slurm", "sbatch_preview", "wait"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_local(pl: Plan, todo: list[Point]) -> None:
    """Run the points one after another in this process; a failure is recorded and the next point runs."""
    for i, p in enumerate(todo, 1):
        log(f"[{i}/{len(todo)}] {p.config.model} {p.config.activation} seed {p.config.seed} ({p.key}) ...")
        try:
            summary = run_job(p.config, p.spec, str(pl.cache_dir))
        except Exception as e:  # noqa: BLE001 - recorded; the sweep goes on with the next point
            record(pl, p, status="failed", executor="local", error=f"{type(e).__name__}: {e}")
            log(f"    failed: {type(e).__name__}: {e}")
            continue
        record(pl, p, status="done", executor="local", summary=summary)
        log(f"    done in {summary['seconds']:.1f} s")


def wait(pl: Plan, jobs: dict[str, tuple[Point, Any]], submit_more: Callable[[], None] | None = None,
         max_poll_s: float = 0.5) -> None:
    """Poll submitted jobs until all are finished, recording done/failed (``submit_more`` tops up the queue).
    Polls every 0.5 s at first, then less and less often, up to every ``max_poll_s``."""
    poll_s = 0.5
    while jobs:
        time.sleep(poll_s)
        poll_s = min(max_poll_s, poll_s * 1.5)
        for jid, (p, job) in list(jobs.items()):
            if not job.done():
                continue
            del jobs[jid]
            entry = pl.state["points"][p.key]
            status, detail = job_outcome(entry)
            where = dict(executor=entry["executor"], job_id=jid, job_folder=entry["job_folder"])
            if status == "finished" and p.path(pl.cache_dir).exists():
                record(pl, p, status="done", summary=detail, **where)
                log(f"job {jid} ({p.config.activation} seed {p.config.seed}): done in {detail['seconds']:.1f} s")
                continue
            if status == "finished":
                detail = f"job {jid} finished but record {p.key} is missing (device or cache_dir mismatch?)"
            elif status == "running":
                detail = f"job {jid} ended without a result"
            record(pl, p, status="failed", error=detail, **where)
            log(f"job {jid} ({p.config.activation} seed {p.config.seed}): failed: {detail}")
        if submit_more is not None:
            submit_more()


def run_submitit_local(pl: Plan, todo: list[Point]) -> None:
    """Run the points as submitit LocalExecutor subprocesses, ``parallel`` at a time, and wait for them."""
    import submitit

    folder = jobs_folder(pl.cache_dir, pl.profile)  # files named <job id>_*
    ex = submitit.LocalExecutor(folder=folder)
    ex.update_parameters(timeout_min=pl.settings["submitit-local"]["timeout_min"])
    queue, running = list(todo), {}

    def submit_more() -> None:
        while queue and len(running) < pl.settings["submitit-local"]["parallel"]:
            p = queue.pop(0)
            job = ex.submit(PointJob(), p.config, p.spec, str(pl.cache_dir))
            record(pl, p, status="submitted", executor="submitit-local", job_id=str(job.job_id),
                   job_folder=str(folder))
            log(f"submitted {p.config.activation} seed {p.config.seed} ({p.key}) as local job {job.job_id}")
            running[str(job.job_id)] = (p, job)

    submit_more()
    try:
        wait(pl, running, submit_more)
    except KeyboardInterrupt:
        log(f"interrupted: {len(running)} local job(s) keep running; see --status")
        raise


def slurm_executor(pl: Plan) -> tuple[Any, Path]:
    """A configured SlurmExecutor and its job folder; SweepError on bad settings (before anything is submitted)."""
    import submitit

    params = slurm_parameters(pl.settings["slurm"], pl.profile)
    folder = jobs_folder(pl.cache_dir, pl.profile) / "%j"
    try:
        ex = submitit.SlurmExecutor(folder=folder)
    except RuntimeError as e:
        raise SweepError(f"slurm executor: {e}") from None
    try:
        ex.update_parameters(**params)
    except (ValueError, TypeError) as e:
        raise SweepError(f"sweep.slurm: {e}") from None
    return ex, folder


def sbatch_preview(pl: Plan, n_jobs: int) -> str:
    """The #SBATCH header submitit would write for an array of ``n_jobs`` (no cluster needed)."""
    from submitit.slurm import slurm

    params = slurm_parameters(pl.settings["slurm"], pl.profile)
    try:
        text = slurm._make_sbatch_string(command="<python -m submitit.core._submit ...>",
                                         folder=jobs_folder(pl.cache_dir, pl.profile) / "%j",
                                         map_count=n_jobs if n_jobs > 1 else None, **params)
    except (ValueError, TypeError) as e:
        raise SweepError(f"sweep.slurm: {e}") from None
    return "\n".join(ln for ln in text.splitlines() if ln.startswith("#SBATCH"))


def run_slurm(pl: Plan, todo: list[Point], wait_for_jobs: bool, ex_folder: tuple[Any, Path]) -> None:
    """Submit the points as one SLURM job array; with ``wait_for_jobs``, poll until they end."""
    ex, folder = ex_folder
    with ex.batch():
        jobs = [(p, ex.submit(PointJob(), p.config, p.spec, str(pl.cache_dir))) for p in todo]
    for p, job in jobs:
        pl.state["points"][p.key] = {"notebooks": p.notebooks, "activation": p.config.activation,
                                     "seed": p.config.seed, "time": now(), "status": "submitted",
                                     "executor": "slurm", "job_id": str(job.job_id), "job_folder": str(folder)}
    save_state(pl.state_file, pl.state)
    ids = sorted({str(j.job_id).split("_")[0] for _, j in jobs})
    log(f"submitted {len(jobs)} job(s) to SLURM (job id {', '.join(ids)}); logs under {folder.parent}")
    if wait_for_jobs:
        wait(pl, {str(j.job_id): (p, j) for p, j in jobs}, max_poll_s=30.0)
