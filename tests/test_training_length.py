"""Training-length controls: the per-epoch callback cannot change training, capped networks are prefixes of
uncapped runs (stored on the way, identical to training them directly), trajectories hold the capped network's EF,
the control table, and every verdict branch on hand-made rows."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd  # noqa: F401 (hand-made tables below)
import pytest
import torch

from spectral_lib import cache
from spectral_lib.checks import ParameterError
from spectral_lib.experiments import EvalSpec, run_point
from spectral_lib.experiments import training_length as tl
from spectral_lib.explain import explain, predict
from spectral_lib.spectral import expected_frequency, to_map
from spectral_lib.training import TrainConfig, train, train_or_load
from spectral_lib.training import loop as train_mod
from spectral_lib.training.loop import EpochInfo, shares_prefix, train_along

# 8x8 digits and a tiny network: a few seconds per run on 2 cores
UNCAPPED = TrainConfig(dataset="digits", activation="relu", model_options={"width": 8, "fc": 32}, lr=2e-3,
                       batch_size=64, max_epochs=6, accuracy_cap=None)
CAP = 0.6


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _capped(max_epochs: int = 30, cap: float = CAP) -> TrainConfig:
    return dataclasses.replace(UNCAPPED, accuracy_cap=cap, max_epochs=max_epochs)


# ------------------------------------------------------------------------------------------- the callback
def test_on_epoch_callback_cannot_change_training():
    """A callback that explains the model, draws random numbers and switches it to train mode leaves the weights and
    the history exactly as without it; its return values land in epoch_log, one per epoch."""
    cfg = dataclasses.replace(UNCAPPED, max_epochs=3)
    ref_model, ref = train(cfg, progress=False)
    x = torch.randn(16, 1, 8, 8)
    seen = []

    def meddle(model, info: EpochInfo):
        assert not model.training  # called in eval mode
        g = explain("vanilla_grad", model, x, target=predict(model, x))
        torch.randn(100)  # would shift the global random state
        model.train()
        seen.append(info)
        return {"epoch": info.epoch, "ef": float(expected_frequency(to_map(g)).mean())}

    model, res = train(cfg, progress=False, on_epoch=meddle)
    assert _same_weights(model, ref_model)
    assert res.history == ref.history and res.test_accuracy == ref.test_accuracy
    assert [e["epoch"] for e in res.epoch_log] == [1, 2, 3] and ref.epoch_log == []
    assert [i.epoch for i in seen] == [1, 2, 3]
    assert [i.accuracy for i in seen] == [h[2] for h in ref.history]  # the accuracy just measured
    assert seen[-1].step == ref.steps and len(seen[-1].history) == 3


def test_epoch_log_survives_an_interrupted_run(tmp_path, monkeypatch):
    cfg = dataclasses.replace(UNCAPPED, max_epochs=3)
    ckpt = tmp_path / "state.pt"

    def log(model, info):
        if info.epoch == 2:
            raise KeyboardInterrupt  # killed after epoch 2's cap check, before its checkpoint
        return info.epoch

    with pytest.raises(KeyboardInterrupt):
        train(cfg, checkpoint_path=ckpt, progress=False, on_epoch=log)
    assert cache.load(ckpt)["state"]["epoch_log"] == [1]
    _, res = train(cfg, checkpoint_path=ckpt, progress=False, on_epoch=lambda m, i: i.epoch)
    assert res.epoch_log == [1, 2, 3]


# ------------------------------------------------------------------------------------------- prefixes
def test_shares_prefix_allows_only_the_stopping_fields_to_differ():
    assert shares_prefix(UNCAPPED, _capped())
    assert shares_prefix(UNCAPPED, dataclasses.replace(UNCAPPED, max_epochs=2))
    assert not shares_prefix(_capped(), _capped())  # the run itself is capped: it may stop early
    assert not shares_prefix(UNCAPPED, dataclasses.replace(_capped(), lr=1e-3))
    assert not shares_prefix(UNCAPPED, dataclasses.replace(_capped(), seed=1))
    assert not shares_prefix(UNCAPPED, dataclasses.replace(_capped(), cap_rule="steps", eval_every=4))


def test_train_along_stores_the_capped_network_as_direct_training_would(tmp_path, monkeypatch):
    """The capped network stored on the way equals the one train_or_load trains directly (weights, history,
    accuracies, epochs, steps), and is then a cache hit."""
    capped = _capped()
    direct_model, direct = train_or_load(capped, tmp_path / "direct", progress=False)
    assert direct.cap_reached and 2 <= direct.epochs < UNCAPPED.max_epochs  # the cap falls inside the run
    never = _capped(max_epochs=4, cap=0.999)  # never passes: stops at its max_epochs, cap not reached
    along_dir = tmp_path / "along"
    model, res = train_along(UNCAPPED, along_dir, stopped=[capped, never], progress=False)
    assert res.epochs == UNCAPPED.max_epochs and not res.cap_reached and res.epoch_log == [None] * 6

    def no_training(*a, **k):
        raise AssertionError("a network stored by train_along must be a cache hit")

    monkeypatch.setattr(train_mod, "train", no_training)
    got_model, got = train_or_load(capped, along_dir, progress=False)
    assert _same_weights(got_model, direct_model)
    keep = ("cap_reached", "epochs", "steps", "test_accuracy", "train_accuracy", "history")
    assert {k: getattr(got, k) for k in keep} == {k: getattr(direct, k) for k in keep}
    _, n = train_or_load(never, along_dir, progress=False)
    assert n.epochs == 4 and not n.cap_reached and len(n.history) == 4
    uncapped_model, _ = train_or_load(UNCAPPED, along_dir, progress=False)  # the long run is cached too
    assert _same_weights(uncapped_model, model)


def test_train_along_refuses_what_is_not_a_prefix(tmp_path):
    with pytest.raises(ValueError, match="uncapped"):
        train_along(_capped(), tmp_path)
    with pytest.raises(ValueError, match="prefix"):
        train_along(UNCAPPED, tmp_path, stopped=[dataclasses.replace(_capped(), lr=1e-3)])


def test_trajectory_holds_the_capped_networks_ef(tmp_path):
    """The identity the chapter relies on, checked: the trajectory's EF at the epoch where the capped run stops is
    the EF that run_point measures on the capped network trained on its own (same images, same targets)."""
    capped = _capped()
    spec = EvalSpec(n_images=24, methods=("vanilla_grad",))
    rec = run_point(capped, spec, tmp_path / "direct", progress=False)
    traj = tl.run_trajectory(UNCAPPED, 24, tmp_path / "along", stopped=[capped], progress=False)
    assert traj["epochs"] == list(range(1, 7)) and traj["ef"].shape == (6, 24)
    e = tl.capped_epoch(traj, capped)
    assert e == rec["train"]["epochs"]
    point = tl.trajectory_point(traj, e)
    assert torch.equal(point["ef"], rec["ef"]["vanilla_grad"])
    assert torch.equal(point["ef_nyquist"], rec["ef_nyquist"]["vanilla_grad"])
    assert point["test_accuracy"] == rec["train"]["test_accuracy"]
    assert tl.capped_epoch(traj, _capped(max_epochs=30, cap=0.999)) is None  # beyond the trajectory
    with pytest.raises(ValueError, match="prefix"):
        tl.capped_epoch(traj, dataclasses.replace(capped, seed=3))
    with pytest.raises(ValueError, match="epoch 9"):
        tl.trajectory_point(traj, 9)
    again = tl.run_trajectory(UNCAPPED, 24, tmp_path / "along", stopped=[capped], progress=False)
    assert torch.equal(again["ef"], traj["ef"])  # cached
    table = tl.trajectory_table([{**traj, "capped_config": dataclasses.asdict(capped)}])
    assert table["capped_here"].sum() == 1 and int(table.loc[table["capped_here"], "epoch"].iloc[0]) == e
    assert np.allclose(table["ef_paper"], traj["ef"].double().mean(1).numpy() * 1e5)


def test_run_trajectory_validates(tmp_path):
    with pytest.raises(ValueError, match="uncapped"):
        tl.run_trajectory(_capped(), 8, tmp_path)
    with pytest.raises(ValueError, match="n_images"):
        tl.run_trajectory(UNCAPPED, 0, tmp_path)


# ------------------------------------------------------------------------------------------- parameters
BASE = {"dataset": "mnist5k", "model": "simple_cnn", "model_options": {"depth": 2}, "activations": ["relu", "sp:1"],
        "seeds": [0, 1, 2], "accuracy_cap": 0.9, "max_epochs": 30, "lr": 1e-3, "lr_by_activation": {},
        "n_images": 200, "slow_relu_lrs": [5e-5], "trajectory_specs": ["relu", "sp:1"], "trajectory_seeds": [1],
        "equal_epochs": 20}


@pytest.mark.parametrize("name, value, match", [
    ("slow_relu_lrs", 1e-4, "slow_relu_lrs"), ("slow_relu_lrs", [0.0], r"slow_relu_lrs\[0\]"),
    ("trajectory_specs", ["relu", "sp:-1"], r"trajectory_specs\[1\]"), ("trajectory_seeds", [], "trajectory_seeds"),
    ("trajectory_seeds", [-1], r"trajectory_seeds\[0\]"), ("equal_epochs", 0, "equal_epochs"),
    ("equal_epochs", 2.5, "equal_epochs")])
def test_control_parameters_are_checked_by_name(name, value, match):
    with pytest.raises(ParameterError, match=match):
        tl.check_control_params({**BASE, name: value})


def test_plans_share_the_chapters_networks():
    """The capped config of each trajectory is the chapter's grid point (same cache key), the uncapped one differs
    only in the cap and the epochs; the slow ReLU grid is ReLU at each slow learning rate, the chapter's seeds."""
    from spectral_lib.experiments import points_from_params

    main = {c.key() for c, _ in points_from_params(BASE)}
    slow_sets = tl.slow_relu_param_sets(BASE)
    slow = [c for ps in slow_sets for c, _ in points_from_params(ps)]
    assert [(c.activation, c.lr, c.seed) for c in slow] == [("relu", 5e-5, s) for s in (0, 1, 2)]
    plan = tl.trajectory_plan({**BASE, "trajectory_specs": ["relu", "sp:1", "relu"]})
    assert [(u.activation, u.lr, u.seed, role) for u, _, role in plan] == [
        ("relu", 1e-3, 1, "chapter"), ("sp:1", 1e-3, 1, "chapter"), ("relu", 5e-5, 1, "slow_relu")]
    for u, c, _ in plan:
        assert u.accuracy_cap is None and u.max_epochs == 20 and shares_prefix(u, c)
        assert c.key() in main or c.key() in {s.key() for s in slow}
    assert tl.trajectory_plan({**BASE, "trajectory_specs": [], "slow_relu_lrs": []}) == []


# ------------------------------------------------------------------------------------------- the table
def _record(act: str, beta: float, seed: int, ef: list[float], epochs: float = 3.0, lr: float = 1e-3,
            cap: bool = True, acc: float = 0.91) -> dict:
    t = torch.tensor(ef, dtype=torch.float64)
    return {"activation": act, "beta": beta, "seed": seed, "config": {"lr": lr, "activation": act},
            "train": {"epochs": epochs, "test_accuracy": acc, "cap_reached": cap},
            "ef": {"vanilla_grad": t * 1e-5}, "ef_nyquist": {"vanilla_grad": t / 100}}


def test_control_table_rows_and_nan_images():
    traj = {"activation": "SP(1)", "beta": 1.0, "lr": 1e-3, "seed": 1, "epochs": [1, 2],
            "test_accuracy": [0.5, 0.8], "ef": torch.tensor([[1e-5, 1e-5], [2e-5, float("nan")]]),
            "ef_nyquist": torch.tensor([[0.1, 0.1], [0.3, 0.1]])}
    empty_traj = {**traj, "epochs": [], "test_accuracy": [], "ef": torch.zeros(0, 2), "ef_nyquist": torch.zeros(0, 2)}
    df = tl.control_table([_record("ReLU", math.inf, 0, [20.0, 22.0]),
                           _record("SP(1)", 1.0, 0, [float("nan")] * 2, cap=False)],
                          [_record("ReLU", math.inf, 0, [19.0, 21.0], epochs=18.0, lr=5e-5)],
                          [traj, empty_traj, {**traj, "role": "slow_relu"}])
    assert list(df.columns) == tl.CONTROL_COLUMNS
    assert list(df["arm"]) == ["capped", "capped", "slow_relu", "equal_epochs", "equal_epochs_slow_relu"]
    assert df.loc[0, "ef_paper"] == pytest.approx(21.0) and df.loc[0, "ef_nyquist"] == pytest.approx(0.21)
    assert math.isnan(df.loc[1, "ef_paper"]) and not df.loc[1, "cap_reached"]  # all-NaN maps: NaN, kept
    assert df.loc[2, "lr"] == 5e-5 and df.loc[2, "epochs"] == 18.0
    last = df.iloc[3]
    assert last["epochs"] == 2 and last["test_accuracy"] == 0.8 and last["cap_reached"] is None
    assert last["ef_paper"] == pytest.approx(2.0)  # the NaN image skipped
    assert len(tl.control_table([], [], [])) == 0


# ------------------------------------------------------------------------------------------- statistics
def test_partial_spearman_matches_the_closed_form_and_removes_a_confounder():
    from scipy.stats import rankdata

    from spectral_lib.experiments.stats import partial_spearman, spearman

    rng = np.random.default_rng(0)
    z = rng.normal(size=40)
    x, y = z + 0.3 * rng.normal(size=40), z + 0.3 * rng.normal(size=40)  # both driven by z only
    r = partial_spearman(x, y, [z])
    rx, ry, rz = (rankdata(v) for v in (x, y, z))
    cxy, cxz, cyz = (np.corrcoef(a, b)[0, 1] for a, b in ((rx, ry), (rx, rz), (ry, rz)))
    assert r["rho"] == pytest.approx((cxy - cxz * cyz) / math.sqrt((1 - cxz**2) * (1 - cyz**2)))
    assert spearman(x, y) > 0.7 and abs(r["rho"]) < 0.35 and r["p"] > 0.05 and (r["n"], r["k"]) == (40, 1)
    w = x + 0.1 * rng.normal(size=40)  # a real association survives the covariate
    s = partial_spearman(x, w, [z])
    assert s["rho"] > 0.5 and s["p"] < 0.01
    assert partial_spearman(x, y, [])["rho"] == pytest.approx(spearman(x, y))
    assert math.isnan(partial_spearman([1, 2, 3], [1, 2, 3], [[1, 2, 3]])["rho"])  # n < k + 3 / fully explained
    assert partial_spearman([1, float("nan"), 3, 4, 5], [2, 1, 4, 3, 5], [[1, 2, 3, 4, 5]])["n"] == 4
    with pytest.raises(ValueError, match="equal length"):
        partial_spearman([1, 2], [1, 2, 3], [])


def test_ols_fit_recovers_coefficients_and_matches_linregress():
    from scipy.stats import linregress

    from spectral_lib.experiments.stats import ols_fit

    x = np.arange(10.0)
    exact = {c.name: c for c in ols_fit(2 * x + 1, {"x": x})}
    assert exact["x"].value == pytest.approx(2) and exact["intercept"].value == pytest.approx(1)
    assert exact["x"].high - exact["x"].low == pytest.approx(0, abs=1e-9)
    rng = np.random.default_rng(1)
    y = 0.5 * x + rng.normal(size=10)
    fit = {c.name: c for c in ols_fit(y, {"x": x})}
    ref = linregress(x, y)
    assert fit["x"].value == pytest.approx(ref.slope) and fit["x"].se == pytest.approx(ref.stderr)
    assert fit["x"].low < fit["x"].value < fit["x"].high and fit["x"].n == 10
    assert all(math.isnan(c.value) for c in ols_fit([1.0, 2.0], {"x": [1.0, 2.0]}))  # no degrees of freedom
    assert all(math.isnan(c.value) for c in ols_fit(y, {"x": x, "same": x}))  # singular design


# ------------------------------------------------------------------------------------------- verdicts
from spectral_lib.experiments import verdicts_training_length as vt  # noqa: E402
from spectral_lib.experiments.stats import Interval  # noqa: E402


def _row(arm, act, beta, seed, ef, epochs, lr=1e-3, cap=True, acc=0.91):
    return {"arm": arm, "activation": act, "beta": beta, "lr": lr, "seed": seed, "epochs": epochs,
            "test_accuracy": acc, "cap_reached": cap, "ef_paper": ef, "ef_nyquist": ef / 100}


def _controls(slow_efs, slow_epochs=(17, 18, 19), fast=(20.0, 21.0, 22.0), sp=(10.0, 11.0, 12.0), mid=None,
              slow_cap=True):
    rows = [_row("capped", "ReLU", math.inf, s, v, 2 + s % 2) for s, v in enumerate(fast)]
    rows += [_row("capped", "SP(0.3)", 0.3, s, v, 18 + s) for s, v in enumerate(sp)]
    if mid is not None:
        rows += [_row("capped", "SP(1)", 1.0, s, v, 9 + s) for s, v in enumerate(mid)]
    rows += [_row("slow_relu", "ReLU", math.inf, s, v, e, lr=5e-5, cap=slow_cap)
             for s, (v, e) in enumerate(zip(slow_efs, slow_epochs))]
    return pd.DataFrame(rows, columns=tl.CONTROL_COLUMNS)


@pytest.mark.parametrize("slow, word", [
    ((20.5, 21.0, 21.5), "closer to fast ReLU's than to SP(0.3)'s"),
    ((10.5, 11.0, 11.5), "closer to SP(0.3)'s than to fast ReLU's"),
    ((11.0, 21.0, 16.0), "the run cannot tell")])
def test_slow_relu_sentence_branches(slow, word):
    comp = vt.slow_relu_comparison(_controls(slow))
    assert len(comp) == 1 and comp[0]["sp_name"] == "SP(0.3)" and comp[0]["epochs"]["slow"] == 18
    text = vt.slow_relu_sentences(comp)
    assert word in text and "lr 5e-05" in text and "(n = 3)" in text


def test_slow_relu_share_is_the_fraction_of_the_gap():
    comp = vt.slow_relu_comparison(_controls((16.0, 16.0, 16.0)))[0]  # fast 21, SP 11: half-way
    assert comp["share"].value == pytest.approx(0.5) and comp["slow"].value == 16
    assert comp["share"].low < 0.5 < comp["share"].high


def test_slow_relu_one_seed_nan_dropped_and_empty():
    one = vt.slow_relu_comparison(_controls((21.0,), slow_epochs=(18,), fast=(21.0,), sp=(11.0,)))
    text = vt.slow_relu_sentences(one)
    assert "the run cannot tell" in text and "no interval" in text
    nan = vt.slow_relu_comparison(_controls((21.0, float("nan"), 21.5)))[0]
    assert nan["slow"].n == 2
    assert vt.slow_relu_comparison(_controls((21.0, 21.0, 21.0))[0:0]) == []
    assert "No slow-ReLU networks" in vt.slow_relu_sentences([])
    dropped = vt.slow_relu_sentences(vt.slow_relu_comparison(_controls((21.0, 21.0, 21.0), slow_cap=False)))
    assert "No slow ReLU network at lr 5e-05 passed the cap (3 of 3 dropped)" in dropped
    no_sp = _controls((21.0, 21.0, 21.0))
    no_sp = no_sp[no_sp["activation"] != "SP(0.3)"]
    assert "Without both references" in vt.slow_relu_sentences(vt.slow_relu_comparison(no_sp))


def test_correlations_separate_beta_from_epochs():
    """EF set by beta only (slow ReLU as high as fast ReLU): partial ρ(EF, β | epochs) > 0 significantly, while
    ρ(EF, epochs) is negative before controlling and vanishes given β."""
    rng = np.random.default_rng(0)
    rows = []
    for b, ef, ep in ((0.3, 10, 19), (0.5, 12, 15), (1.0, 14, 9), (2.0, 16, 5), (math.inf, 20, 2)):
        rows += [_row("capped", "x", b, s, ef + rng.normal(0, 0.3), ep + s) for s in range(3)]
    rows += [_row("slow_relu", "ReLU", math.inf, s, 20 + rng.normal(0, 0.3), 17 + s, lr=5e-5) for s in range(3)]
    df = pd.DataFrame(rows, columns=tl.CONTROL_COLUMNS)
    c = vt.training_length_correlations(df)
    assert c["beta"]["n"] == 18 and c["beta"]["rho"] > 0.8 and c["epochs"]["rho"] < 0
    assert c["beta_given_epochs"]["rho"] > 0.5 and c["beta_given_epochs"]["p"] < 0.05
    assert c["epochs_given_beta"]["p"] > 0.05
    verdict = vt.training_length_verdict(vt.slow_relu_comparison(df), c, vt.equal_epoch_correlation(df))
    assert "the **activation**, not the training length" in verdict and "partial ρ" in verdict
    text = vt.correlations_sentence(c, vt.equal_epoch_correlation(df), regression=vt.regression_summary(df))
    assert "No equal-epoch networks" in text and "(n = 18" in text and "per decade of β" in text
    empty = vt.training_length_correlations(df[0:0])
    assert math.isnan(empty["beta_given_epochs"]["rho"])


def test_equal_epoch_correlation_and_its_words():
    rows = [_row("equal_epochs", "x", b, 1, ef, 20, cap=None, acc=a)
            for b, ef, a in ((0.3, 10, 0.9), (0.5, 11, 0.93), (1, 12, 0.95), (2, 13, 0.96), (5, 14, 0.97),
                             (math.inf, 15, 0.97))]
    df = pd.DataFrame(rows, columns=tl.CONTROL_COLUMNS)
    eq = vt.equal_epoch_correlation(df)
    assert eq["rho"] == pytest.approx(1) and eq["n"] == 6 and eq["epochs"] == 20 and eq["acc_range"] == (0.9, 0.97)
    assert eq["p"] == pytest.approx(2 / 720)
    text = vt.correlations_sentence(vt.training_length_correlations(df), eq)
    assert "At equal epochs (20" in text and "EF rises with β" in text
    three = vt.equal_epoch_correlation(df.iloc[:3])
    assert "smallest possible p is 0.333" in vt.correlations_sentence(vt.training_length_correlations(df), three)
    assert vt.equal_epoch_correlation(df[0:0])["n"] == 0


def _iv(v, lo, hi, n=3):
    return Interval(v, lo, hi, n)


NONE = {"rho": math.nan, "p": math.nan, "n": 0}


@pytest.mark.parametrize("share, bg, eg, eq, head", [
    (_iv(0.1, -0.1, 0.3), NONE, NONE, NONE, "the **activation**"),
    (_iv(0.9, 0.7, 1.1), NONE, NONE, NONE, "the **training length**"),
    (_iv(0.9, 0.7, 1.1), {"rho": 0.6, "p": 0.01, "n": 24}, NONE, NONE, "**both**"),
    (_iv(0.5, 0.2, 0.8), NONE, {"rho": -0.6, "p": 0.01, "n": 24}, NONE, "the **training length**"),
    (_iv(0.5, 0.2, 0.8), NONE, NONE, {"rho": 0.9, "p": 0.01, "n": 7, "epochs": 20.0}, "the **activation**"),
    (_iv(0.5, math.nan, math.nan, 1), {"rho": 0.5, "p": 0.2, "n": 6}, NONE, NONE, "the run cannot tell")])
def test_training_length_verdict_branches(share, bg, eg, eq, head):
    comp = [{"lr": 5e-5, "share": share}]
    corr = {"beta": NONE, "epochs": NONE, "beta_given_epochs": bg, "epochs_given_beta": eg}
    assert head in vt.training_length_verdict(comp, corr, eq)


def _traj_rows(act, efs, cap_at=None, role="chapter", lr=1e-3):
    return [{"role": role, "activation": act, "beta": 1.0, "lr": lr, "seed": 1, "epoch": e + 1,
             "test_accuracy": 0.8 + 0.01 * e, "ef_paper": v, "ef_nyquist": v / 100, "capped_here": cap_at == e + 1}
            for e, v in enumerate(efs)]


def test_trajectory_summary_and_sentence():
    falls = [30 - i for i in range(12)]
    flat = [20, 21, 20, 19, 21, 20, 19, 21, 20, 20, 21, 19]
    df = pd.DataFrame(_traj_rows("ReLU", falls, cap_at=2) + _traj_rows("SP(1)", flat, cap_at=3)
                      + _traj_rows("SP(0.3)", flat) + _traj_rows("ReLU", falls, cap_at=5, role="slow_relu",
                                                                  lr=5e-5))
    summ = vt.trajectory_summary(df)
    relu = summ[0]
    assert relu["cap_epoch"] == 2 and relu["at_cap"] == 29 and relu["last"] == 19
    assert relu["change"] == pytest.approx(-10 / 29) and relu["trend"]["rho"] == pytest.approx(-1)
    text = vt.trajectory_sentence(summ)
    assert "ReLU -34.5% from epoch 2" in text and "falls in 2, rises in 0" in text
    assert "ReLU (lr 5e-05)" in text and "Not capped within the trajectory: SP(0.3)" in text
    assert vt.trajectory_summary(df[0:0]) == [] and vt.trajectory_sentence([]) == "No trajectories in this run."
    corr = {k: NONE for k in ("beta", "epochs", "beta_given_epochs", "epochs_given_beta")}
    note = vt.training_length_verdict([], corr, NONE, trajectories=summ)
    assert "the run cannot tell" in note and "lower EF in 2 of 4 runs (ReLU -34.5% by epoch 12" in note
    assert "not a comparison at equal accuracy" in note
    assert "past the cap" not in vt.training_length_verdict([], corr, NONE, trajectories=summ[1:3])


def test_epochs_confound_sentence_branches():
    rng = np.random.default_rng(2)
    ep = np.arange(12.0)
    x_indep = rng.permutation(12).astype(float)
    survive = vt.epochs_confound_sentence(x_indep, x_indep + 0.1 * rng.normal(size=12), ep, "tail")
    assert "survives controlling for training length" in survive and "(n = 12" in survive
    x_conf = ep + 2.0 * rng.normal(size=12)  # x follows epochs, EF follows epochs only
    gone = vt.epochs_confound_sentence(x_conf, -ep + 1.0 * rng.normal(size=12), ep, "tail")
    assert "not distinguishable from none once epochs are controlled" in gone
    tied = vt.epochs_confound_sentence(x_conf, -ep, ep, "tail")  # EF is epochs, rank for rank
    assert "cannot be separated from training length" in tied
    noise = vt.epochs_confound_sentence(rng.normal(size=12), rng.normal(size=12), ep, "tail")
    assert "the run cannot tell" in noise
    assert "too few networks" in vt.epochs_confound_sentence([1, 2], [1, 2], [1, 2], "tail")


# ------------------------------------------------------------------------------------------- chapter 4's headline
from spectral_lib.experiments import verdicts_ef_beta as vb  # noqa: E402


def _net(act, beta, seed, ef, epochs=3.0, cap=True):
    return {**_record(act, beta, seed, ef, epochs=epochs, cap=cap)}


def test_ef_beta_sentence_states_n_p_and_the_ratio_interval():
    recs = [_net("ReLU", math.inf, s, [20.0 + s, 21.0 + s]) for s in range(3)]
    recs += [_net(f"SP({b:g})", b, s, [10.0 + 3 * i + 0.1 * s] * 2) for i, b in enumerate((0.3, 1.0, 5.0))
             for s in range(3)]
    text = vb.ef_beta_sentence(recs)
    assert "ρ = +1.00 (n = 4, p = 0.083) over the per-β means" in text  # 4 betas: the exact test's floor
    assert "(n = 12, p < 0.001) over the networks: EF rises with β" in text
    assert "SP(0.3), has a mean paper EF of 10.1" in text and "below ReLU's" in text
    assert "0 per-image EF values were NaN" in text
    one_seed = vb.ef_beta_sentence([r for r in recs if r["seed"] == 0])
    assert "no interval" in one_seed and "the run cannot tell" in one_seed
    nan = vb.ef_beta_sentence(recs + [_net("SP(2)", 2.0, 0, [float("nan"), 12.0])])
    assert "1 per-image EF values were NaN" in nan
    assert vb.ef_beta_sentence([]) == "No network passed the cap: nothing to correlate."


def test_cap_epochs_sentence():
    recs = [_net("ReLU", math.inf, s, [20.0], epochs=2 + s % 2) for s in range(3)]
    recs += [_net("SP(0.3)", 0.3, s, [10.0], epochs=18 + s) for s in range(3)]
    recs += [_net("SP(1)", 1.0, s, [10.0], epochs=9 + s) for s in range(3)]
    text = vb.cap_epochs_sentence(recs + [_net("SP(1)", 1.0, 9, [1.0], epochs=30, cap=False)])
    assert text.startswith("Epochs to the cap (mean over the kept networks): SP(0.3) 19, SP(1) 10, ReLU 2.33.")
    assert "(n = 9," in text and "smoother activations train longer" in text
    assert "the run cannot tell" in vb.cap_epochs_sentence(recs[:1] + recs[3:4])  # n = 2
    assert vb.cap_epochs_sentence([]) == "No network passed the cap."


def test_centred_sentence_branches():
    sp = [_net("SP(1)", 1.0, s, [12.0 + 0.1 * s]) for s in range(3)] + [_net("ReLU", math.inf, s, [v])
                                                                        for s, v in enumerate((17.0, 19.2, 21.5))]
    ce = [_net("SPc(1)", 1.0, s, [19.0 + 0.2 * s]) for s in range(3)]
    text = vb.centred_sentence(sp, ce)
    assert "β = 1: SPc 19.2 vs SP 12.1" in text and "SPc higher" in text and "the interval contains 0" in text
    assert "no pairwise comparison" in vb.centred_sentence(sp, [_net("SPc(3)", 3.0, 0, [19.0])])
    assert vb.centred_sentence(sp, []) == "No centred network passed the cap."


def test_capped_identity_sentence_on_hand_made_trajectories():
    capped = _capped()
    ef = torch.tensor([[1e-5, 2e-5], [3e-5, 4e-5]], dtype=torch.float64)
    traj = {"config": dataclasses.asdict(UNCAPPED), "activation": "ReLU", "epochs": [1, 2], "test_accuracy": [0.3, 0.7],
            "ef": ef, "ef_nyquist": ef * 1e4, "capped_config": dataclasses.asdict(capped)}
    rec = {"config": dataclasses.asdict(capped), "ef": {"vanilla_grad": ef[1].clone()},
           "ef_nyquist": {"vanilla_grad": ef[1].clone() * 1e4}}
    same = vt.capped_identity_sentence([traj], [rec])
    assert "for 1 network(s), the EF at the epoch where the capped run stops equals" in same and ": 0)" in same
    off = {**rec, "ef": {"vanilla_grad": ef[1] * 1.01}}
    assert "differs from" in vt.capped_identity_sentence([traj], [off])
    late = {**traj, "test_accuracy": [0.3, 0.5]}  # never past the cap within the trajectory
    assert "Not capped within the trajectory: ReLU" in vt.capped_identity_sentence([late], [rec])
    assert "No trajectory has a capped network" in vt.capped_identity_sentence([traj], [])


def test_run_trajectories_follows_the_plan_and_feeds_the_tables(tmp_path):
    params = {"dataset": "digits", "model_options": {"width": 8, "fc": 32}, "lr": 2e-3, "batch_size": 64,
              "accuracy_cap": CAP, "max_epochs": 30, "n_images": 8, "seeds": [0], "activations": ["relu"],
              "trajectory_specs": ["relu"], "slow_relu_lrs": [1e-3], "trajectory_seeds": [0], "equal_epochs": 4}
    recs = tl.run_trajectories(params, tmp_path, progress=False)
    assert [(r["role"], r["lr"], r["epochs"]) for r in recs] == [("chapter", 2e-3, [1, 2, 3, 4]),
                                                                 ("slow_relu", 1e-3, [1, 2, 3, 4])]
    table = tl.trajectory_table(recs)
    assert len(table) == 8 and set(table["role"]) == {"chapter", "slow_relu"}
    control = tl.control_table([], [], recs)
    assert list(control["arm"]) == ["equal_epochs", "equal_epochs_slow_relu"]
    assert (control["epochs"] == 4).all()


def test_a_sweep_job_runs_the_chapters_trajectory_and_the_chapter_then_trains_nothing(tmp_path, monkeypatch):
    """The sweep lists the chapter's trajectories (profiles.chapter_trajectories) as points of their own; the job of
    such a point writes the record at the point's path and the capped network on the way, so that the chapter's
    run_trajectories on that cache reads them and trains nothing."""
    from spectral_lib.companion.profiles import chapter_trajectories
    from spectral_lib.sweep.job import run_job

    params = {"dataset": "digits", "model_options": {"width": 8, "fc": 32}, "lr": 2e-3, "batch_size": 64,
              "accuracy_cap": CAP, "max_epochs": 30, "n_images": 8, "seeds": [0], "activations": ["relu"],
              "trajectory_specs": ["relu"], "slow_relu_lrs": [], "trajectory_seeds": [0], "equal_epochs": 4,
              "device": "cpu"}
    runs = chapter_trajectories("04_ef_vs_beta", params)
    assert [(u.accuracy_cap, u.max_epochs, s.n_images) for u, s in runs] == [(None, 4, 8)]
    assert chapter_trajectories("05_explanation_gap", params) == []
    (uncapped, spec), = runs
    summary = run_job(uncapped, spec, str(tmp_path))
    assert spec.record_path(uncapped, tmp_path).exists() and summary["cap_reached"] is False
    assert summary["epochs"] == 4.0 and set(summary["ef"]) == {"vanilla_grad"}
    assert (tmp_path / "models" / f"{spec.capped.key()}.pt").exists()  # the capped grid network, stored on the way

    def no_training(*a, **k):
        raise AssertionError("the chapter trained a network the sweep had made")

    monkeypatch.setattr(train_mod, "train", no_training)
    recs = tl.run_trajectories(params, tmp_path, progress=False)
    assert len(recs) == 1 and recs[0]["epochs"] == [1, 2, 3, 4]
    assert summary["ef"]["vanilla_grad"] == pytest.approx(float(recs[0]["ef"][-1].double().mean()))
    rec = run_point(spec.capped, EvalSpec(n_images=8, methods=("vanilla_grad",)), tmp_path, progress=False)
    assert rec["train"]["cap_reached"]
