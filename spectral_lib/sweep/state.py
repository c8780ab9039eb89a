"""The sweep's state: ``cache_dir/sweeps/<profile>.json`` (submitted job ids and the outcome of every point, written
atomically) and the status of every point, from the cache, the jobs' result files, their processes or SLURM."""
from __future__ import annotations

import datetime as dt
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import cache
from .job import summarize, summarize_trajectory

if TYPE_CHECKING:
    from .points import Point

__all__ = ["STATUSES", "state_path", "jobs_folder", "load_state", "save_state", "job_outcome", "point_result",
           "refresh", "now"]

STATUSES = ("done", "running", "failed", "missing")
_SLURM_ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
                 "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "UNKNOWN", "READY"}


def state_path(cache_dir: str | Path, profile: str) -> Path:
    """Where a profile's sweep state lives: ``cache_dir/sweeps/<profile>.json``."""
    return Path(cache_dir) / "sweeps" / f"{profile}.json"


def jobs_folder(cache_dir: str | Path, profile: str) -> Path:
    """Where a profile's job files and logs go: ``cache_dir/sweeps/<profile>-jobs``."""
    return Path(cache_dir) / "sweeps" / f"{profile}-jobs"


def now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def load_state(path: Path) -> dict:
    """The state at ``path`` (``{"version": 1, "points": {key: entry}}``); a new one if absent or unreadable."""
    if not path.is_file():
        return {"version": 1, "points": {}}
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict) or not isinstance(state.get("points"), dict):
            raise ValueError("not a sweep state")
        return state
    except ValueError as e:
        warnings.warn(f"{path}: unreadable sweep state ({e}); starting a new one", stacklevel=2)
        return {"version": 1, "points": {}}


def save_state(path: Path, state: dict) -> None:
    """Write the state JSON atomically (:func:`spectral_lib.cache.atomic_write`), stamped with the time."""
    state["updated"] = now()
    cache.atomic_write(path, json.dumps(state, indent=1, sort_keys=True))


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip() and not set(ln.strip()) <= {"-"}]
    return lines[-1] if lines else str(text)


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    try:  # guard against pid reuse (Linux)
        return b"submitit" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def point_result(value: Any, key: str | None) -> tuple[str, Any]:
    """(status, detail) of one point in a finished job's return value: a :class:`~spectral_lib.sweep.job.PointJob`
    summary, or the ``{"points": {key: summary or error}}`` of a :class:`~spectral_lib.sweep.job.PointsJob`."""
    if isinstance(value, dict) and isinstance(value.get("points"), dict):
        got = value["points"].get(key)
        if got is None:
            return "failed", f"its job finished without point {key}"
        if "error" in got:
            return "failed", got["error"][:400]
        return "finished", got
    return "finished", value


def _limit_hint(entry: dict, what: str) -> str:
    t = entry.get("timeout_min")
    limit = f" (sweep.slurm.timeout_min = {t})" if t is not None else " (sweep.slurm.timeout_min)"
    return (f"{what}{limit}: raise timeout_min or sweep.slurm.max_num_timeout, or rerun the sweep (training "
            "resumes from its last finished epoch)")


def job_outcome(entry: dict, key: str | None = None) -> tuple[str, Any]:
    """(status, detail) of a submitted job from its result file, process or SLURM state: ("finished", summary),
    ("failed", message) or ("running", message). ``key``: the point's key, for a job that ran several points."""
    from submitit.core import utils

    jid, folder, kind = entry["job_id"], entry["job_folder"], entry["executor"]
    paths = utils.JobPaths(folder, job_id=jid, task_id=0)
    if paths.result_pickle.exists():
        try:
            outcome, value = utils.pickle_load(paths.result_pickle)
        except Exception as e:  # noqa: BLE001 - a damaged result file is a failed job
            return "failed", f"job {jid}: unreadable result ({type(e).__name__}: {e})"
        if outcome == "success":
            return point_result(value, key)
        last = _last_line(value)
        if "timed-out" in last:  # submitit's time-out handler: "Job not requeued because: timed-out too many times."
            return "failed", _limit_hint(entry, f"job {jid} reached its time limit and was not requeued ({last})")
        return "failed", f"job {jid}: {last[:240]} (log: {paths.stderr})"
    if kind == "submitit-local":
        if _pid_alive(jid):
            return "running", f"pid {jid}"
        return "failed", f"job {jid}: process ended without a result (killed?) (log: {paths.stderr})"
    import submitit

    try:
        state = submitit.SlurmJob(folder=folder, job_id=jid).state.split()[0].upper()
    except Exception as e:  # noqa: BLE001 - sacct missing or failing
        return "running", f"job {jid}: state unknown ({type(e).__name__})"
    if state in _SLURM_ACTIVE:
        return "running", f"job {jid} {state}"
    if state == "TIMEOUT":
        return "failed", _limit_hint(entry, f"job {jid} TIMEOUT: SLURM stopped it at its time limit")
    if _killed_by_warning(paths.stderr):
        return "failed", _limit_hint(entry, f"job {jid} {state}: killed by SLURM's time-limit warning signal (USR2) "
                                            "before submitit could handle it, the limit is too short")
    return "failed", f"job {jid} {state} without a result (log: {paths.stderr})"


def _killed_by_warning(stderr: Path) -> bool:
    """Whether a job's log ends with srun's report of a task killed by USR2, submitit's time-limit warning
    (:func:`~spectral_lib.sweep.settings.signal_delay_s` says why that can come before its handler is installed)."""
    try:
        tail = Path(stderr).read_text(errors="replace")[-2000:]
    except OSError:
        return False
    return "User defined signal 2" in tail


def _summary_from_cache(p: "Point", cache_dir: Path) -> dict | None:
    try:
        return (summarize_trajectory if p.is_trajectory else summarize)(cache.load(p.path(cache_dir)), p.key)
    except Exception:  # noqa: BLE001 - a corrupt record shows as done without numbers; run_point recomputes it
        return None


def _register_slurm(points: list["Point"], state: dict) -> None:
    """Register the submitted SLURM jobs with submitit's watcher: one sacct call for all of them, not one per job."""
    slurm_ids = [e["job_id"] for p in points if (e := state["points"].get(p.key))
                 and e.get("status") == "submitted" and e.get("executor") == "slurm"]
    if slurm_ids:
        try:
            import submitit

            for jid in slurm_ids:
                submitit.SlurmJob.watcher.register_job(jid)
        except Exception:  # noqa: BLE001 - the per-job query reports it
            pass


def refresh(points: list["Point"], state: dict, cache_dir: Path) -> dict[str, tuple[str, str]]:
    """Current status of every point (key -> (status, detail)), updating ``state['points']`` in place.

    done: its record is in the cache; running: a submitted job is queued or running; failed: the last attempt failed
    (or its job ended without writing the record); missing: never run."""
    out = {}
    _register_slurm(points, state)
    for p in points:
        e = state["points"].get(p.key)
        if p.path(cache_dir).exists():
            if e is None or e.get("status") != "done" or "summary" not in e:
                summary = None
                if e is not None and e.get("status") == "submitted" and e.get("executor") != "local":
                    status, detail = job_outcome(e, p.key)  # the job's own summary (wall time, resumed)
                    summary = detail if status == "finished" and isinstance(detail, dict) else None
                e = state["points"].setdefault(p.key, {})
                e.update(status="done", summary=summary or _summary_from_cache(p, cache_dir),
                         time=e.get("time") or now())
            out[p.key] = ("done", e.get("job_id", "") and f"job {e['job_id']}")
            continue
        if e is None:
            out[p.key] = ("missing", "")
            continue
        if e.get("status") == "submitted":
            status, detail = job_outcome(e, p.key)
            if status == "finished":
                got = detail.get("key") if isinstance(detail, dict) else None
                status, detail = "failed", (f"job {e['job_id']} finished but its record {got} is not the expected "
                                            f"{p.key} (device or cache_dir mismatch? see sweep.device)")
            if status == "failed":
                e.update(status="failed", error=detail, time=now())
            out[p.key] = (status, detail)
        elif e.get("status") == "failed":
            out[p.key] = ("failed", e.get("error", ""))
        else:  # recorded as done but the record is gone (cache cleaned)
            out[p.key] = ("missing", "record no longer in the cache")
    return out


def record(pl: Any, p: "Point", **entry: Any) -> None:
    """Record ``entry`` (status, executor, job id, summary or error, ...) for point ``p`` and save the state."""
    pl.state["points"][p.key] = {"notebooks": p.notebooks, "activation": p.config.activation,
                                 "seed": p.config.seed, "time": now(), **entry}
    save_state(pl.state_file, pl.state)
