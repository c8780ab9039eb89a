"""Crash safety and determinism: real processes killed with SIGKILL mid-training and mid-write, and grid points
recomputed from scratch."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from spectral_lib import cache
from spectral_lib.training import loop as train_mod
from spectral_lib.experiments import EvalSpec, run_point
from spectral_lib.training import TrainConfig, train_or_load

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

# several epochs of a few tenths of a second each on digits
KILL_CFG = TrainConfig(dataset="digits", activation="spc:1", model_options={"width": 8, "fc": 32}, lr=1e-3,
                       batch_size=64, max_epochs=10, accuracy_cap=None)

TRAIN_CHILD = textwrap.dedent("""
    import json, sys
    import torch
    torch.set_num_threads(int(sys.argv[3]))  # the parent's: conv sums are split by thread, so weights depend on it
    from spectral_lib.training import TrainConfig, train_or_load
    cfg = TrainConfig(**json.loads(sys.argv[2]))
    print("KEY", cfg.key(), flush=True)
    train_or_load(cfg, sys.argv[1], progress=False)
    print("DONE", flush=True)
""")


def _wait_for(predicate, proc: subprocess.Popen, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"child exited (rc={proc.returncode}) before {what}:\n{out}\n{err[-3000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.005)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_sigkill_mid_training_then_resume_gives_identical_weights(tmp_path, child_env, monkeypatch):
    cache_dir = tmp_path / "killed"
    script = tmp_path / "child.py"
    script.write_text(TRAIN_CHILD)
    key = KILL_CFG.key()
    models = cache_dir / "models"
    final, partial = models / f"{key}.pt", models / f"{key}.partial.pt"

    proc = subprocess.Popen([sys.executable, str(script), str(cache_dir), json.dumps(dataclasses.asdict(KILL_CFG)),
                             str(torch.get_num_threads())], env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(partial.exists, proc, timeout=240, what="the first partial checkpoint")
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert f"KEY {key}" in out  # the configuration key is the same in another process
    assert "DONE" not in out

    # nothing a later run would take for a finished model; the partial checkpoint is whole and mid-way
    assert not final.exists()
    assert train_mod.checkpoint_path(KILL_CFG, cache_dir) == partial  # the public name of what the killed run left
    state = cache.load(partial)["state"]
    assert 1 <= state["epoch"] < KILL_CFG.max_epochs
    leftovers = {p.name for p in models.iterdir()} - {partial.name}
    assert all(name.startswith(".") and name.endswith(".tmp") for name in leftovers), leftovers

    # the next run resumes from the partial checkpoint (trains only the missing epochs) ...
    epochs_run = []
    real_batches = train_mod._batches

    def counting(dataset, batch_size, shuffle, generator=None):
        if shuffle:
            epochs_run.append(1)
        return real_batches(dataset, batch_size, shuffle, generator)

    monkeypatch.setattr(train_mod, "_batches", counting)
    resumed, res = train_or_load(KILL_CFG, cache_dir, progress=False)
    assert len(epochs_run) == KILL_CFG.max_epochs - state["epoch"]
    assert final.exists() and not partial.exists()
    monkeypatch.setattr(train_mod, "_batches", real_batches)

    # ... and ends with the weights of an uninterrupted run
    reference, ref_res = train_or_load(KILL_CFG, tmp_path / "reference", progress=False)
    assert _same_weights(resumed, reference)
    assert res.history == ref_res.history and res.steps == ref_res.steps and res.epochs == ref_res.epochs


WRITE_CHILD = textwrap.dedent("""
    import os, sys, time
    import torch
    from spectral_lib import cache

    phase, target = sys.argv[1], sys.argv[2]
    real_fdopen = os.fdopen

    class SlowFile:
        # writes the first half of the payload, then stalls: the process is killed in the middle of the write
        def __init__(self, fh):
            self.fh, self.n = fh, 0
        def write(self, data):
            self.n += 1
            if phase == "mid_write" and self.n == 3:
                half = len(data) // 2
                self.fh.write(data[:half]); self.fh.flush()
                print("WRITING", flush=True); time.sleep(120)
            return self.fh.write(data)
        def __getattr__(self, name):
            return getattr(self.fh, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.fh.__exit__(*exc)

    def slow_fdopen(fd, *args, **kwargs):
        return SlowFile(real_fdopen(fd, *args, **kwargs))

    def stalled_fsync(fd):  # everything written and flushed, not yet renamed into place
        print("WRITING", flush=True); time.sleep(120)

    if phase == "mid_write":
        os.fdopen = slow_fdopen
    else:
        os.fsync = stalled_fsync
    cache.save(target, {"version": "new", "w": torch.randn(200_000)})
    print("SAVED", flush=True)
""")


@pytest.mark.parametrize("phase", ["mid_write", "before_rename"])
@pytest.mark.parametrize("existing", [False, True])
def test_sigkill_during_cache_write_leaves_old_file_or_none(phase, existing, tmp_path, child_env):
    target = tmp_path / "entry.pt"
    if existing:
        cache.save(target, {"version": "old", "w": torch.arange(3)})
    script = tmp_path / "writer.py"
    script.write_text(WRITE_CHILD)
    proc = subprocess.Popen([sys.executable, str(script), phase, str(target)], env=child_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        t0 = time.monotonic()
        while "WRITING" not in line:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"writer exited early: {proc.stderr.read()[-3000:]}")
            assert time.monotonic() - t0 < 120, "writer never reached the write"
        tmp_files = [p for p in tmp_path.iterdir() if p.name.startswith(".entry.pt.")]
        assert tmp_files and tmp_files[0].stat().st_size > 0  # the kill does land during a real write
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    if existing:
        back = cache.load(target)  # the old file, intact
        assert back["version"] == "old" and torch.equal(back["w"], torch.arange(3))
    else:
        assert not target.exists()
        with pytest.raises(FileNotFoundError):
            cache.load(target)
    # a leftover temporary file is never read as an entry; memoize-style readers see old-or-nothing
    for p in tmp_path.iterdir():
        if p.name.startswith(".entry.pt."):
            assert p.suffix == ".tmp"


TINY = TrainConfig(dataset="digits", activation="spc:1", model_options={"width": 4, "fc": 16}, lr=2e-3, batch_size=64,
                   max_epochs=1, accuracy_cap=None)
TINY_SPEC = EvalSpec(n_images=8, methods=("vanilla_grad", "smooth_grad", "integrated_gradients", "grad_cam"),
                     n_samples=4, ig_steps=4, n_examples=2)


def test_run_point_is_deterministic_across_fresh_caches(tmp_path, monkeypatch):
    a = run_point(TINY, TINY_SPEC, tmp_path / "a", progress=False)
    b = run_point(TINY, TINY_SPEC, tmp_path / "b", progress=False)
    for field in ("ef", "ef_nyquist", "gap_ef", "gap_l2", "profile"):
        assert a[field].keys() == b[field].keys() == set(TINY_SPEC.methods)
        for m in a[field]:
            assert torch.equal(a[field][m], b[field][m]), (field, m)
    for m in TINY_SPEC.methods:
        assert a["ef"][m].shape == (8,) and bool(torch.isfinite(a["ef"][m]).all())
        assert bool(torch.isfinite(a["ef_nyquist"][m]).all())
    # VanillaGrad is the reference: its own gap is exactly zero
    assert bool((a["gap_ef"]["vanilla_grad"] == 0).all()) and bool((a["gap_l2"]["vanilla_grad"] == 0).all())
    assert a["train"] == b["train"] | {"seconds": a["train"]["seconds"]}
    # a third call in the same cache reads the record back without training or explaining anything
    monkeypatch.setattr(train_mod, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    c = run_point(TINY, TINY_SPEC, tmp_path / "a", progress=False)
    assert all(torch.equal(c["ef"][m], a["ef"][m]) for m in a["ef"])
