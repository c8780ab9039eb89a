"""Training with the accuracy cap, the checksummed cache, resumption, and configuration keys."""
from __future__ import annotations

import dataclasses
from dataclasses import asdict, replace
import math
import subprocess
import sys

import pytest
import torch

from spectral_lib import cache
from spectral_lib.training import loop as train_mod
from spectral_lib.training import TrainConfig, TrainResult, train, train_or_load

# a few seconds on 2 cores: digits are 8x8 and the network is tiny
DIGITS = TrainConfig(dataset="digits", activation="spc:1", model_options={"width": 8, "fc": 32}, lr=2e-3,
                     batch_size=64, max_epochs=3, accuracy_cap=None)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_training_reaches_the_cap_and_stops_there(mnist5k):
    cfg = TrainConfig(model_options={"width": 8, "fc": 64}, lr=5e-3, batch_size=128, eval_every=8, max_epochs=3,
                      accuracy_cap=0.8, cap_rule="steps")
    model, res = train(cfg, mnist5k, progress=False)
    assert res.cap_reached
    assert not model.training
    accs = [h[2] for h in res.history]
    assert accs[-1] >= 0.8 and all(a < 0.8 for a in accs[:-1])  # stopped at the first check over the cap
    assert res.test_accuracy == accs[-1]  # the returned network is the one that passed the check
    steps_per_epoch = math.ceil(4000 / 128)
    assert res.epochs == pytest.approx(res.steps / steps_per_epoch) and res.epochs < cfg.max_epochs
    assert [h[0] for h in res.history] == list(range(8, res.steps + 1, 8))  # checked every eval_every steps
    assert res.seconds > 0 and 0 < res.train_accuracy <= 1


def test_training_without_cap_runs_every_epoch():
    model, res = train(DIGITS, progress=False)
    assert not res.cap_reached and res.epochs == 3.0
    n_train = len(train_mod.load("digits").train)
    assert res.steps == 3 * math.ceil(n_train / 64)
    assert [h[1] for h in res.history] == [1.0, 2.0, 3.0]
    assert res.test_accuracy > 0.3  # it learned something (10 classes: chance is 0.1)


def test_train_is_deterministic_for_a_seed():
    m1, r1 = train(dataclasses.replace(DIGITS, max_epochs=1), progress=False)
    m2, r2 = train(dataclasses.replace(DIGITS, max_epochs=1), progress=False)
    m3, _ = train(dataclasses.replace(DIGITS, max_epochs=1, seed=1), progress=False)
    assert _same_weights(m1, m2) and r1.history == r2.history
    assert not _same_weights(m1, m3)


def test_cache_hit_returns_identical_weights_without_training(tmp_path, monkeypatch):
    model, res = train_or_load(DIGITS, tmp_path, progress=False)
    path = tmp_path / "models" / f"{DIGITS.key()}.pt"
    assert path.exists() and not path.with_name(path.stem + ".partial.pt").exists()

    def no_training(*a, **k):
        raise AssertionError("a cache hit must not train")

    monkeypatch.setattr(train_mod, "train", no_training)
    again, res2 = train_or_load(DIGITS, tmp_path, progress=False)
    assert _same_weights(model, again) and not again.training
    assert dataclasses.asdict(res2) == dataclasses.asdict(res)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_truncated_cache_file_is_detected_and_retrained(tmp_path):
    model, _ = train_or_load(DIGITS, tmp_path, progress=False)
    path = tmp_path / "models" / f"{DIGITS.key()}.pt"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(cache.CorruptCacheError):
        cache.load(path)
    with pytest.warns(UserWarning, match="retraining"):
        again, _ = train_or_load(DIGITS, tmp_path, progress=False)
    assert _same_weights(model, again)  # retrained (same seed: same weights)
    assert cache.load(path)["result"]["epochs"] == 3.0  # and a valid file written back


def test_cache_file_format_detects_damage(tmp_path):
    path = tmp_path / "x.pt"
    obj = {"a": torch.arange(5.0), "b": [1, 2.5, "s"], "c": {"d": None}}
    cache.save(path, obj)
    back = cache.load(path)
    assert torch.equal(back["a"], obj["a"]) and back["b"] == obj["b"] and back["c"] == obj["c"]
    data = path.read_bytes()
    for damaged in (data[:-1], data[:20], b"", b"not ours at all" * 10, data[:50] + bytes([data[50] ^ 1]) + data[51:],
                    data + b"x"):
        path.write_bytes(damaged)
        with pytest.raises(cache.CorruptCacheError):
            cache.load(path)
    with pytest.raises(FileNotFoundError):
        cache.load(tmp_path / "absent.pt")


def test_memoize_recomputes_a_corrupt_entry(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"v": torch.tensor([len(calls)])}

    first = cache.memoize(tmp_path, "ns", {"k": 1}, compute)
    assert cache.memoize(tmp_path, "ns", {"k": 1}, compute)["v"].item() == first["v"].item() == 1
    assert len(calls) == 1
    (entry,) = (tmp_path / "ns").glob("*.pt")
    entry.write_bytes(entry.read_bytes()[:-10])
    with pytest.warns(UserWarning, match="recomputing"):
        assert cache.memoize(tmp_path, "ns", {"k": 1}, compute)["v"].item() == 2
    assert cache.memoize(None, "ns", {"k": 1}, compute)["v"].item() == 3  # no cache dir: always computes


def test_config_key_stable_and_sensitive_to_every_field(monkeypatch):
    base = TrainConfig()
    assert base.key() == TrainConfig().key()
    assert cache.config_key(base) == cache.config_key(dataclasses.replace(base))
    changed = {
        "dataset": "digits", "model": "skip_bn_cnn", "activation": "sp:1", "model_options": {"width": 8}, "seed": 1,
        "lr": 2e-3, "lr_gamma": 0.99, "batch_size": 128, "max_epochs": 21, "accuracy_cap": 0.8, "cap_split": "train",
        "eval_every": 10, "lr_decay_per": "step", "cap_rule": "steps", "cap_min_epoch": 3, "weight_decay": 1e-4,
        "pixel_permutation": 0, "input_smoothing_sigma": 1.0, "penalty_strength": 0.1, "penalty_kind": "ef",
        "penalty_cutoff": 0.3, "penalty_subsample": 8, "train_noise_std": 0.1, "train_blur_sigma": 0.5, "image_size": 32,
        "augment": True, "device": "cpu" if base.device != "cpu" else "auto", "n_train": 1000,
    }
    assert set(changed) == {f.name for f in dataclasses.fields(TrainConfig)}
    keys = {base.key()}
    for name, value in changed.items():
        extra = {"cap_rule": "steps"} if name == "eval_every" else {}  # eval_every belongs to the "steps" rule
        cfg = dataclasses.replace(base, **{name: value}, **extra).validate()
        if name == "device":  # the key resolves "auto" to this machine's device
            assert (cfg.key() == base.key()) == (train_mod.resolve_device("auto").type == "cpu")
            continue
        keys.add(cfg.key())
    assert len(keys) == len(changed)  # every other change gave a new key
    assert TrainConfig(accuracy_cap=None).key() != base.key()
    # plain-data canonical form: dict order does not matter, int vs float does
    assert cache.config_key({"a": 1, "b": [1, 2]}) == cache.config_key({"b": [1, 2], "a": 1})
    assert cache.config_key({"a": 1}) != cache.config_key({"a": 1.0})
    assert cache.config_key({"a": (1, 2)}) == cache.config_key({"a": [1, 2]})
    with pytest.raises(TypeError, match="plain data"):
        cache.config_key({"a": object()})
    # the library version of cached computations is part of the key
    before = cache.config_key({"a": 1})
    monkeypatch.setattr(cache, "CACHE_VERSION", cache.CACHE_VERSION + 1)
    assert cache.config_key({"a": 1}) != before


def test_config_key_is_the_same_in_another_process(child_env):
    code = ("from spectral_lib.training import TrainConfig; "
            "print(TrainConfig(dataset='digits', activation='spc:0.5', model_options={'width': 8, 'fc': 32}).key())")
    out = subprocess.run([sys.executable, "-c", code], env=child_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    here = TrainConfig(dataset="digits", activation="spc:0.5", model_options={"fc": 32, "width": 8}).key()
    assert out.stdout.strip() == here


def test_interrupted_training_resumes_to_identical_weights(tmp_path, monkeypatch):
    """An exception in the middle of epoch 3 leaves the epoch-2 checkpoint; the rerun ends where an uninterrupted
    run ends (same weights, same history), having trained only the missing epochs."""
    cfg = dataclasses.replace(DIGITS, max_epochs=4)
    ref_model, ref = train(cfg, progress=False)

    ckpt = tmp_path / "state.pt"
    real_perturb = train_mod._perturb
    seen = {"steps": 0}

    def failing_perturb(x, c, g):
        seen["steps"] += 1
        if seen["steps"] == 2 * math.ceil(len(train_mod.load("digits").train) / 64) + 3:
            raise KeyboardInterrupt  # like a Ctrl-C mid-epoch
        return real_perturb(x, c, g)

    monkeypatch.setattr(train_mod, "_perturb", failing_perturb)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, checkpoint_path=ckpt, progress=False)
    state = cache.load(ckpt)["state"]
    assert state["epoch"] == 2
    monkeypatch.setattr(train_mod, "_perturb", real_perturb)
    epochs_run = []
    real_batches = train_mod._batches

    def counting(dataset, batch_size, shuffle, generator=None):
        if shuffle:
            epochs_run.append(1)
        return real_batches(dataset, batch_size, shuffle, generator)

    monkeypatch.setattr(train_mod, "_batches", counting)
    model, res = train(cfg, checkpoint_path=ckpt, progress=False)
    assert len(epochs_run) == 2
    assert _same_weights(model, ref_model)
    assert res.history == ref.history and res.steps == ref.steps and res.epochs == ref.epochs


def test_corrupt_partial_checkpoint_restarts_from_scratch(tmp_path):
    cfg = dataclasses.replace(DIGITS, max_epochs=1)
    ckpt = tmp_path / "state.pt"
    ckpt.write_bytes(b"garbage")
    model, res = train(cfg, checkpoint_path=ckpt, progress=False)
    ref, _ = train(cfg, progress=False)
    assert _same_weights(model, ref) and res.epochs == 1.0


def test_train_result_roundtrip():
    r = TrainResult(cap_reached=True, epochs=1.5, steps=3, test_accuracy=0.9, train_accuracy=0.95, seconds=1.0,
                    history=[(1, 0.5, 0.5)])
    assert TrainResult(**r.as_dict()) == r


# Keys computed by the code before the layout refactor (flat modules spectral_lib.train / spectral_lib.experiments):
# networks and evaluations cached then must be found now. A change here invalidates every user's cache.
PINNED_KEYS = [
    (dict(device="cpu"), "ea911105bcd7d985cc5c"),
    (dict(activation="sp:0.3", seed=2, model_options={"depth": 2}, device="cpu"), "5feb6c556fb0f6f7a6ec"),
    (dict(activation="relu", pixel_permutation=0, model_options={"depth": 2}, device="cpu"), "e9f50fe1a30675a3b9b2"),
    (dict(activation="relu", penalty_strength=3.0, model_options={"depth": 2}, device="cpu"), "6d5f7bb39f7704892848"),
]


@pytest.mark.parametrize("fields,key", PINNED_KEYS)
def test_network_cache_keys_are_pinned(fields, key):
    assert TrainConfig(**fields).key() == key


def test_evaluation_cache_keys_are_pinned():
    from spectral_lib.experiments import EvalSpec, point_key

    # Record version 4 (tie fraction, tie-broken EF and the gradient-form gap in every record) was a deliberate bump:
    # it recomputes evaluations, not networks (the network keys above did not change). Version 3's keys were
    # 8e35515f5f485c3ae3cb and 0b5af709b46e8625be28.
    sp = TrainConfig(**PINNED_KEYS[1][0])
    assert cache.config_key(point_key(sp, EvalSpec(methods=("vanilla_grad", "smooth_grad")))) == "64a9d180f3b5d1292aa2"
    spec = EvalSpec(n_images=100, methods=("vanilla_grad", "lowpass_grad:0.25"))
    assert cache.config_key(point_key(TrainConfig(device="cpu"), spec)) == "308efb568419fa27031a"
    # theorem1_points (added later) is in the key only when Theorem 1 is computed with other than 512 points
    t1 = EvalSpec(n_images=32, methods=("vanilla_grad",), theorem1=True)
    # theorem1_version 3 (2: the line floor mass; 3: float64 where float32 does not resolve the tail, the window's
    # leakage in the floor): only records with Theorem 1 are recomputed
    assert point_key(sp, t1)["eval"] == {**{k: v for k, v in asdict(t1).items() if k != "theorem1_points"},
                                         "theorem1_version": 3}
    assert point_key(sp, replace(t1, theorem1_points=16)) != point_key(sp, t1)
    assert point_key(sp, replace(spec, theorem1_points=16)) == point_key(sp, spec)  # no Theorem 1: no effect
    with pytest.raises(ValueError, match="theorem1_points"):
        replace(t1, theorem1_points=4).validate()


def _memoize_must_not_compute(cache_dir: str, out: str) -> None:
    """Run in a second process: memoize an entry that the first process is computing (never computes it itself)."""
    from pathlib import Path as _P

    from spectral_lib import cache as _cache

    def compute():
        raise AssertionError("computed twice")

    _P(out).write_text(repr(_cache.memoize(cache_dir, "ns", {"k": 1}, compute)))


def test_a_second_process_waits_for_the_entry_being_computed(tmp_path):
    """While one process computes an entry (holding its lock), another asking for it blocks, then reads it."""
    import multiprocessing as mp
    import time

    from spectral_lib import cache as _cache

    path = tmp_path / "ns" / f"{_cache.config_key({'k': 1})}.pt"
    out = tmp_path / "out.txt"
    with _cache.computing(path):
        p = mp.get_context("spawn").Process(target=_memoize_must_not_compute, args=(str(tmp_path), str(out)))
        p.start()
        time.sleep(3.0)
        assert p.is_alive() and not out.exists()  # blocked on the lock, not computing
        _cache.save(path, {"value": 42})
    p.join(60)
    assert p.exitcode == 0 and out.read_text() == "{'value': 42}"


def test_theorem1_points_reach_the_line_spectra(tmp_path):
    """A record's Theorem 1 numbers are theorem1_summary's with the spec's points per line (16 here, 512 by
    default): the same network and images give the record's numbers only with the same n_points."""
    from spectral_lib.experiments import EvalSpec, run_point
    from spectral_lib.experiments.points import point_inputs
    from spectral_lib.nn import fast_execution
    from spectral_lib.theory import theorem1_summary

    config = TrainConfig(dataset="digits", model_options={"width": 4, "fc": 16}, batch_size=64, max_epochs=1,
                         accuracy_cap=None, device="cpu")
    spec = EvalSpec(n_images=4, methods=("vanilla_grad",), theorem1=True, theorem1_points=16)
    rec = run_point(config, spec, tmp_path, progress=False)
    inp = point_inputs(config, spec, tmp_path)
    with fast_execution(inp["model"], inp["x"].device):  # as run_point computes it
        assert rec["theorem1"] == pytest.approx(theorem1_summary(inp["model"], inp["x"], n_points=16,
                                                                 batch_size=2048))
    assert rec["theorem1"]["line_tail_mass"] != pytest.approx(
        theorem1_summary(inp["model"], inp["x"], n_points=64)["line_tail_mass"])
