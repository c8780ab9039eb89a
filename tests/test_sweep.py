"""The sweep runner: a tiny grid run in this process (`local`) and through submitit's LocalExecutor (real
subprocesses) gives identical records; a second submission skips everything; status reports all done; bad input
fails before anything is submitted.

The profile and the notebook source are written into a temporary folder, so the test does not depend on the
repository's profiles or notebooks.
"""
from __future__ import annotations

import json
import os
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
eval_every = 4
n_images = 8
methods = ["vanilla_grad", "smooth_grad"]
n_samples = 4

# %%
print(profile)
'''

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
