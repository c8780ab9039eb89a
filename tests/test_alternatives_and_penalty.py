"""Smooth alternatives to SP training (issue 12): grids, the complexity-faithfulness plane, activation tails, costs."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from spectral_lib.theory import TAIL_FLOOR, activation_tail
from spectral_lib.nn import activation_family, gaussian_spec
from spectral_lib.experiments.tradeoff import (benchmark_epoch_seconds, best_within_budget, budget_comparison,
                                               pareto_front, plane_table, profile_tail_share, setting_table,
                                               surrogate_summary)
from spectral_lib.experiments.grids import explain_time_methods, smooth_alternatives_param_sets, spectral_penalty_param_sets
from spectral_lib.nn import beta_to_sigma, make_activation
from spectral_lib.experiments import paper_gap_table, points_from_params, run_points
from spectral_lib.training import TrainConfig

QUICK = dict(dataset="mnist5k", model="simple_cnn", model_options={"depth": 2}, accuracy_cap=0.9, max_epochs=30,
             lr=1e-3, lr_by_activation={}, batch_size=256, n_images=100, noise_std=0.1, n_samples=64, seeds=[0],
             device="cpu")
# a few seconds on 2 cores: 8x8 digits, a one-block CNN with 4 channels
DIGITS = dict(dataset="digits", model="simple_cnn", model_options={"depth": 1, "width": 4, "fc": 16},
              accuracy_cap=None, max_epochs=1, lr=2e-3, batch_size=128, n_images=6, n_samples=2, seeds=[0],
              device="cpu")


# ----------------------------------------------------------------------------------------------------- specs
def test_gaussian_spec_is_the_matched_sigma_and_builds():
    spec = gaussian_spec(1.0)
    assert spec == f"gaussian:{beta_to_sigma(1.0):.6g}" == "gaussian:1.8138"
    assert make_activation(spec).sigma == pytest.approx(beta_to_sigma(1.0), rel=1e-5)
    with pytest.raises(ValueError, match="beta"):
        gaussian_spec(-1.0)


@pytest.mark.parametrize("spec, family", [("relu", "ReLU"), ("sp:2", "SP"), ("spc:1", "SP"),
                                          ("gaussian:0.5", "Gaussian"), ("gelu", "other"), ("sigmoid", "other"),
                                          ("tanh", "other")])
def test_activation_family(spec, family):
    assert activation_family(spec) == family


def test_explain_time_methods_builds_specs_in_order():
    assert explain_time_methods([5, 0.3], [0.25]) == [
        "vanilla_grad", "smooth_grad", "beta_smooth_grad:5", "beta_smooth_grad:0.3", "lowpass_grad:0.25"]
    assert explain_time_methods([], [0.1], smooth_grad=False) == ["vanilla_grad", "lowpass_grad:0.1"]
    assert explain_time_methods([1.0, 1.0], []) == ["vanilla_grad", "smooth_grad", "beta_smooth_grad:1"]


@pytest.mark.parametrize("betas, cutoffs, exc, match", [
    ([1.0, -2.0], [0.25], ValueError, r"explain_time_betas\[1\] must be positive"),
    ([0.0], [0.25], ValueError, r"explain_time_betas\[0\] must be positive"),
    ([float("inf")], [0.25], ValueError, r"explain_time_betas\[0\]"),
    ([1.0], [-0.1], ValueError, r"lowpass_cutoffs\[0\] must be positive"),
    ([1.0], [float("nan")], ValueError, r"lowpass_cutoffs\[0\]"),
    ([1.0], [0.0], ValueError, r"lowpass_cutoffs\[0\]"),
    ([], [], ValueError, "both empty"),
    ("5", [0.25], TypeError, "explain_time_betas must be a list"),
    ([True], [0.25], TypeError, r"explain_time_betas\[0\]"),
])
def test_explain_time_methods_rejects_bad_values(betas, cutoffs, exc, match):
    with pytest.raises(exc, match=match):
        explain_time_methods(betas, cutoffs)


# ------------------------------------------------------------------------------------------------------ grids
def test_smooth_alternatives_grids_share_chapter_4_networks():
    params = {**QUICK, "activations": ["relu", "sp:1", "gelu"], "gaussian_betas": [1.0],
              "explain_time_betas": [1.0], "lowpass_cutoffs": [0.25], "tail_cutoff": 2.0}
    sets = smooth_alternatives_param_sets(params)
    assert [s["grid"] for s in sets] == ["trained", "surrogates"]
    assert sets[0]["activations"] == ["relu", "sp:1", "gelu", "gaussian:1.8138"]
    assert sets[1]["activations"] == ["relu"] and "beta_smooth_grad:1" in sets[1]["methods"]
    trained, surrogates = (points_from_params(s) for s in sets)
    ch4 = {c.activation: c.key() for c, _ in points_from_params({**QUICK, "activations": ["relu", "sp:1"],
                                                                  "n_images": 200})}
    keys = {c.activation: c.key() for c, _ in trained}
    assert keys["relu"] == ch4["relu"] and keys["sp:1"] == ch4["sp:1"]  # same networks, cache shared
    assert surrogates[0][0].key() == ch4["relu"]
    assert surrogates[0][1].methods[-1] == "lowpass_grad:0.25"


@pytest.mark.parametrize("override, exc, match", [
    ({"gaussian_betas": [-1.0]}, ValueError, r"gaussian_betas\[0\]"),
    ({"explain_time_betas": [-5.0]}, ValueError, r"explain_time_betas\[0\]"),
    ({"lowpass_cutoffs": [-0.25]}, ValueError, r"lowpass_cutoffs\[0\]"),
    ({"activations": [], "gaussian_betas": []}, ValueError, "no network"),
    ({"tail_cutoff": -2.0}, ValueError, "tail_cutoff"),
    ({"smooth_grad_on_trained": "yes"}, TypeError, "smooth_grad_on_trained"),
])
def test_smooth_alternatives_grids_reject_bad_values_before_training(override, exc, match):
    params = {**QUICK, "activations": ["relu"], "gaussian_betas": [1.0], "explain_time_betas": [1.0],
              "lowpass_cutoffs": [0.25], **override}
    with pytest.raises(exc, match=match):
        for s in smooth_alternatives_param_sets(params):
            points_from_params(s)


def test_spectral_penalty_grids_keep_plain_keys_and_set_the_penalty():
    params = {**QUICK, "activations": ["relu", "sp:1"], "penalty_strengths": [1.0, 3.0], "penalty_kind": "ef",
              "penalty_cutoff": 0.2, "penalty_subsample": 16, "benchmark_epochs": 1}
    sets = spectral_penalty_param_sets(params)
    assert [s["grid"] for s in sets] == ["plain", "penalty", "penalty"]
    plain = points_from_params(sets[0])
    ch4 = points_from_params({**QUICK, "activations": ["relu", "sp:1"]})
    assert [c.key() for c, _ in plain] == [c.key() for c, _ in ch4]  # the penalty options do not leak
    assert all(s.methods == ("vanilla_grad",) for _, s in plain)
    pen = [points_from_params(s)[0][0] for s in sets[1:]]
    assert [(c.activation, c.penalty_strength, c.penalty_kind, c.penalty_cutoff, c.penalty_subsample) for c in pen] \
        == [("relu", 1.0, "ef", 0.2, 16), ("relu", 3.0, "ef", 0.2, 16)]
    assert pen[0].key() != ch4[0][0].key()


@pytest.mark.parametrize("override, exc, match", [
    ({"penalty_strengths": [float("nan")]}, ValueError, r"penalty_strengths\[0\] must be positive and finite"),
    ({"penalty_strengths": [1.0, float("inf")]}, ValueError, r"penalty_strengths\[1\]"),
    ({"penalty_strengths": [-1.0]}, ValueError, r"penalty_strengths\[0\]"),
    ({"penalty_strengths": []}, ValueError, "non-empty"),
    ({"penalty_strengths": None}, TypeError, "penalty_strengths must be a list"),
    ({"penalty_kind": "tail"}, ValueError, "penalty_kind"),
    ({"penalty_cutoff": float("nan")}, ValueError, "penalty_cutoff"),
    ({"penalty_subsample": 0}, ValueError, "penalty_subsample"),
    ({"benchmark_epochs": 0}, ValueError, "benchmark_epochs"),
])
def test_spectral_penalty_grids_reject_bad_values_before_training(override, exc, match):
    params = {**QUICK, "activations": ["relu"], "penalty_strengths": [1.0], **override}
    with pytest.raises(exc, match=match):
        for s in spectral_penalty_param_sets(params):
            points_from_params(s)


# ---------------------------------------------------------------------------------------------------- Lemma 1
def test_activation_tail_orders_smoothing_and_reaches_the_floor():
    relu, sp5, sp1 = (activation_tail(s, 2.0) for s in ("relu", "sp:5", "sp:1"))
    assert sp1 < sp5 < relu < 1e-4
    assert activation_tail("sp:0.3", 5.0) < TAIL_FLOOR  # double precision's floor
    assert activation_tail("gaussian:1.8138", 2.0) < activation_tail("relu", 2.0)
    with pytest.raises(ValueError, match="cutoff"):
        activation_tail("relu", -1.0)
    with pytest.raises(ValueError, match="highest measured frequency"):
        activation_tail("relu", 1e6)


# ------------------------------------------------------------------------------------------- synthetic records
def _record(activation, seed, ef, ef_n=None, *, epochs=3.0, seconds=3.0, acc=0.91, penalty=0.0, cap=True, beta=None):
    """A run_point-shaped record: ``ef`` maps method -> per-image values."""
    from spectral_lib.nn import activation_beta, activation_name

    ef_n = ef_n or {m: [v / 100 for v in vals] for m, vals in ef.items()}
    cfg = {"activation": activation, "seed": seed, "penalty_strength": penalty, "penalty_kind": "tail_share",
           "lr": 1e-3}
    profile = torch.tensor([10.0, 4.0, 3.0, 2.0, 1.0], dtype=torch.float64)
    return {"activation": activation_name(activation), "beta": activation_beta(activation) if beta is None else beta,
            "seed": seed, "config": cfg,
            "ef": {m: torch.tensor(v, dtype=torch.float64) for m, v in ef.items()},
            "ef_nyquist": {m: torch.tensor(v, dtype=torch.float64) for m, v in ef_n.items()},
            "profile": {m: profile for m in ef}, "examples": {m: torch.zeros(1, 8, 8) for m in ef},
            "train": {"cap_reached": cap, "epochs": epochs, "seconds": seconds, "test_accuracy": acc,
                      "train_accuracy": acc}}


def test_plane_table_uses_the_papers_gap_arithmetic_and_counts_a_network_once():
    trained = [_record("relu", 0, {"vanilla_grad": [1e-5, 3e-5], "smooth_grad": [1e-5, 1e-5]}),
               _record("sp:1", 0, {"vanilla_grad": [1e-5, 1e-5], "smooth_grad": [0.5e-5, 0.5e-5]})]
    surrogate = _record("relu", 0, {"vanilla_grad": [1e-5, 3e-5], "smooth_grad": [1e-5, 1e-5],
                                    "beta_smooth_grad:1": [3e-5, 3e-5], "lowpass_grad:0.25": [0.0, 1e-5]})
    plane = plane_table(trained + [surrogate], "ef", 1e5)
    row = plane.set_index(["model", "method"])
    assert row.loc[("ReLU", "vanilla_grad"), "ef"] == pytest.approx(2.0)  # the duplicate network counted once
    assert row.loc[("ReLU", "lowpass_grad:0.25"), "gap"] == pytest.approx(1.5)  # |0.5 - 2|
    assert row.loc[("ReLU", "beta_smooth_grad:1"), "gap"] == pytest.approx(1.0)  # |3 - 2|: EF up counts too
    assert row.loc[("SP(1)", "smooth_grad"), "gap"] == pytest.approx(0.5)
    assert row.loc[("ReLU", "beta_smooth_grad:1"), "label"] == "BetaSmooth(β=1)"
    assert row.loc[("ReLU", "lowpass_grad:0.25"), "setting"] == 0.25
    assert math.isnan(row.loc[("ReLU", "smooth_grad"), "setting"])
    assert list(plane[plane["trained"]]["gap"]) == [0.0, 0.0]
    assert ("SP(1)", "beta_smooth_grad:1") not in row.index  # only the methods each model was explained by
    # the same numbers as the gap chapter's table
    gaps = paper_gap_table(trained + [surrogate][:0], "ef", 1e5)
    assert row.loc[("SP(1)", "smooth_grad"), "gap"] == pytest.approx(gaps.loc["smooth_grad", "SP(1)"])
    nyq = plane_table(trained + [surrogate], "ef_nyquist", 1.0).set_index(["model", "method"])
    assert nyq.loc[("ReLU", "lowpass_grad:0.25"), "gap"] == pytest.approx(1.5e-7)
    assert plane_table([]).empty


def test_pareto_front_minimises_both_and_skips_nan():
    df = pd.DataFrame({"ef": [1.0, 2.0, 3.0, 2.0, 0.5, np.nan, 2.0],
                       "gap": [1.0, 0.0, 0.0, 0.5, 2.0, 0.0, 0.0]})
    # row 2 is dominated by row 1 (same gap, higher EF); row 3 by row 1; row 6 ties row 1 exactly (both kept)
    assert pareto_front(df).tolist() == [True, True, False, False, True, False, True]
    assert pareto_front(df.rename(columns={"ef": "cost", "gap": "EF"}), "cost", "EF").tolist() == \
        pareto_front(df).tolist()


def test_surrogate_summary_names_the_lowest_ef_setting_and_the_simpler_trained_models():
    plane = pd.DataFrame([
        {"model": "ReLU", "method": "vanilla_grad", "family": "VanillaGrad", "label": "VanillaGrad", "setting": np.nan,
         "ef": 10.0, "gap": 0.0, "trained": True},
        {"model": "SP(1)", "method": "vanilla_grad", "family": "VanillaGrad", "label": "VanillaGrad",
         "setting": np.nan, "ef": 8.0, "gap": 0.0, "trained": True},
        {"model": "ReLU", "method": "lowpass_grad:0.4", "family": "low-pass", "label": "low-pass(f≤0.4)",
         "setting": 0.4, "ef": 9.0, "gap": 1.0, "trained": False},
        {"model": "ReLU", "method": "lowpass_grad:0.1", "family": "low-pass", "label": "low-pass(f≤0.1)",
         "setting": 0.1, "ef": 6.0, "gap": 4.0, "trained": False},
        {"model": "ReLU", "method": "beta_smooth_grad:1", "family": "BetaSmooth", "label": "BetaSmooth(β=1)",
         "setting": 1.0, "ef": 11.0, "gap": 1.0, "trained": False},
        {"model": "SP(1)", "method": "smooth_grad", "family": "SmoothGrad", "label": "SmoothGrad",
         "setting": np.nan, "ef": 5.0, "gap": 3.0, "trained": False}])
    s = surrogate_summary(plane, "ReLU")
    assert list(s.index) == ["low-pass", "BetaSmooth"]  # by EF; SP(1)'s SmoothGrad is not a ReLU surrogate
    assert s.loc["low-pass", "label"] == "low-pass(f≤0.1)" and s.loc["low-pass", "gap"] == 4.0
    assert s.loc["low-pass", "trained at most as complex"] == []
    assert s.loc["BetaSmooth", "trained at most as complex"] == ["SP(1)", "ReLU"]


def test_setting_table_and_budget_comparison():
    recs = ([_record("relu", s, {"vanilla_grad": [16e-5]}, epochs=3, seconds=1.5) for s in (0, 1)]
            + [_record("relu", s, {"vanilla_grad": [v]}, epochs=3, seconds=6.0, penalty=3.0)
               for s, v in ((0, 12e-5), (1, 14e-5))]
            + [_record("sp:1", 0, {"vanilla_grad": [12.5e-5]}, epochs=10, seconds=10.0),
               _record("sp:5", 0, {"vanilla_grad": [15e-5]}, epochs=3, seconds=4.0)])
    t = setting_table(recs, tail_cutoff=0.25)
    assert list(t.index) == ["ReLU", "ReLU + penalty 3", "SP(5)", "SP(1)"]
    assert list(t["family"]) == ["ReLU", "penalty", "SP", "SP"]
    assert t.loc["ReLU + penalty 3", "EF mean"] == pytest.approx(13.0)
    assert t.loc["ReLU + penalty 3", "EF std"] == pytest.approx(math.sqrt(2.0))
    assert t.loc["ReLU + penalty 3", "s/epoch"] == pytest.approx(2.0) and t.loc["SP(1)", "networks"] == 1
    # profile [10, 4, 3, 2, 1] on 8x8 maps: bins r/8 > 0.25 are r = 3, 4 -> (2 + 1) / (4 + 3 + 2 + 1)
    assert t.loc["ReLU", "tail share"] == pytest.approx(0.3)
    t["cost"] = t["seconds"]
    cmp = budget_comparison(t, "penalty", "SP", cost="cost")
    assert cmp.loc["ReLU + penalty 3", "other setting"] == "SP(5)"  # SP(1) costs more than 6 s
    assert cmp.loc["ReLU + penalty 3", "lower EF"] == "penalty"
    back = budget_comparison(t, "SP", "penalty", cost="cost")
    assert back.loc["SP(5)", "lower EF"] == "none" and back.loc["SP(1)", "lower EF"] == "SP"
    assert best_within_budget(t, "SP", 1.0, "cost") is None
    assert best_within_budget(t, "SP", 100.0, "cost").name == "SP(1)"


def test_profile_tail_share():
    assert profile_tail_share([5.0, 1.0, 1.0, 2.0], 4, 0.5) == pytest.approx(0.5)  # f = 0.25, 0.5, 0.75
    assert math.isnan(profile_tail_share([5.0, 0.0, 0.0], 4, 0.25))
    with pytest.raises(ValueError, match="cutoff"):
        profile_tail_share([1.0, 1.0], 4, -1.0)


# ------------------------------------------------------------------------------------------ end to end, small
def test_surrogates_and_penalty_end_to_end_on_digits(tmp_path):
    """Train two tiny networks (1 epoch each on 8x8 digits), explain the ReLU one with the explain-time surrogates,
    train one penalised network: records feed the plane and the setting table."""
    params = {**DIGITS, "activations": ["relu"], "gaussian_betas": [1.0], "explain_time_betas": [2.0],
              "lowpass_cutoffs": [0.3]}
    recs = [r for s in smooth_alternatives_param_sets(params)
            for r in run_points(points_from_params(s), tmp_path, progress=False)]
    plane = plane_table(recs)
    assert set(plane["model"]) == {"ReLU", "Gauss(1.8138)"}
    relu = plane[plane["model"] == "ReLU"].set_index("method")
    assert set(relu.index) == {"vanilla_grad", "smooth_grad", "beta_smooth_grad:2", "lowpass_grad:0.3"}
    assert relu.loc["vanilla_grad", "gap"] == 0.0 and (relu["gap"] >= 0).all() and np.isfinite(relu["ef"]).all()
    pen = {**DIGITS, "activations": ["relu"], "penalty_strengths": [1.0]}
    recs2 = [r for s in spectral_penalty_param_sets(pen)
             for r in run_points(points_from_params(s), tmp_path, progress=False)]
    table = setting_table(recs2)
    assert list(table.index) == ["ReLU", "ReLU + penalty 1"]
    assert (table["epochs"] == 1.0).all()


def test_benchmark_epoch_seconds_times_one_uncapped_epoch():
    cfg = TrainConfig(**{k: v for k, v in DIGITS.items() if k not in ("n_images", "n_samples", "seeds",
                                                                      "accuracy_cap")}, accuracy_cap=0.5)
    s = benchmark_epoch_seconds(cfg)
    assert 0 < s < 60
    with pytest.raises(ValueError, match="epochs"):
        benchmark_epoch_seconds(cfg, epochs=0)


# ------------------------------------------------------------------------------------------- book integration
CHAPTERS = ("11_smooth_alternatives", "12_spectral_penalty")


def test_chapters_parameters_cells_validate_under_every_profile():
    """The two chapters' parameters cells (with each profile's defaults) pass the book command's checks."""
    from spectral_lib.companion import profiles as config

    for profile in ("quick", "tiny", "paper"):
        _, _, chapters = config.prepare(profile, CHAPTERS, devices=False)
        for stem, fn in zip(CHAPTERS, (smooth_alternatives_param_sets, spectral_penalty_param_sets)):
            points = [pt for ps in fn(chapters[stem].params) for pt in points_from_params(ps)]
            assert points


def test_param_sets_register_as_the_chapters_grids(monkeypatch):
    """Registered in ``config.PARAM_SETS``, the grids are what the book's validation and the sweep list."""
    from spectral_lib.companion import profiles as config

    monkeypatch.setitem(config.PARAM_SETS, CHAPTERS[0], smooth_alternatives_param_sets)
    monkeypatch.setitem(config.PARAM_SETS, CHAPTERS[1], spectral_penalty_param_sets)
    p9 = {**QUICK, "activations": ["relu", "gelu"], "gaussian_betas": [1.0], "explain_time_betas": [1.0],
          "lowpass_cutoffs": [0.25]}
    pts = config.chapter_points(CHAPTERS[0], p9)
    assert [c.activation for c, _ in pts] == ["relu", "gelu", "gaussian:1.8138", "relu"]
    assert "lowpass_grad:0.25" in pts[-1][1].methods
    p10 = {**QUICK, "activations": ["relu", "sp:1"], "penalty_strengths": [2.0]}
    assert [c.penalty_strength for c, _ in config.chapter_points(CHAPTERS[1], p10)] == [0.0, 0.0, 2.0]
    with pytest.raises(config.ParameterError, match=r"penalty_strengths\[0\]"):
        config.chapter_points(CHAPTERS[1], {**p10, "penalty_strengths": [float("nan")]})


def test_gap_chapter_lists_its_post_hoc_grid_for_the_sweep():
    """The gap chapter reads the explain-time surrogates' records of the ReLU networks (shared with the
    smooth-alternatives chapter): its registered grids list them, so a sweep of the profile computes them too."""
    from spectral_lib.companion import profiles as config

    p5 = {**QUICK, "activations": ["relu", "sp:1"], "methods": ["vanilla_grad", "smooth_grad"],
          "explain_time_betas": [1.0], "lowpass_cutoffs": [0.25]}
    pts = config.chapter_points("05_explanation_gap", p5)
    assert [c.activation for c, _ in pts] == ["relu", "sp:1", "relu"]
    assert pts[-1][1].methods == ("vanilla_grad", "smooth_grad", "beta_smooth_grad:1", "lowpass_grad:0.25")
    assert pts[0][0].key() == pts[-1][0].key()  # the same ReLU network, evaluated once more
    with pytest.raises(config.ParameterError, match="lowpass_cutoffs"):
        config.chapter_points("05_explanation_gap", {**p5, "lowpass_cutoffs": [0.0]})
