"""The sweep against a real SLURM scheduler: a one-node cluster on localhost (``scripts/slurm_local.sh``: slurmctld,
slurmd, slurmdbd with MariaDB for accounting, munge), started once for the session and stopped at its end (left
running if it was already up). Each test sweeps into a cache of its own, so every submitit folder is fresh.

* the ``tiny`` profile's whole sweep through submitit's SlurmExecutor (``python -m spectral_lib.sweep --executor
  slurm --wait``) as one job array with more tasks than its parallelism limit: every point done, never more than
  ``array_parallelism`` tasks at once (from sacct's start/end times); then every grid point of every chapter, as
  the book computes them, is in the cache (``missing_points`` is empty: the book build trains nothing; a full book
  build on it is left to the book render test where ``tests/conftest.py`` shares the fixture);
* a job array cancelled mid-run (``scancel``) and the sweep run again: the finished points are not rerun and their
  records are byte-identical, only the missing points are submitted, the point that was killed mid-training resumes
  from its last epoch checkpoint and ends with the record an uninterrupted run gives;
* a job that reaches its time limit: SLURM's warning signal (USR2, which SLURM sends ``signal_delay_s`` before the
  limit; here delivered with ``scancel --signal=USR2``, SLURM's own delivery path, instead of waiting out a 1-minute
  limit) makes submitit checkpoint and requeue the job, which resumes from its last epoch and completes;
* a job that really exceeds its time limit (``timeout_min = 1``, ``max_num_timeout = 0``): failed, the message
  names ``sweep.slurm.timeout_min``, the epoch checkpoint is kept;
* impossible requests (more CPUs than the node has, a GPU on a GPU-less node, more memory than it has) fail at
  submission with a SweepError naming the ``sweep.slurm`` setting, and nothing is recorded as submitted.

Skipped, with the reason, only where SLURM is not installed (``scripts/setup.sh`` installs it through
``scripts/slurm_local.sh install`` when it runs as root with apt-get). Timings are printed (``pytest -s``).
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("submitit")

import conftest  # noqa: E402
from slurm_support import RECORD_DIRS, ROOT, files, jobs_environment, tiny_profile  # noqa: E402

if not hasattr(conftest, "tiny_sweep"):  # unless conftest provides them (then the book render test shares the sweep)
    from slurm_support import slurm_cluster, tiny_sweep  # noqa: E402,F401

from spectral_lib import cache, sweep  # noqa: E402
from spectral_lib.companion.profiles import chapter_parameters, chapter_points, chapter_trajectories  # noqa: E402
from spectral_lib.experiments import missing_points, run_point  # noqa: E402

# one pytest-xdist worker runs every test of the tiny book, its SLURM sweep and the local cluster (session
# fixtures shared by these modules: built once, on one cluster); scripts/test.sh runs the suite on two workers
pytestmark = pytest.mark.xdist_group("book_and_slurm")


@pytest.fixture
def jobs_env(monkeypatch):
    """What the jobs inherit from this process (sbatch exports the environment): one thread each, this checkout."""
    for k, v in jobs_environment().items():
        if os.environ.get(k) != v:
            monkeypatch.setenv(k, v)
    monkeypatch.chdir(ROOT)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sacct(job_id: str, *fields: str, duplicates: bool = False) -> list[dict[str, str]]:
    """sacct's rows (allocations only) for a job or array."""
    cmd = ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", ",".join(fields)] + (["-D"] if duplicates else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]


def _max_overlap(rows: list[dict[str, str]]) -> int:
    """Most tasks running at once, from sacct Start/End (ISO times, 1 s resolution; a task ending in the second
    another starts does not count as overlapping it)."""
    events = sorted([(r["Start"], 1) for r in rows] + [(r["End"], -1) for r in rows])  # ends sort first
    run = best = 0
    for _, d in events:
        run += d
        best = max(best, run)
    return best


def _queued(job_id: str) -> list[str]:
    """squeue's entries for a job or array (pending, running or completing)."""
    out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%i %T"], capture_output=True, text=True, timeout=30)
    return out.stdout.split("\n")[:-1] if out.returncode == 0 else []


def _state(cache_dir: Path, name: str) -> dict:
    return json.loads((cache_dir / "sweeps" / f"{name}.json").read_text())


def _wait_until(cond, timeout: float, what: str, poll: float = 0.2):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        got = cond()
        if got:
            return got
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _settle(profile: Path, cache_dir: Path, timeout: float = 240) -> list[dict]:
    """sweep.status until no point is running (submitit's view of sacct lags the jobs by a few seconds)."""
    rows: list[dict] = []

    def settled():
        rows[:] = sweep.status(profile, cache_dir=cache_dir)
        return all(r["status"] != "running" for r in rows)

    _wait_until(settled, timeout, "the jobs to end", poll=1.0)
    return rows


# digits (8x8, 1,438 training images: 6 steps an epoch at batch 256) and a cap out of reach: cheap epochs, long
# enough runs to be caught mid-training
SMALL = {"dataset": "digits", "accuracy_cap": 1.0}
STEPS_PER_EPOCH = -(-1438 // 256)


# --------------------------------------------------------------------------------------------------------- tests
def _describe(path) -> str:
    """What a cache file holds (for a failure message): its config's differing fields and its methods."""
    try:
        rec = cache.load(path)
    except Exception as e:  # noqa: BLE001 - a message only
        return f"unreadable: {e}"
    c = rec.get("config") or {}
    return (f"{c.get('dataset')} {c.get('activation')} seed {c.get('seed')} lr {c.get('lr')} cap "
            f"{c.get('accuracy_cap')} epochs {c.get('max_epochs')} {c.get('model_options')} methods "
            f"{sorted((rec.get('ef') or {}).keys()) if isinstance(rec.get('ef'), dict) else '-'} n "
            f"{len(rec['images']) if 'images' in rec else '-'}")


def test_tiny_sweep_on_slurm_then_the_book_finds_every_point(tiny_sweep):
    """The tiny profile's whole sweep as one array (more tasks than array_parallelism); then every grid point of
    every chapter of the book is in its cache (the book build trains nothing)."""
    if tiny_sweep is None:
        from slurm_support import why_no_slurm

        pytest.skip(why_no_slurm())
    ts = tiny_sweep
    assert ts.returncode == 0, f"sweep failed:\n{ts.stdout[-3000:]}\n{ts.stderr[-3000:]}"
    n = len(sweep.grid_points(sweep.load_profile(ts.profile)[1]))
    assert f"{n} point(s): {n} done, 0 running, 0 failed, 0 missing" in ts.stdout, ts.stdout[-2000:]
    state = _state(ts.cache_dir, "tiny")
    job_ids = {e["job_id"] for e in state["points"].values()}
    assert all(e["executor"] == "slurm" and e["status"] == "done" for e in state["points"].values())
    arrays = {j.split("_")[0] for j in job_ids}
    per_task, parallel = ts_settings(ts)
    assert len(arrays) == 1 and len(job_ids) == -(-n // per_task) > parallel, job_ids  # more tasks than the limit
    rows = _sacct(arrays.pop(), "JobID", "State", "Start", "End")
    assert len(rows) == len(job_ids) and all(r["State"] == "COMPLETED" for r in rows), rows
    assert _max_overlap(rows) <= parallel, rows
    n_traj = sum(p.is_trajectory for p in sweep.grid_points(sweep.load_profile(ts.profile)[1]))
    assert n_traj >= 1  # chapter 4's uncapped trajectories are sweep points too
    assert ts.snapshot["models"] and len(ts.snapshot["evals"]) == n - n_traj and len(ts.snapshot["trajectories"]) \
        == n_traj
    print(f"\n[slurm] tiny sweep: {n} points in {len(job_ids)} array tasks (parallelism {parallel}): "
          f"{ts.seconds:.1f} s")

    # what the book will ask for, from the book's side (the chapters' merged parameters and grid points, the code
    # scripts/build_book.py validates with): every point's record is in the sweep's cache, so the book build reads
    # them and trains nothing. A full tiny book build on this cache takes minutes on top of the sweep; the book render
    # test does it where tests/conftest.py shares this fixture (then book_built is set and the cache must be unchanged).
    _, prof = sweep.load_profile(ts.profile)
    book_points = {stem: chapter_points(stem, chapter_parameters(stem, prof).params) for stem in prof["notebooks"]}
    assert sum(map(len, book_points.values())) >= n
    missing = {stem: len(missing_points(pts, ts.cache_dir)) for stem, pts in book_points.items()}
    assert not any(missing.values()), missing
    assert all(r["status"] == "done" for r in sweep.status(ts.profile, cache_dir=ts.cache_dir))
    for f in sorted((ts.cache_dir / "evals").glob("*.pt"))[:3]:  # records readable (checksummed)
        cache.load(f)
    runs = {stem: chapter_trajectories(stem, chapter_parameters(stem, prof).params) for stem in prof["notebooks"]}
    assert not [stem for stem, rs in runs.items() for c, spec in rs if not spec.record_path(c, ts.cache_dir).exists()]
    # as the book build left the cache (the exercises' solutions reuse it afterwards and add what they change)
    after = ts.after_book if ts.after_book is not None else {d: files(ts.cache_dir / d) for d in RECORD_DIRS}
    assert after == ts.snapshot, {d: [(name, _describe(ts.cache_dir / d / name)) for name, _ in
                                      sorted(set(after[d].items()) ^ set(ts.snapshot[d].items()))] for d in after}
    print(f"[slurm] every grid point of the book's {len(book_points)} chapters is in the cache"
          + (f"; book build on it by {ts.book_built}: nothing trained or evaluated" if ts.book_built else ""))


def ts_settings(ts) -> tuple[int, int]:
    slurm = sweep.load_profile(ts.profile)[1]["sweep"]["slurm"]
    return slurm["points_per_task"], slurm["array_parallelism"]


KILL_NOTEBOOKS = {"01_spectral_toolkit": {"activations": ["relu", "sp:2"], "seeds": [0, 1]}}
# 23 steps an epoch, 120 epochs: a point takes many times SLURM's KillWait (2 s), so that the point being trained when
# the array is cancelled cannot finish in the grace time before SIGKILL. With 30 epochs (about 3 s a point on a fast
# day) all four finished in the grace time and the test failed (CI of the previous stop; again here on 2026-12-03).
KILL_TRAINING = {"max_epochs": 120, "batch_size": 64}


def test_cancelled_array_then_rerun_loses_nothing(slurm_cluster, jobs_env, tmp_path):
    """scancel mid-run, then the same sweep again: only the missing points rerun; nothing done is lost or redone;
    the point killed mid-training resumes from its checkpoint and ends as an uninterrupted run does."""
    prof = tiny_profile(tmp_path, "killtest", {"array_parallelism": 2, "points_per_task": 2}, KILL_NOTEBOOKS,
                        {**SMALL, **KILL_TRAINING})
    cache_dir = tmp_path / "cache"
    t0 = time.perf_counter()
    rows = sweep.submit(prof, cache_dir=cache_dir)
    assert [r["status"] for r in rows] == ["running"] * 4, [r["detail"] for r in rows]
    array = {e["job_id"].split("_")[0] for e in _state(cache_dir, "killtest")["points"].values()}.pop()
    evals, models = cache_dir / "evals", cache_dir / "models"

    def mid_run():  # a task has finished its first point and is training its second
        return list(evals.glob("*.pt")) and list(models.glob("*.partial.pt"))

    _wait_until(mid_run, 240, "one point done and another mid-training")
    subprocess.run(["scancel", array], check=True, timeout=30)
    killed_s = time.perf_counter() - t0
    # SLURM marks the tasks CANCELLED at once but lets them run for KillWait (2 s here) before SIGKILL, and a point
    # may finish in that time: wait until the tasks have left the queue before looking at what is done
    _wait_until(lambda: not _queued(array), 120, "the cancelled tasks to leave the queue", poll=0.5)
    rows = _settle(prof, cache_dir)
    done = {r["key"] for r in rows if r["status"] == "done"}
    failed = {r["key"]: r["detail"] for r in rows if r["status"] == "failed"}
    assert done and failed and len(done) + len(failed) == 4, rows
    assert all("CANCELLED" in d for d in failed.values()), failed
    partials = {f.name for f in models.glob("*.partial.pt")}
    assert partials, "the killed point left no epoch checkpoint"
    records = {f.name: _digest(f) for f in evals.glob("*.pt")}
    assert not [f for f in evals.iterdir() if f.suffix not in (".pt", ".lock") and not f.name.endswith(".tmp")]
    for f in evals.glob("*.pt"):  # every record readable (checksummed): nothing half-written is in place
        cache.load(f)
    old_jobs = {k: e["job_id"] for k, e in _state(cache_dir, "killtest")["points"].items()}

    dry = sweep.submit(prof, cache_dir=cache_dir, dry_run=True)
    assert {r["key"] for r in dry if r["action"] == "submit"} == set(failed)
    t1 = time.perf_counter()
    rows = sweep.submit(prof, cache_dir=cache_dir, wait=True)
    rerun_s = time.perf_counter() - t1
    assert [r["status"] for r in rows] == ["done"] * 4, [r["detail"] for r in rows]
    state = _state(cache_dir, "killtest")["points"]
    assert {k for k, e in state.items() if e["job_id"] != old_jobs[k]} == set(failed)  # only those resubmitted
    assert {f.name: _digest(f) for f in evals.glob("*.pt") if f.name in records} == records  # done ones untouched
    resumed = [k for k in failed if state[k]["summary"]["resumed"]]
    assert resumed, "no resubmitted point resumed from its checkpoint"
    assert not list(models.glob("*.partial.pt"))
    print(f"\n[slurm] kill/rerun: cancelled after {killed_s:.1f} s ({len(done)} done, {len(failed)} killed), "
          f"rerun of the {len(failed)} missing point(s): {rerun_s:.1f} s")

    # the resumed point ends with the record an uninterrupted run gives (same steps, same EF; one thread, like the
    # jobs)
    point = next(p for p in sweep.grid_points(sweep.load_profile(prof)[1]) if p.key == resumed[0])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ref = run_point(point.config, point.spec, tmp_path / "uninterrupted", progress=False)
    finally:
        torch.set_num_threads(threads)
    got = cache.load(point.path(cache_dir))
    assert got["train"]["steps"] == ref["train"]["steps"] and got["train"]["epochs"] == ref["train"]["epochs"]
    for m in ref["ef"]:
        assert torch.equal(got["ef"][m], ref["ef"][m]), m


def test_time_limit_signal_requeues_and_resumes(slurm_cluster, jobs_env, tmp_path):
    """SLURM's time-limit warning (USR2) on a job mid-training: submitit checkpoints the point and requeues the job
    (same id, sacct shows the REQUEUED run), which resumes from the last epoch and completes with every epoch done
    exactly once."""
    notebooks = {"01_spectral_toolkit": {"activations": ["relu"], "seeds": [0]}}
    epochs = 60  # about 6 s a point on a fast day: the signal arrives long before the point could finish
    prof = tiny_profile(tmp_path, "limittest", {}, notebooks, {**SMALL, "max_epochs": epochs})
    cache_dir = tmp_path / "cache"
    t0 = time.perf_counter()
    sweep.submit(prof, cache_dir=cache_dir)
    jid = next(iter(_state(cache_dir, "limittest")["points"].values()))["job_id"]
    _wait_until(lambda: list((cache_dir / "models").glob("*.partial.pt")), 240, "a first epoch checkpoint")
    subprocess.run(["scancel", "--signal=USR2", jid], check=True, timeout=30)
    rows = _settle(prof, cache_dir, timeout=240)
    limit_s = time.perf_counter() - t0
    assert [r["status"] for r in rows] == ["done"], [r["detail"] for r in rows]
    summary = _state(cache_dir, "limittest")["points"][rows[0]["key"]]["summary"]
    assert summary["resumed"] and summary["epochs"] == epochs
    rec = cache.load(Path(rows[0]["cache_dir"]) / "evals" / f"{rows[0]['key']}.pt")
    assert rec["train"]["steps"] == epochs * STEPS_PER_EPOCH  # no epoch lost or done twice
    # the record is written before the job exits; sacct shows the requeued run, then the completed one
    states = _wait_until(lambda: (st := [r["State"] for r in _sacct(jid, "JobID", "State", duplicates=True)])
                         and st[-1] == "COMPLETED" and st, 60, f"sacct to show job {jid} COMPLETED", poll=1.0)
    assert "REQUEUED" in states, states
    print(f"\n[slurm] time-limit signal -> requeue -> resume -> done: {limit_s:.1f} s")


def test_real_time_limit_fails_naming_the_setting(slurm_cluster, jobs_env, tmp_path):
    """A job that really exceeds its time limit (``timeout_min = 1``, no requeue allowed: SLURM itself sends the
    warning, asked for 15 s before the limit by ``settings.signal_delay_s`` so that it comes after start-up, and then
    stops it): the point is failed with a message naming
    ``sweep.slurm.timeout_min``, its epoch checkpoint is kept (a rerun resumes: the test above) and no record is
    written."""
    notebooks = {"01_spectral_toolkit": {"activations": ["relu"], "seeds": [0]}}
    prof = tiny_profile(tmp_path, "realtimeout", {"timeout_min": 1, "max_num_timeout": 0}, notebooks,
                        {**SMALL, "max_epochs": 5000})
    cache_dir = tmp_path / "cache"
    t0 = time.perf_counter()
    rows = sweep.submit(prof, cache_dir=cache_dir, wait=True)
    limit_s = time.perf_counter() - t0
    assert [r["status"] for r in rows] == ["failed"], rows
    assert "time limit" in rows[0]["detail"] or "TIMEOUT" in rows[0]["detail"], rows[0]["detail"]
    assert "sweep.slurm.timeout_min = 1" in _state(cache_dir, "realtimeout")["points"][rows[0]["key"]]["error"]
    assert list((cache_dir / "models").glob("*.partial.pt")) and not list((cache_dir / "evals").glob("*.pt"))
    print(f"\n[slurm] real 1-minute time limit -> failed, naming sweep.slurm.timeout_min: {limit_s:.1f} s")


def test_impossible_requests_fail_at_submission_naming_the_setting(slurm_cluster, jobs_env, tmp_path):
    """More CPUs than the node has, a GPU on a GPU-less node, more memory than it has: sbatch refuses at once and
    the sweep says which sweep.slurm setting; nothing is recorded as submitted and no job is queued."""
    notebooks = {"01_spectral_toolkit": {"activations": ["relu"], "seeds": [0]}}
    mem_gb = slurm_cluster.memory_mb // 1024 + 8
    cases = {"cpus_per_task": ({"cpus_per_task": slurm_cluster.cpus + 1}, "more CPUs per task"),
             "gpus_per_node": ({"gpus_per_node": 1}, "GPUs that no node"),
             "mem_gb": ({"mem_gb": mem_gb}, "more memory than any node")}
    queued = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
    since = time.strftime("%Y-%m-%dT%H:%M:%S")  # sacct's local time, 1 s resolution
    time.sleep(1.1)  # so that a job submitted before this test cannot share its second
    for key, (slurm, why) in cases.items():
        prof = tiny_profile(tmp_path, f"bad_{key}", slurm, notebooks)
        cache_dir = tmp_path / f"cache_{key}"
        t0 = time.perf_counter()
        with pytest.raises(sweep.SweepError, match=rf"sweep\.slurm\.{key} = .*{why}"):
            sweep.submit(prof, cache_dir=cache_dir)
        assert time.perf_counter() - t0 < 60
        state = cache_dir / "sweeps" / f"bad_{key}.json"
        assert not state.exists() or not json.loads(state.read_text())["points"]
        assert not (cache_dir / "models").exists()
    assert sweep.main(["--profile", str(prof), "--cache-dir", str(cache_dir)]) == 2  # the command line: exit 2
    # No job of this test was queued. Compared as sets: a job an earlier test left completing (its epilog or a kill
    # still under way) may leave the queue meanwhile, so the queue may shrink, but it must not grow.
    after = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True).stdout.split()
    assert set(after) <= set(queued), f"jobs queued by refused submissions: {sorted(set(after) - set(queued))}"
    # nor one that ran and left meanwhile: the accounting has no job submitted since the test began
    acct = subprocess.run(["sacct", "-n", "-X", "-P", "-a", "-S", since, "-o", "JobID,Submit"], capture_output=True,
                          text=True, timeout=30)
    assert acct.returncode == 0, acct.stderr
    submitted = [line for line in acct.stdout.splitlines() if line.strip() and line.split("|")[1] >= since]
    assert not submitted, f"jobs submitted by refused submissions: {submitted}"
