"""The sweep runner: a tiny grid run in this process (`local`) and through submitit's LocalExecutor (real
subprocesses) gives identical records; a second submission skips everything; status reports all done; a point whose
record is gone is resubmitted alone (here through the `slurm` executor and a fake SLURM) without retraining; bad
input fails before anything is submitted.

The profile and the notebook source are written into a temporary folder, so the test does not depend on the
repository's profiles or notebooks.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
import yaml

submitit = pytest.importorskip("submitit")

from spectral_lib import cache, experiments, sweep  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOK = '''# %% [markdown]
# # A grid notebook for the sweep test

# %% tags=["parameters"]
profile = "quick"
cache_dir = None
dataset = "mnist5k"
model = "simple_cnn"
model_options = {"width": 4, "fc": 32}  # a narrow simple CNN: the test is about plumbing, not accuracy
activations = ["relu", "spc:1"]
seeds = [0]
accuracy_cap = 0.5
max_epochs = 2
n_images = 8
methods = ["vanilla_grad", "smooth_grad"]
n_samples = 4

# %%
print(profile)
'''

# A stand-in for SLURM: sbatch runs the (array) script's tasks in the background, one after another, with the
# environment variables submitit reads; sacct reports the states it wrote.
FAKE_SLURM = {
    "sbatch": r"""#!/bin/bash
st="$FAKE_SLURM_STATE"; mkdir -p "$st"
jid=$(( $(cat "$st/next" 2>/dev/null || echo 100) + 1 )); echo $jid > "$st/next"
arr=$(sed -n 's/^#SBATCH --array=\([0-9]*\)-\([0-9]*\).*/\1 \2/p' "$1")
if [ -n "$arr" ]; then ids=$(seq $arr | sed "s/^/${jid}_/"); else ids=$jid; fi
for id in $ids; do echo PENDING > "$st/$id"; done
( sleep 1; for id in $ids; do
    if [ "$id" != "$jid" ]; then export SLURM_ARRAY_JOB_ID=$jid SLURM_ARRAY_TASK_ID=${id#*_}; fi
    echo RUNNING > "$st/$id"
    if FAKE_ID=$id SLURM_JOB_ID=$jid SLURM_NTASKS=1 SLURM_JOB_NUM_NODES=1 SLURM_NODEID=0 SLURM_PROCID=0 \
       SLURM_LOCALID=0 SLURM_JOB_NODELIST=localhost bash "$1"; then echo COMPLETED > "$st/$id"
    else echo FAILED > "$st/$id"; fi
  done ) >/dev/null 2>&1 &
echo "Submitted batch job $jid"
""",
    "srun": r"""#!/bin/bash
out=""; err=""
while [[ "$1" == --* ]]; do
  case "$1" in --output) out="$2"; shift 2;; --error) err="$2"; shift 2;; *) shift;; esac
done
out=${out//%j/$FAKE_ID}; out=${out//%t/0}; err=${err//%j/$FAKE_ID}; err=${err//%t/0}
mkdir -p "$(dirname "$out")"
exec "$@" >>"$out" 2>>"${err:-$out}"
""",
    "sacct": r"""#!/bin/bash
echo "JobID|State|NodeList"
while [ $# -gt 0 ]; do
  if [ "$1" == "-j" ]; then for f in "$FAKE_SLURM_STATE/$2" "$FAKE_SLURM_STATE/$2"_*; do
    [ -f "$f" ] && echo "$(basename "$f")|$(cat "$f")|localhost"; done; fi
  shift
done
exit 0
""",
    "scancel": "#!/bin/bash\nexit 0\n",
}

PROFILE = {
    "defaults": {"profile": "sweeptest", "max_epochs": 2},
    "notebooks": {
        "zz_grid": {},
        "zz_shared": {"activations": ["relu"]},  # same model and evaluation as zz_grid's relu point
        "zz_other": None,  # not a grid notebook: ignored
    },
    "sweep": {"executor": "local", "submitit-local": {"parallel": 2, "timeout_min": 10}},
}


@pytest.fixture
def setup(tmp_path, monkeypatch):
    nb = tmp_path / "notebooks"
    nb.mkdir()
    (nb / "zz_grid.py").write_text(NOTEBOOK)
    (nb / "zz_shared.py").write_text(NOTEBOOK)
    (nb / "zz_other.py").write_text('# %% tags=["parameters"]\nprofile = "quick"\nbetas = [1.0]\n')
    prof = tmp_path / "sweeptest.yaml"
    prof.write_text(yaml.safe_dump(PROFILE))
    # subprocesses: 1 thread each, the same dataset cache, this checkout importable
    monkeypatch.setenv("SPECTRAL_LIB_CACHE", str(tmp_path / "lib"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the in-process run uses the same thread count as the subprocesses
    yield tmp_path, prof, nb
    torch.set_num_threads(threads)


def _fail_submit(*args, **kwargs):
    raise AssertionError("nothing should have been submitted")


def test_bad_input_fails_before_submitting(setup, monkeypatch, capsys):
    tmp, prof, nb = setup
    cache_dir = tmp / "bad"
    monkeypatch.setattr(submitit.LocalExecutor, "submit", _fail_submit)
    with pytest.raises(sweep.SweepError, match="unknown executor 'bogus'"):
        sweep.submit(prof, executor="bogus", cache_dir=cache_dir, notebooks_dir=nb)
    assert sweep.main(["--profile", str(prof), "--executor", "bogus", "--cache-dir", str(cache_dir),
                       "--notebooks-dir", str(nb)]) == 2
    assert "unknown executor" in capsys.readouterr().err

    def write(name, **changes):
        p = tmp / f"{name}.yaml"
        p.write_text(yaml.safe_dump({**PROFILE, **changes}))
        return p

    cases = {
        "unknown executor 'pbs'": write("ex", sweep={"executor": "pbs"}),
        "unknown key": write("key", sweep={"executer": "local"}),
        "mem_gb must be a positive number": write("mem", sweep={"slurm": {"mem_gb": -1}}),
        r"zz_grid: parameter 'activations\[1\]'": write("act", notebooks={"zz_grid": {"activations": ["relu",
                                                                                                         "nope"]}}),
        r"zz_grid: unknown parameter\(s\) \['lr_typo'\]": write("typo", notebooks={"zz_grid": {"lr_typo": 1}}),
        "a profile is a mapping": write("top", extra=1),
    }
    for message, path in cases.items():
        with pytest.raises(sweep.SweepError, match=message):
            sweep.submit(path, executor="submitit-local", cache_dir=cache_dir, notebooks_dir=nb)
    with pytest.raises(sweep.SweepError, match="unknown profile"):
        sweep.submit(tmp / "absent.yaml", cache_dir=cache_dir, notebooks_dir=nb)
    assert not cache_dir.exists()  # no state file, no job folder, nothing trained


def test_submitit_local_matches_in_process(setup, monkeypatch, capsys):
    tmp, prof, nb = setup
    local_dir, sub_dir = tmp / "cache_local", tmp / "cache_submitit"

    rows = sweep.submit(prof, dry_run=True, cache_dir=sub_dir, notebooks_dir=nb)
    assert [(r["activation"], r["status"], r["action"]) for r in rows] == [("relu", "missing", "submit"),
                                                                          ("spc:1", "missing", "submit")]
    assert rows[0]["notebooks"] == ["zz_grid", "zz_shared"]  # deduplicated: one job for both notebooks
    assert not sub_dir.exists()  # a dry run writes nothing

    local = sweep.submit(prof, executor="local", cache_dir=local_dir, notebooks_dir=nb)
    assert [r["status"] for r in local] == ["done", "done"]

    sub = sweep.submit(prof, executor="submitit-local", cache_dir=sub_dir, notebooks_dir=nb)
    assert [r["status"] for r in sub] == ["done", "done"], [r["detail"] for r in sub]
    state = json.loads((sub_dir / "sweeps" / "sweeptest.json").read_text())
    job_ids = {k: e["job_id"] for k, e in state["points"].items()}
    assert len(set(job_ids.values())) == 2 and all(e["executor"] == "submitit-local" for e in state["points"].values())
    assert all(str(os.getpid()) != j for j in job_ids.values())  # real subprocesses

    # identical results: the same cache keys, and equal EF tensors
    points = sweep.grid_points(sweep.load_profile(prof)[1], notebooks_dir=nb)
    for p in points:
        a, b = cache.load(p.path(local_dir)), cache.load(p.path(sub_dir))
        for m in ("vanilla_grad", "smooth_grad"):
            assert torch.equal(a["ef"][m], b["ef"][m]), m
            assert torch.equal(a["ef_nyquist"][m], b["ef_nyquist"][m]), m
        assert a["train"]["steps"] == b["train"]["steps"]
    assert [r["summary"]["ef"] for r in local] == [r["summary"]["ef"] for r in sub]

    # the notebooks' own points are the cached ones: nothing missing in either cache
    pts = [(p.config, p.spec) for p in points]
    assert experiments.missing_points(pts, sub_dir) == [] and experiments.missing_points(pts, local_dir) == []
    assert experiments.missing_points(pts, tmp / "empty") == pts

    # a second submission skips everything
    monkeypatch.setattr(submitit.LocalExecutor, "submit", _fail_submit)
    again = sweep.submit(prof, executor="submitit-local", cache_dir=sub_dir, notebooks_dir=nb)
    assert [r["status"] for r in again] == ["done", "done"]
    state2 = json.loads((sub_dir / "sweeps" / "sweeptest.json").read_text())
    assert {k: e["job_id"] for k, e in state2["points"].items()} == job_ids

    # status: all done (API and command line)
    assert [r["status"] for r in sweep.status(prof, cache_dir=sub_dir, notebooks_dir=nb)] == ["done", "done"]
    capsys.readouterr()
    assert sweep.main(["--profile", str(prof), "--status", "--cache-dir", str(sub_dir), "--notebooks-dir",
                       str(nb)]) == 0
    out = capsys.readouterr().out
    assert "2 point(s): 2 done, 0 running, 0 failed, 0 missing" in out

    # a record removed from the cache (e.g. a failed/pre-empted point) is resubmitted, and only that one
    p0 = points[1]
    p0.path(sub_dir).unlink()
    assert [r["status"] for r in sweep.status(prof, cache_dir=sub_dir, notebooks_dir=nb)] == ["done", "missing"]
    rows = sweep.submit(prof, dry_run=True, cache_dir=sub_dir, notebooks_dir=nb)
    assert [r["action"] for r in rows] == ["skip", "submit"]

    # ... here through the slurm executor, against a fake SLURM (sbatch/srun/sacct scripts): the job reuses the
    # cached network (not retrained) and writes the same record again
    if not shutil.which("bash"):
        return
    models = {f.name: f.stat().st_mtime_ns for f in (sub_dir / "models").iterdir()}
    bin_dir = tmp / "fakeslurm"
    bin_dir.mkdir()
    for name, text in FAKE_SLURM.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_STATE", str(tmp / "fakeslurm_state"))
    rows = sweep.submit(prof, executor="slurm", cache_dir=sub_dir, notebooks_dir=nb, wait=True)
    assert [r["status"] for r in rows] == ["done", "done"], [r["detail"] for r in rows]
    state3 = json.loads((sub_dir / "sweeps" / "sweeptest.json").read_text())
    assert state3["points"][p0.key]["executor"] == "slurm" and state3["points"][p0.key]["job_id"] == "101"
    assert {f.name: f.stat().st_mtime_ns for f in (sub_dir / "models").iterdir()} == models
    assert torch.equal(cache.load(p0.path(sub_dir))["ef"]["smooth_grad"],
                       cache.load(p0.path(local_dir))["ef"]["smooth_grad"])


# ------------------------------------------------------------------------------------ what real SLURM revealed
def test_sbatch_refusals_name_the_setting():
    """sbatch's messages for impossible requests (as SLURM 22.05 prints them, see tests/test_slurm.py for the real
    scheduler) become one-line SweepErrors naming the sweep.slurm key and its value."""
    from spectral_lib.sweep.settings import sbatch_error

    cpu = "sbatch: error: Batch job submission failed: More processors requested than permitted"
    gpu = "sbatch: error: Invalid generic resource (gres) specification"
    mem = ("sbatch: error: Memory specification can not be satisfied\n"
           "sbatch: error: Batch job submission failed: Requested node configuration is not available")
    e = sbatch_error(cpu, {"cpus_per_task": 3})
    assert isinstance(e, sweep.SweepError) and "sweep.slurm.cpus_per_task = 3" in str(e) and "More processors" in str(e)
    assert "sweep.slurm.gpus_per_node = 1" in str(sbatch_error(gpu, {"gpus_per_node": 1}))
    assert "sweep.slurm.gres = 'gpu:2'" in str(sbatch_error(gpu, {"gres": "gpu:2"}))
    assert "sweep.slurm.mem_gb = 64" in str(sbatch_error(mem, {"mem_gb": 64}))
    other = sbatch_error("sbatch: error: something new", {"qos": "x"})
    assert "something new" in str(other) and "check the profile's sweep.slurm" in str(other)


def test_own_slurm_keys_are_checked_and_not_passed_to_submitit():
    from spectral_lib.sweep.executors import tasks
    from spectral_lib.sweep.job import job_threads

    s = sweep.sweep_settings({"sweep": {"slurm": {"points_per_task": 3, "max_num_timeout": 0, "cpus_per_task": 2}}})
    params = sweep.slurm_parameters(s["slurm"], "p")
    assert "points_per_task" not in params and "max_num_timeout" not in params and params["cpus_per_task"] == 2
    for bad in ({"points_per_task": 0}, {"max_num_timeout": -1}, {"points_per_task": True}):
        with pytest.raises(sweep.SweepError, match=f"sweep.slurm.{next(iter(bad))}"):
            sweep.sweep_settings({"sweep": {"slurm": bad}})
    assert [len(g) for g in tasks(list(range(7)), 3)] == [3, 3, 1]
    # inside a SLURM job: the CPUs allocated, fewer if the inherited OMP_NUM_THREADS asks for fewer
    assert job_threads({"SLURM_CPUS_PER_TASK": "4"}) == 4
    assert job_threads({"SLURM_CPUS_PER_TASK": "4", "OMP_NUM_THREADS": "2"}) == 2
    assert job_threads({"SLURM_CPUS_PER_TASK": "1", "OMP_NUM_THREADS": "2"}) == 1
    assert job_threads({"OMP_NUM_THREADS": "2"}) is None


def test_job_outcomes_of_grouped_and_timed_out_jobs(tmp_path, monkeypatch):
    """A task that ran several points reports each one; a task stopped by its time limit (submitit's time-out
    handler, or SLURM's TIMEOUT state) says so and names sweep.slurm.timeout_min."""
    from submitit.core import utils

    from spectral_lib.sweep.state import job_outcome, point_result

    ok = {"key": "a", "seconds": 1.0}
    group = {"points": {"a": ok, "b": {"key": "b", "error": "RuntimeError: boom"}}}
    assert point_result(group, "a") == ("finished", ok)
    assert point_result(group, "b") == ("failed", "RuntimeError: boom")
    assert point_result(group, "c")[0] == "failed" and point_result(ok, "a") == ("finished", ok)

    folder = tmp_path / "jobs"

    def entry(jid, outcome=None):
        if outcome is not None:
            path = utils.JobPaths(folder, job_id=jid, task_id=0).result_pickle
            path.parent.mkdir(parents=True, exist_ok=True)
            utils.cloudpickle_dump(outcome, path)
        return {"job_id": jid, "job_folder": str(folder), "executor": "slurm", "timeout_min": 10}

    assert job_outcome(entry("5_0", ("success", group)), "a") == ("finished", ok)
    timed_out = ("error", "Traceback ...\nsubmitit.core.utils.UncompletedJobError: Job not requeued because: "
                          "timed-out too many times.\n")
    status, detail = job_outcome(entry("5_1", timed_out), "a")
    assert status == "failed" and "time limit" in detail and "sweep.slurm.timeout_min = 10" in detail
    # SLURM's own TIMEOUT, through a stand-in sacct
    bin_dir, st = tmp_path / "bin", tmp_path / "st"
    bin_dir.mkdir(), st.mkdir()
    (bin_dir / "sacct").write_text(FAKE_SLURM["sacct"])
    (bin_dir / "sacct").chmod(0o755)
    (st / "7").write_text("TIMEOUT\n")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_STATE", str(st))
    status, detail = job_outcome(entry("7"), "a")
    assert status == "failed" and "TIMEOUT" in detail and "sweep.slurm.timeout_min = 10" in detail
    # killed by the warning signal itself, before submitit's handler was installed: FAILED, srun's report in the log
    (st / "8").write_text("FAILED\n")
    err = utils.JobPaths(folder, job_id="8", task_id=0).stderr
    err.parent.mkdir(parents=True, exist_ok=True)
    err.write_text("srun: error: localhost: task 0: Bus error\n")
    status, detail = job_outcome(entry("8"), "a")
    assert status == "failed" and "time limit" not in detail and "FAILED without a result" in detail
    err.write_text("srun: error: localhost: task 0: User defined signal 2\n")
    status, detail = job_outcome(entry("8"), "a")
    assert status == "failed" and "USR2" in detail and "sweep.slurm.timeout_min = 10" in detail


def test_short_time_limits_get_a_warning_signal_after_start_up():
    """submitit's 90 s warning (USR2) with a 1-minute limit is due before the job has started (slurmctld sends it at
    a check up to 30 s early): the sweep asks for (limit - 30 s) / 2 under 3.5 minutes, never below 5 s, submitit's
    90 s from there on, and keeps a signal_delay_s the profile sets."""
    from spectral_lib.sweep.settings import SLURM_CHECK_S, signal_delay_s

    for minutes in (1, 2, 3, 4, 240):
        d = signal_delay_s(minutes)
        assert 5 <= d <= 90 and 60 * minutes - d - SLURM_CHECK_S >= min(d, 15), (minutes, d)
    assert [signal_delay_s(m) for m in (1, 2, 3, 4, 240)] == [15, 45, 75, 90, 90]
    assert sweep.slurm_parameters({"timeout_min": 1}, "p")["signal_delay_s"] == 15
    assert sweep.slurm_parameters({"timeout_min": 240}, "p")["signal_delay_s"] == 90
    assert sweep.slurm_parameters({"timeout_min": 1, "signal_delay_s": 20}, "p")["signal_delay_s"] == 20
    assert "signal_delay_s" not in sweep.slurm_parameters({"cpus_per_task": 1}, "p")  # no limit: submitit's default
