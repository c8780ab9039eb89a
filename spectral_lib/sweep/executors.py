"""The sweep's executors, all through the same job (:class:`~spectral_lib.sweep.job.PointJob`): ``local`` (in this
process, sequentially), ``submitit-local`` (submitit's LocalExecutor: ``parallel`` subprocesses at a time, waited
for) and ``slurm`` (submitit's SlurmExecutor: one job array); polling records every outcome in the state."""
from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

from .job import PointJob, PointsJob, run_job
from .plan import Plan
from .points import Point
from .settings import SLURM_OWN, SweepError, sbatch_error, slurm_parameters
from .state import job_outcome, jobs_folder, now, record, save_state

__all__ = ["run_local", "run_submitit_local", "slurm_executor", "run_slurm", "sbatch_preview", "wait", "tasks"]


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


def _record_outcome(pl: Plan, jid: str, points: list[Point]) -> None:
    """Record the outcome of finished job ``jid`` for each of its points (done / failed) and log it."""
    for p in points:
        entry = pl.state["points"][p.key]
        status, detail = job_outcome(entry, p.key)
        where = {k: entry[k] for k in ("executor", "job_id", "job_folder", "timeout_min") if k in entry}
        label = f"job {jid} ({p.config.activation} seed {p.config.seed})"
        if status == "finished" and p.path(pl.cache_dir).exists():
            record(pl, p, status="done", summary=detail, **where)
            resumed = " (resumed from a checkpoint)" if isinstance(detail, dict) and detail.get("resumed") else ""
            log(f"{label}: done in {detail['seconds']:.1f} s{resumed}")
            continue
        if p.path(pl.cache_dir).exists():  # e.g. a cancelled task whose point had finished before the cancel
            record(pl, p, status="done", summary=None, **where)
            log(f"{label}: done (its job then ended: {detail})")
            continue
        if status == "finished":
            detail = f"job {jid} finished but record {p.key} is missing (device or cache_dir mismatch?)"
        elif status == "running":
            detail = f"job {jid} ended without a result"
        record(pl, p, status="failed", error=detail, **where)
        log(f"{label}: failed: {detail}")


def _refresh_watchers(jobs: Any) -> None:
    """One sacct call per poll for all SLURM jobs: submitit's watcher otherwise asks sacct at most every half of the
    time since the last submission (up to 10 minutes), so a job killed or timed out late in a long sweep went unseen
    for that long (seen on a real scheduler: a TIMEOUT noticed 70 s late in a 2.5-minute run)."""
    watchers = {id(w): w for _, job in jobs if (w := getattr(type(job), "watcher", None)) is not None
                and hasattr(w, "update")}
    for w in watchers.values():
        try:
            w.update()
        except Exception:  # noqa: BLE001 - a failing sacct is reported by the per-job query
            pass


def wait(pl: Plan, jobs: dict[str, tuple[list[Point], Any]], submit_more: Callable[[], None] | None = None,
         max_poll_s: float = 0.5) -> None:
    """Poll submitted jobs (job id -> (its points, submitit job)) until all are finished, recording done/failed
    per point (``submit_more`` tops up the queue). Polls every 0.5 s at first, then less and less often, up to every
    ``max_poll_s``."""
    poll_s = 0.5
    while jobs:
        time.sleep(poll_s)
        poll_s = min(max_poll_s, poll_s * 1.5)
        _refresh_watchers(jobs.values())
        for jid, (points, job) in list(jobs.items()):
            if not job.done():
                continue
            del jobs[jid]
            _record_outcome(pl, jid, points)
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
            running[str(job.job_id)] = ([p], job)

    submit_more()
    try:
        wait(pl, running, submit_more)
    except KeyboardInterrupt:
        log(f"interrupted: {len(running)} local job(s) keep running; see --status")
        raise


def slurm_executor(pl: Plan) -> tuple[Any, Path]:
    """A configured SlurmExecutor and its job folder; SweepError on bad settings (before anything is submitted).

    Each submission gets a folder of its own (``<cache>/sweeps/<profile>-jobs/<time>-<random>/<job id>``): SLURM
    numbers jobs from 1 again after its state is reset, and a reused folder would then hand the new jobs the
    result files of old ones with the same ids."""
    import secrets

    import submitit

    slurm = pl.settings["slurm"]
    params = slurm_parameters(slurm, pl.profile)
    stamp = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    folder = jobs_folder(pl.cache_dir, pl.profile) / stamp / "%j"
    try:
        ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=slurm.get("max_num_timeout",
                                                                             SLURM_OWN["max_num_timeout"]))
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


def tasks(todo: list[Point], per_task: int) -> list[list[Point]]:
    """The points of each array task: ``per_task`` at a time, in order (the last task may have fewer)."""
    return [todo[i : i + per_task] for i in range(0, len(todo), per_task)]


def run_slurm(pl: Plan, todo: list[Point], wait_for_jobs: bool, ex_folder: tuple[Any, Path]) -> None:
    """Submit the points as one SLURM job array (``sweep.slurm.points_per_task`` points per task); with
    ``wait_for_jobs``, poll until they end. sbatch refusing the array (a request no node can satisfy) raises a
    SweepError naming the setting, and nothing is recorded as submitted."""
    from submitit.core.utils import FailedJobError, FailedSubmissionError

    ex, folder = ex_folder
    groups = tasks(todo, pl.settings["slurm"].get("points_per_task", SLURM_OWN["points_per_task"]))
    try:
        with ex.batch():
            jobs = [(g, ex.submit(PointJob(), g[0].config, g[0].spec, str(pl.cache_dir)) if len(g) == 1 else
                     ex.submit(PointsJob(), [(p.config, p.spec) for p in g], str(pl.cache_dir))) for g in groups]
    except (FailedJobError, FailedSubmissionError) as e:
        raise sbatch_error(str(e), pl.settings["slurm"]) from None
    timeout = ex.parameters.get("time")
    for g, job in jobs:
        for p in g:
            pl.state["points"][p.key] = {"notebooks": p.notebooks, "activation": p.config.activation,
                                         "seed": p.config.seed, "time": now(), "status": "submitted",
                                         "executor": "slurm", "job_id": str(job.job_id), "job_folder": str(folder),
                                         "timeout_min": timeout}
    save_state(pl.state_file, pl.state)
    ids = sorted({str(j.job_id).split("_")[0] for _, j in jobs})
    log(f"submitted {len(todo)} point(s) as {len(jobs)} SLURM task(s) (job id {', '.join(ids)}); logs under "
        f"{folder.parent}")
    if wait_for_jobs:
        wait(pl, {str(j.job_id): (g, j) for g, j in jobs}, max_poll_s=30.0)
