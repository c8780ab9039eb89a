"""The book's outcome sentences (``spectral_lib.experiments.verdicts*``) on small hand-made records, branch by branch:
a trend word only where an interval over seeds excludes no effect, "the run cannot tell" otherwise (one seed, an
interval that straddles the null, too few networks for a p-value below 0.05), NaN EF and empty grids; and the
statistics and measurements they rest on (sign test, grouped bootstrap, the penalty's raw tail share, the fair
benchmark)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from spectral_lib.checks import ParameterError
from spectral_lib.experiments import points_from_params, run_points
from spectral_lib.experiments import penalty_cost as pc
from spectral_lib.experiments import verdicts as v
from spectral_lib.experiments import verdicts_ablations as va
from spectral_lib.experiments import verdicts_penalty as vp
from spectral_lib.experiments import verdicts_spatial as vs
from spectral_lib.experiments import verdicts_theorem1 as vt
from spectral_lib.experiments import verdicts_width as vw
from spectral_lib.experiments.grids import (ablation_param_sets, native_size, spatial_arms, spatial_grids,
                                            spectral_penalty_param_sets)
from spectral_lib.experiments.spatial import ORDER_COLUMNS
from spectral_lib.experiments.stats import (CANNOT_TELL, Interval, bootstrap_rows_ci, bootstrap_stat_ci, spearman,
                                            spearman_test, sign_test)
from spectral_lib.training import TrainConfig

INF = math.inf


# ---------------------------------------------------------------------------------------------- stats helpers
def test_sign_test_is_the_exact_binomial_test():
    # n values all on one side: p = 2 * 0.5**n (two-sided); 5 of 5 is not below 0.05, 6 of 6 is
    assert sign_test([0.5, 0.6, 0.7, 0.8, 0.9], 1.0) == {"below": 5, "above": 0, "n": 5, "p": pytest.approx(2 / 32)}
    assert sign_test([0.5] * 6, 1.0)["p"] == pytest.approx(2 / 64)
    r = sign_test([0.2, 0.4, 1.0, 1.3, float("nan"), 0.9, 0.1], 1.0)  # the value at the null and NaN are left out
    assert (r["below"], r["above"], r["n"]) == (4, 1, 5)
    assert r["p"] == pytest.approx(sps.binomtest(4, 5, 0.5).pvalue)
    assert math.isnan(sign_test([], 1.0)["p"]) and sign_test([], 1.0)["n"] == 0


def test_bootstrap_stat_ci_resamples_each_group_and_needs_two_values_per_group():
    iv = bootstrap_stat_ci(lambda a, b: b.mean() - a.mean(), [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]])
    assert iv.value == pytest.approx(1.0) and iv.low < 1.0 < iv.high and iv.n == 3
    one = bootstrap_stat_ci(lambda a, b: b.mean() - a.mean(), [[1.0, 2.0], [5.0]])
    assert one.value == pytest.approx(3.5) and math.isnan(one.low) and one.n == 1  # one seed: no interval
    empty = bootstrap_stat_ci(lambda a, b: 0.0, [[1.0], [float("nan")]])
    assert math.isnan(empty.value) and empty.n == 0


def test_bootstrap_rows_ci_keeps_every_group_size():
    data = np.array([[0, 1.0], [0, 2.0], [0, 3.0], [1, 10.0], [1, 20.0]])
    groups = [0, 0, 0, 1, 1]
    # the number of rows of group 0 in a draw is the group's size in every draw: a degenerate interval at 3
    iv = bootstrap_rows_ci(lambda d: float((d[:, 0] == 0).sum()), data, groups, n_boot=200)
    assert (iv.value, iv.low, iv.high, iv.n) == (3.0, 3.0, 3.0, 2)
    mean = bootstrap_rows_ci(lambda d: d[d[:, 0] == 1, 1].mean(), data, groups, n_boot=500)
    assert mean.value == 15.0 and 10.0 <= mean.low <= 15.0 <= mean.high <= 20.0
    single = bootstrap_rows_ci(lambda d: d[:, 1].mean(), data, [0, 0, 0, 1, 2])
    assert single.n == 1 and math.isnan(single.low)
    with pytest.raises(ValueError, match="group labels"):
        bootstrap_rows_ci(lambda d: 0.0, data, [0, 1])
    assert math.isnan(bootstrap_rows_ci(lambda d: 0.0, np.empty((0, 2)), []).value)


# --------------------------------------------------------------------------------------------- generic pieces
def test_interval_verdict_and_its_reasons():
    assert v.interval_verdict(Interval(0.8, 0.7, 0.9, 3), "higher", "lower", 1.0) == "0.8 [0.7, 0.9] (n = 3): lower"
    assert v.interval_verdict(Interval(1.2, 1.1, 1.3, 3), "higher", "lower", 1.0).endswith(": higher")
    straddle = v.interval_verdict(Interval(0.9, 0.7, 1.1, 3), "higher", "lower", 1.0)
    assert straddle.endswith(f"{CANNOT_TELL} (the interval contains 1)")
    one_seed = v.interval_verdict(Interval(0.5, math.nan, math.nan, 1), "higher", "lower", 1.0)
    assert one_seed.endswith(f"{CANNOT_TELL} (n = 1: no interval (one seed))")
    assert "undefined" in v.why_undecided(Interval(math.nan, math.nan, math.nan, 0), 0.0)
    assert v.why_undecided(Interval(0.5, 0.4, 0.6, 3), 0.0) == ""


def test_smallest_p_is_the_exact_permutation_floor():
    for n in range(2, 7):  # the exact test's p for a perfect ordering is its floor: 2 of n! orderings reach |rho| = 1
        assert v.smallest_p(n) == pytest.approx(spearman_test(range(n), range(n))["p"])
    assert v.smallest_p(4) == pytest.approx(1 / 12) and v.smallest_p(10) == 0.0 and math.isnan(v.smallest_p(1))


def test_rho_text_and_evidence_word():
    text, r = v.rho_text([1, 2, 3, 4, 5, 6], [2, 4, 5, 7, 8, 9])
    assert text == "ρ = +1.00 (n = 6, p = 0.003)" and r["p"] == pytest.approx(2 / 720)
    assert v.evidence_word(r, "up", "down") == "up"
    assert v.evidence_word(spearman_test([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]), "up", "down") == "down"
    four = v.evidence_word(spearman_test([1, 2, 3, 4], [1, 2, 3, 4]), "up", "down")
    assert four == f"{CANNOT_TELL} (with n = 4 the smallest possible p is 0.0833)"  # a perfect ordering of 4
    assert v.evidence_word(spearman_test([1, 2, 3, 4, 5, 6], [2, 1, 4, 3, 6, 5]), "up", "down").startswith(
        CANNOT_TELL)  # rho = 0.83, p = 0.058 (exact)
    assert v.rho_text([1, 2, 3], [5, 5, 5])[0] == "ρ undefined (n = 3)"
    assert v.evidence_word({"rho": math.nan, "p": math.nan, "n": 3}, "up", "down").startswith(CANNOT_TELL)


def test_fmt_dropped_note_and_seed_note():
    assert (v.fmt(None), v.fmt(float("nan")), v.fmt(3), v.fmt(0.12345), v.fmt(INF)) == ("none", "n/a", "3", "0.123",
                                                                                        "inf")
    assert v.dropped_note([], 4, 0.9) == "All 4 networks passed the accuracy cap (0.9); none was dropped."
    rec = {"activation": "SP(0.3)", "seed": 1, "train": {"test_accuracy": 0.5, "epochs": 30}}
    assert "1 of 4 networks never passed" in v.dropped_note([rec], 4, 0.9) and "SP(0.3) seed 1" in v.dropped_note(
        [rec], 4, 0.9)
    assert "no interval" in v.seed_count_note([0]) and "3 seeds" in v.seed_count_note([0, 1, 2])


# ---------------------------------------------------------------------------------------------- chapter 3
def _t1(pool: str, seeds, monotone: bool = True):
    rows = []
    for i, (act, beta) in enumerate([("SP(0.3)", 0.3), ("SP(1)", 1.0), ("SP(5)", 5.0), ("ReLU", INF)]):
        for s in seeds:
            mass = 10.0 ** (-8 + i + 0.1 * s)  # heavier tail for larger beta
            slope = (-6 + i + 0.1 * s) if monotone else (-3 - i - 0.1 * s)
            rows.append({"pool": pool, "activation": act, "beta": beta, "seed": s, "line_tail_mass": mass,
                         "grad_tail_slope": slope, "grad_ef": 1e-4 * (1 + i), "grad_ef_nyquist": 0.1 + 0.01 * i})
    return pd.DataFrame(rows)


def test_theorem1_correlations_and_verdicts_per_pool():
    df = pd.concat([_t1("max", [0, 1, 2]), _t1("avg", [0, 1, 2], monotone=False)], ignore_index=True)
    table = vt.correlation_table(df, "pool")
    assert list(table.index) == ["max", "avg"] and (table["networks"] == 12).all()
    sub = df[df["pool"] == "max"]
    assert table.loc["max", "rho(line_tail_mass, grad_tail_slope)"] == pytest.approx(
        spearman(sub["line_tail_mass"], sub["grad_tail_slope"]))
    assert table.loc["max", "p(line_tail_mass, grad_tail_slope)"] == pytest.approx(
        sps.spearmanr(sub["line_tail_mass"], sub["grad_tail_slope"]).pvalue, rel=0.05)  # n = 12: t approximation
    assert vt.theorem1_verdict(sub) == "borne out"
    assert vt.theorem1_verdict(df[df["pool"] == "avg"]) == "contradicted"
    text = vt.theorem1_sentences(df)
    assert "**max-pool CNN** (12 networks: 4 activations x 3 seeds)" in text and "tail): **borne out**." in text
    assert "**contradicted**" in text and "decades" in text


def test_theorem1_one_seed_cannot_tell_and_says_why():
    df = _t1("max", [0])
    assert vt.theorem1_verdict(df) == f"{CANNOT_TELL} (with n = 4 the smallest possible p is 0.0833)"
    text = vt.theorem1_sentences(df)
    assert "4 activations x 1 seed)" in text and "more networks" in text and "borne out" not in text


def test_theorem1_edge_cases_empty_and_nan():
    assert "No network passed the cap" in vt.theorem1_sentences(pd.DataFrame())
    df = _t1("max", [0, 1])
    df["grad_tail_slope"] = np.nan  # a NaN side: undefined, never "borne out"
    assert vt.theorem1_verdict(df).startswith(CANNOT_TELL)
    assert "ρ undefined" in vt.theorem1_sentences(df)
    assert list(vt.correlation_table(df.drop(columns=["grad_ef_nyquist"]), "pool").columns)[-2:] == [
        "rho(line_tail_mass, grad_ef)", "p(line_tail_mass, grad_ef)"]  # missing columns are skipped


def test_ranked_tail_mass_ties_unresolved_masses_at_the_bottom():
    mass = [1e-6, 2e-8, 3e-8, 5e-7, np.nan]
    floor = [1e-9, 1e-8, 1e-8, 1e-9, 1e-9]  # 2e-8 and 3e-8 are under 10x their floor
    values, n_low = vt.ranked_tail_mass(mass, floor)
    assert n_low == 2 and values[:4].tolist() == [1e-6, 0.0, 0.0, 5e-7] and np.isnan(values[4])  # NaN: missing
    assert vt.floor_status(5, n_low, values) == "tied"
    assert vt.ranked_tail_mass(mass, floor, factor=1.0)[1] == 0  # the factor sets "resolved"
    # an unresolved mass that measures above a resolved one: the tie would misorder them, so no ranking at all
    values, n_low = vt.ranked_tail_mass([1e-6, 2e-6], [1e-9, 1e-6])
    assert n_low == 1 and np.isnan(values).all() and vt.floor_status(2, n_low, values) == "misordered"
    assert vt.floor_status(2, 2, np.zeros(2)) == "all below" and vt.floor_status(2, 0, np.ones(2)) == ""
    # no floor column, or an all-NaN one (an older table): the masses as measured
    assert vt.ranked_tail_mass(mass[:4], None)[0].tolist() == mass[:4]
    assert vt.ranked_tail_mass(mass[:4], [np.nan] * 4)[0].tolist() == mass[:4]
    with pytest.raises(ValueError, match="floor must have the shape"):
        vt.ranked_tail_mass(mass, floor[:2])


def test_theorem1_correlation_ranks_rounding_noise_as_a_tie():
    # the avg-pool case of chapter 3: three ReLU networks resolved, nine SP networks at the measurement floor whose
    # measured masses are noise in the opposite order to their gradient slopes
    df = _t1("avg", [0, 1, 2])
    sp = df["activation"] != "ReLU"
    df["line_floor_mass"] = np.where(sp, 1e-8, 1e-10)
    df.loc[sp, "line_tail_mass"] = np.linspace(3e-8, 1e-8, int(sp.sum()))  # noise, reversed against the slope
    raw = spearman(df["line_tail_mass"], df["grad_tail_slope"])
    table = vt.correlation_table(df, "pool")
    ranked = np.where(sp, 0.0, df["line_tail_mass"])
    assert table.loc["avg", "below floor"] == 9
    assert table.loc["avg", "rho(line_tail_mass, grad_tail_slope)"] == pytest.approx(
        spearman(ranked, df["grad_tail_slope"]))
    assert table.loc["avg", "rho(line_tail_mass, grad_tail_slope)"] != pytest.approx(raw)
    text = vt.theorem1_sentences(df)
    assert "9 of 12 line tail masses (SP(0.3), SP(1), SP(5)) are below their measurement floor" in text
    assert "measured in float64" not in text  # no line_dtype column: nothing said about it
    assert "the resolved line tail masses span 1.0e-05 to 1.6e-05" in text  # the span is the resolved masses' only
    assert f"({vt.MOSTLY_TIED})" in text  # 9 of 12 tied: the verdict says what it tests
    assert vt.mostly_tied(12, 9, np.zeros(12)) and not vt.mostly_tied(12, 5, np.zeros(12))
    assert not vt.mostly_tied(12, 9, np.full(12, np.nan))  # misordered: no ranking, nothing tested
    # every network below the floor: a constant side, so the run cannot tell, and says that precision, not more
    # networks, is missing
    df["line_floor_mass"] = 1.0
    assert vt.theorem1_verdict(df).startswith(CANNOT_TELL)
    text = vt.theorem1_sentences(df)
    assert "all 12 line tail masses are below their measurement floor" in text
    assert "those tails need the line spectra in float64" in text
    assert "more networks (seeds or activations) are needed" not in text
    # measured in float64 already (theorem1_summary's default for unresolved float32 tails): the floor left is the
    # window's, so the remedy is a window that leaks less, and the sentence counts the float64 networks
    text = vt.theorem1_sentences(df.assign(line_dtype="float64"))
    assert "12 of 12 measured in float64" in text and "a window that leaks less" in text
    assert "need the line spectra in float64" not in text
    mixed = df.assign(line_dtype=np.where(sp, "float64", "float32"))
    text = vt.theorem1_sentences(mixed)
    assert "9 of 12 measured in float64" in text and "need the line spectra in float64" in text


# ---------------------------------------------------------------------------------------------- chapter 6
def _abl_rec(act, seed, ef, config=None):
    return {"activation": act, "seed": seed, "config": {"activation": act, "seed": seed, "lr": 1e-3,
                                                          **(config or {})},
            "train": {"test_accuracy": 0.9, "epochs": 3}, "ef": {"vanilla_grad": torch.tensor(ef)},
            "ef_nyquist": {"vanilla_grad": torch.tensor(ef) * 1e4}}


def _abl_df(ratios: dict, seeds=(0,), shared=()):
    """ratios: (axis, value) -> SP/ReLU ratio; ``shared``: settings that are the same network pair as the first."""
    rows = []
    for k, ((axis, value), ratio) in enumerate(ratios.items()):
        cfg = {"setting": 0 if (axis, value) in shared else k + 1}
        for s in seeds:
            rows += va.ablation_rows(axis, value, [_abl_rec("ReLU", s, [1e-4 * (1 + 0.01 * s)] * 2, cfg),
                                                   _abl_rec("SP(1)", s, [ratio * 1e-4 * (1 + 0.01 * s)] * 2, cfg)])
    return pd.DataFrame(rows)


def test_ablation_rows_and_setting_identity():
    a, b = (va.setting_id({"activation": x, "seed": s, "lr": lr, "depth": 2}) for x, s, lr in
            [("relu", 0, 1e-3), ("sp:1", 2, 3e-3)])
    assert a == b != va.setting_id({"activation": "relu", "seed": 0, "lr": 1e-3, "depth": 3})
    rows = va.ablation_rows("depth", "2", [_abl_rec("ReLU", 0, [1e-4, float("nan")]),
                                          _abl_rec("SP(1)", 0, [float("nan"), float("nan")])])
    assert rows[0]["EF x1e5"] == pytest.approx(10.0) and math.isnan(rows[1]["EF x1e5"])  # NaN images skipped


def test_ablation_ratios_count_a_shared_network_once_and_state_one_seed():
    ratios = {("depth", "1"): 0.8, ("depth", "2"): 0.7, ("noise", "0"): 0.7, ("blur", "0"): 0.7, ("SK / BN", "BN"): 1.1,
              ("size", "16"): 0.85, ("size", "42"): 0.75, ("L2", "0.001"): 0.72, ("depth", "3"): 0.78}
    df = _abl_df(ratios, shared=[("depth", "2"), ("noise", "0"), ("blur", "0")])
    table = va.ablation_ratios(df)
    paper = table[table["metric"] == "EF x1e5"].set_index(["axis", "value"])
    assert paper.loc[("depth", "1"), "ratio"] == pytest.approx(0.8) and math.isnan(paper.loc[("depth", "1"), "low"])
    text = va.ablation_sentences(df)
    # 9 settings, 3 of them the same network pair: 7 distinct, 6 below 1 -> sign test p = 2 * (1 + 7) / 2**7
    assert "below 1 at 6 of 7 distinct settings" in text and f"p = {2 * 8 / 128:.2g}" in text
    assert "SK / BN BN (1.10)" in text and "One seed per setting" in text
    assert "lower than ReLU" in text  # the geometric mean's interval over settings lies below 1


def test_ablation_sentences_with_seeds_nan_and_empty():
    df = _abl_df({("depth", "1"): 0.8, ("depth", "3"): 0.6, ("size", "16"): 0.99}, seeds=(0, 1, 2))
    text = va.ablation_sentences(df)
    assert "the interval over seeds excludes 1 at" in text and "One seed" not in text
    nan = _abl_df({("depth", "1"): 0.8, ("depth", "3"): 0.7})
    nan.loc[(nan["activation"] == "SP(1)") & (nan["value"] == "3"), ["EF x1e5", "EF nyquist"]] = np.nan
    assert "1 setting(s) left out (NaN EF)" in va.ablation_sentences(nan)
    only_relu = _abl_df({("depth", "1"): 0.8})
    assert "No setting" in va.ablation_sentences(only_relu[only_relu["activation"] == "SP(1)"])
    assert "No setting" in va.ablation_sentences(pd.DataFrame())


# ---------------------------------------------------------------------------------------------- chapter 9
BETAS = [(("SP(1)", 1.0)), ("SP(2)", 2.0), ("ReLU", INF)]


def _orders(conditions: dict, seeds=(0, 1, 2), arm="cnn", image: dict | None = None):
    """conditions: label -> function (index of beta, seed) -> Nyquist EF; ``image``: the same for image order."""
    rows = []
    for cond, f in conditions.items():
        for i, (act, beta) in enumerate(BETAS):
            for s in seeds:
                base = {"arm": arm, "condition": cond, "activation": act, "beta": beta, "seed": s,
                        "tail_slope": -2.0 + 0.3 * i + 0.01 * s, "sg_gap": (0.1 + 0.2 * i) * (1 + 0.05 * s),
                        "epochs": 3.0, "test_accuracy": 0.9}
                rows.append({**base, "order": "array", "ef": 10 * f(i, s), "ef_nyquist": f(i, s)})
                if image and cond in image:
                    rows.append({**base, "order": "image", "ef": 10 * image[cond](i, s),
                                 "ef_nyquist": image[cond](i, s)})
    return pd.DataFrame(rows, columns=ORDER_COLUMNS)


def _t1_spatial(conditions: dict, seeds=(0, 1, 2), arm="cnn"):
    rows = []
    for cond, f in conditions.items():
        for i, (act, beta) in enumerate(BETAS):
            for s in seeds:
                rows.append({"arm": arm, "condition": cond, "activation": act, "beta": beta, "seed": s,
                             "line_tail_mass": 10.0 ** (-8 + i + 0.05 * s), "line_tail_slope": -3.0,
                             "grad_tail_slope": f(i, s), "grad_ef": 1e5 * f(i, s), "grad_ef_nyquist": f(i, s),
                             "image_tail_slope": f(i, s), "image_ef": 1e5 * f(i, s)})
    return pd.DataFrame(rows)


def up(i, s):
    return 0.1 + 0.05 * i + 0.003 * s


def flat(i, s):
    return 0.2 + 0.01 * ((i * 7 + s * 3) % 5)  # no order in beta


def test_relative_slope_is_per_decade_and_ignores_relu():
    data = np.array([[0.1, 1.0], [1.0, 2.0], [10.0, 3.0], [INF, 9.0]])
    assert vs.relative_slope(data[None])[0] == pytest.approx(1.0 / 2.0)  # slope 1 per decade over a mean of 2
    assert math.isnan(vs.relative_slope(np.array([[[1.0, 1.0], [INF, 2.0]]]))[0])
    stack = np.stack([data, data * [1, 2]])  # the same betas, EF doubled: the relative slope does not change
    assert np.allclose(vs.relative_slope(stack), 0.5)


def test_batched_rank_correlation_is_spearman():
    rng = np.random.default_rng(1)
    stack = np.stack([np.column_stack([np.repeat([1.0, 2.0, INF], 3), rng.integers(0, 4, 9).astype(float)])
                      for _ in range(50)])
    ours = vs._rho(stack)
    ref = np.array([spearman(t[:, 0], t[:, 1]) for t in stack])
    assert np.allclose(ours, ref, equal_nan=True) and np.isnan(ref).any() == np.isnan(ours).any()


def test_measure_table_states_weaker_only_when_the_difference_excludes_zero():
    orders = _orders({"natural": up, "permuted": flat})
    t1 = _t1_spatial({"natural": up, "permuted": up})
    table = vs.measure_table(orders, t1).set_index(["measure", "condition", "order"])
    rho = table.loc[("EF-vs-β rank correlation (Nyquist EF)", "natural", "array")]
    assert rho["value"] == pytest.approx(spearman([b for _, b in BETAS for _ in range(3)],
                                                  [up(i, s) for i in range(3) for s in range(3)]))
    assert rho["p"] < 0.01 and rho["networks"] == 9 and rho["seeds"] == 3 and rho["verdict"] == ""
    perm = table.loc[("EF-vs-β rank correlation (Nyquist EF)", "permuted", "array")]
    assert perm["verdict"] == "weaker" and perm["diff_high"] < 0
    same = table.loc[("Theorem 1's link: rank correlation of line tail mass and gradient tail slope", "permuted",
                      "array")]
    assert same["diff"] == pytest.approx(0.0) and same["verdict"].startswith(CANNOT_TELL)
    text = vs.measure_sentences(vs.measure_table(orders, t1))
    assert "**weaker**" in text and f"{CANNOT_TELL} whether it weakens" in text
    assert "measures are" not in text and "borne out" not in text  # no tally, no vote


def test_measure_table_says_when_the_line_tails_are_below_the_measurement_floor():
    # the MLP arm of the quick build: every line tail mass at its measurement floor, so Theorem 1's measures are not
    # measured (not "undefined: too few networks"); the CNN arm, resolved, is unchanged by the floor column
    orders = _orders({"natural": up, "permuted": up})
    mlp = _t1_spatial({"natural": up, "permuted": up}, arm="mlp").assign(line_floor_mass=1.0)
    cnn = _t1_spatial({"natural": up, "permuted": up}).assign(line_floor_mass=1e-12)
    table = vs.measure_table(orders, pd.concat([cnn, mlp], ignore_index=True))
    link = "Theorem 1's link: rank correlation of line tail mass and gradient tail slope"
    m = table[(table["arm"] == "mlp") & (table["measure"] == link)]
    assert (m["below floor"] == 9).all() and m["value"].isna().all()
    c = table[(table["arm"] == "cnn") & (table["measure"] == link)].set_index("condition")
    assert (c["below floor"] == 0).all()
    assert c.loc["natural", "value"] == pytest.approx(vs.measure_table(orders, cnn.drop(columns="line_floor_mass"))
                                                      .set_index(["measure", "condition"]).loc[(link, "natural"),
                                                                                               "value"])
    text = vs.measure_sentences(table)
    mlp_line = next(line for line in text.split("\n") if line.startswith(f"* **MLP, {link}"))
    assert "not measured (all 9 line tail masses below their measurement floor)" in mlp_line
    assert "these line tails are below the measurement floor" in mlp_line and "too few networks" not in mlp_line


def test_measure_table_says_when_the_floor_leaves_no_ranking():
    # one unresolved mass that measures above a resolved one: not measured, not "all below", and no ordinary verdict
    orders = _orders({"natural": up, "permuted": up})
    t1 = _t1_spatial({"natural": up, "permuted": up}).assign(line_floor_mass=1e-12)
    t1.loc[0, "line_floor_mass"] = 1.0  # the lowest-mass network of each condition: below its floor, yet above...
    t1.loc[0, "line_tail_mass"] = 1.0  # ...every resolved mass
    table = vs.measure_table(orders, t1)
    link = "Theorem 1's link: rank correlation of line tail mass and gradient tail slope"
    row = table[(table["measure"] == link) & (table["condition"] == "natural")].iloc[0]
    assert row["floor"] == "misordered" and row["below floor"] == 1 and np.isnan(row["value"])
    text = vs.measure_sentences(table)
    line = next(x for x in text.split("\n") if x.startswith(f"* **CNN, {link}"))
    assert "one of them above a resolved one: no ranking" in line and "all 1 line tail" not in line


def test_measure_table_one_seed_and_empty():
    table = vs.measure_table(_orders({"natural": up, "permuted": flat}, seeds=(0,)), _t1_spatial({}, seeds=(0,)))
    perm = table[(table["condition"] == "permuted")].iloc[0]
    assert perm["seeds"] == 1 and "one seed" in perm["verdict"]
    empty = vs.measure_table(pd.DataFrame(columns=ORDER_COLUMNS), pd.DataFrame(columns=["arm"]))
    assert len(empty) == 0 and "no measure" in vs.measure_sentences(empty)


def test_beta_effect_survives_is_stated_plainly_and_only_with_evidence():
    text = vs.beta_effect_sentences(_orders({"natural": up, "permuted": up}))
    assert text.count("**survives the permutation**") == 2 and "Gradient tail slope per activation" in text
    rev = vs.beta_effect_sentences(_orders({"natural": up, "permuted": lambda i, s: up(2 - i, s)}))
    assert "**is reversed by the permutation**" in rev
    few = vs.beta_effect_sentences(_orders({"natural": up, "permuted": up}, seeds=(0,)))
    assert f"{CANNOT_TELL} whether it survives" in few  # 3 networks: p >= 1/3
    assert "No CNN networks" in vs.beta_effect_sentences(_orders({"permuted": up}))


def test_orders_sentences_pair_each_network_and_check_the_mlp_symmetry():
    cnn = _orders({"natural": up, "permuted": up}, image={"permuted": lambda i, s: up(i, s) - 0.05})
    text = vs.orders_sentences(cnn, white=0.356)
    assert "lower in image order" in text and "white noise 0.356" in text
    mlp = _orders({"natural": up, "permuted": flat}, arm="mlp", image={"permuted": up})
    text = vs.orders_sentences(mlp, white=0.356)
    assert "the interval contains 0, as the symmetry predicts" in text
    off = _orders({"natural": up, "permuted": flat}, arm="mlp", image={"permuted": lambda i, s: up(i, s) + 0.2})
    assert "which the symmetry does not predict" in vs.orders_sentences(off, white=0.356)
    assert "no network" in vs.orders_sentences(pd.DataFrame(columns=ORDER_COLUMNS), 0.3)


def test_smoothgrad_gap_ratio_needs_an_interval():
    text = vs.smoothgrad_gap_sentences(_orders({"natural": up}))
    assert "SP(1)" in text and "smaller for the smoother network" in text  # gap 0.1 vs 0.5, three seeds
    one = vs.smoothgrad_gap_sentences(_orders({"natural": up}, seeds=(0,)))
    assert "one seed" in one and "smaller for" not in one.split("ratio")[1]
    no_sg = _orders({"natural": up}).assign(sg_gap=np.nan)
    assert "no condition" in vs.smoothgrad_gap_sentences(no_sg)


def test_neighbour_sentence():
    neigh = pd.DataFrame({"neighbour correlation": [0.871, 0.0123]}, index=["natural", "permuted"])
    assert vs.neighbour_sentence(neigh) == ("**This run.** Neighbour-pixel correlation of the test inputs: natural "
                                            "0.871; permuted 0.0123.")
    assert "no input condition" in vs.neighbour_sentence(pd.DataFrame())


# ---------------------------------------------------------------------------------------------- chapter 10
def _width_df(ratio_of_width, seeds=(0, 1, 2), widths=(0.25, 0.5, 1, 2), noise=0.02):
    rows = []
    rng = np.random.default_rng(0)
    for w in widths:
        for s in seeds:
            relu = 10.0 * (1 + noise * rng.standard_normal())
            for act, beta, ef in [("ReLU", INF, relu), ("SP(1)", 1.0, relu * ratio_of_width(w)
                                                        * (1 + noise * rng.standard_normal()))]:
                rows.append({"width": w, "activation": act, "beta": beta, "seed": s, "epochs": 3.0, "test acc": 0.91,
                             "seconds": 1.0, "EF x1e5": ef, "EF nyquist": ef / 100})
    return pd.DataFrame(rows)


def test_width_trend_is_stated_only_when_its_interval_excludes_zero():
    grows = _width_df(lambda w: 0.7 * w ** -0.2)
    trend = vw.ratio_trend(grows, "width", "SP(1)", "EF x1e5")
    assert trend.value == pytest.approx(-0.2, abs=0.03) and trend.high < 0
    text = vw.width_sentences(grows)
    assert "the ratio: **falls as the network widens: the SP advantage grows**" in text
    assert "the interval lies below 1 at 4 of 4 widths" in text
    flat_df = _width_df(lambda w: 0.8, noise=0.1)
    assert f"{CANNOT_TELL} whether it changes with width" in vw.width_sentences(flat_df)
    shrinks = _width_df(lambda w: 0.8 * w ** 0.3)
    assert "the SP advantage shrinks" in vw.width_sentences(shrinks)


def test_width_one_seed_cannot_tell_even_with_a_clean_trend():
    one = _width_df(lambda w: 0.8 * w ** -0.2, seeds=(0,), noise=0.0)
    text = vw.width_sentences(one)
    assert f"{CANNOT_TELL} whether it changes with width (n = 1: no interval (one seed))" in text
    assert "grows" not in text and "the interval lies below 1 at 0 of 4 widths" in text
    assert "No width" in vw.width_sentences(one[one["activation"] == "SP(1)"])
    assert "No network of the width study" in vw.training_sentence(pd.DataFrame(), "width study", 0.9)
    assert "from 0.910 to 0.910 over the 8 kept networks" in vw.training_sentence(one, "width study", 0.9)


def test_network_rows_skip_nan_images():
    rec = {"activation": "SP(1)", "beta": 1.0, "seed": 0, "config": {}, "train": {"epochs": 4, "test_accuracy": 0.9,
                                                                                  "seconds": 2.0},
           "ef": {"vanilla_grad": torch.tensor([1e-5, float("nan")])},
           "ef_nyquist": {"vanilla_grad": torch.tensor([float("nan"), float("nan")])}}
    row = vw.network_rows([(0.5, rec)], "width", n_parameters=lambda c: 7)[0]
    assert row["width"] == 0.5 and row["parameters"] == 7 and row["EF x1e5"] == pytest.approx(1.0)
    assert math.isnan(row["EF nyquist"])


def _size_df(seeds=(0, 1, 2)):
    rows = []
    bins = {16: 12, 28: 21, 42: 31}
    for size, R in bins.items():
        for s in seeds:
            for act, beta, k in [("ReLU", INF, 1.0), ("SP(1)", 1.0, 0.8), ("SP(0.5)", 0.5, 0.7),
                                 ("GELU", math.nan, 0.9)]:
                ef = k * 3000.0 * R ** -2.0 * (1 + 0.01 * s)
                rows.append({"size": size, "activation": act, "beta": beta, "seed": s, "epochs": 3.0,
                             "test acc": 0.9, "seconds": 1.0, "EF x1e5": ef, "EF nyquist": 0.2 * k})
    return pd.DataFrame(rows), bins


def test_size_exponent_and_sentences():
    df, bins = _size_df()
    k = vw.size_exponent(df, bins, "ReLU")
    assert k.value == pytest.approx(-2.0, abs=1e-6) and k.low <= -2.0 <= k.high
    text = vw.size_sentences(df, bins)
    assert "k = -2" in text and "SP(1) / ReLU, paper EF: 16 px: 0.8" in text and "lower" in text
    assert "No size" in vw.size_sentences(pd.DataFrame(), bins)
    one = vw.size_sentences(df[df["size"] == 16], bins)
    assert "one size: no exponent" in one and "k =" not in one


def test_published_size_sentences_pick_the_nearest_beta_by_its_value_not_its_label():
    df, bins = _size_df()
    text = vw.published_size_sentences(2.0, 1.5, 159, df, bins, target_beta=0.9)
    assert "a ratio of **0.75**" in text
    assert "Our SP(1) / ReLU ratio" in text  # |log(1/0.9)| < |log(0.5/0.9)|; GELU (beta NaN) is never picked
    relu42 = df[(df["activation"] == "ReLU") & (df["size"] == 42)]["EF x1e5"].mean()
    assert f"{relu42 * (159 / 31) ** -2.0:.3f} x1e-5 at R = 159" in text  # ef0 (R224 / R0)^k with k = -2
    gauss = df.assign(activation=df["activation"].replace({"SP(1)": "Gauss(1.8)"}),
                      beta=df["beta"].where(df["activation"] != "SP(1)", math.nan))
    assert "Our SP(0.5) / ReLU ratio" in vw.published_size_sentences(2.0, 1.5, 159, gauss, bins)


# ---------------------------------------------------------------------------------------------- chapter 12
def _pen_rec(setting, seed, ef, strength=0.0, beta=INF, epochs=3.0, seconds=5.0, act="relu"):
    name = "ReLU" if act == "relu" else f"SP({beta:g})"
    return {"activation": name, "beta": beta, "seed": seed,
            "config": {"activation": act, "penalty_strength": strength, "penalty_kind": "tail_share"},
            "ef": {"vanilla_grad": torch.tensor([ef * 1e-5] * 2)},
            "train": {"epochs": epochs, "test_accuracy": 0.91, "seconds": seconds}}


def _pen_nets(pen_ef=10.0, sp_ef=12.0, noise=0.1, pen_raw=0.1):
    recs, raws, maps = [], [], []
    for s in range(3):
        d = noise * (s - 1)
        for rec, raw in [(_pen_rec("ReLU", s, 16 + d), 0.4), (_pen_rec("pen", s, pen_ef + d, strength=3.0), pen_raw),
                         (_pen_rec("sp", s, sp_ef + d, beta=1.0, act="sp:1", epochs=10.0), 0.3)]:
            recs.append(rec); raws.append(raw + 0.01 * s); maps.append(0.2)
    nets = vp.network_table(recs, raws, maps)
    bench = pd.DataFrame({"s/epoch": {"ReLU": 1.0, "ReLU + penalty 3": 3.0, "SP(1)": 1.2}})
    return nets, vp.summary_table(nets, bench)


def test_penalty_summary_orders_settings_and_computes_the_cost():
    nets, table = _pen_nets()
    assert list(table.index) == ["ReLU", "ReLU + penalty 3", "SP(1)"]
    assert table.loc["SP(1)", "cost"] == pytest.approx(10.0 * 1.2) and table.loc["ReLU", "networks"] == 3
    with pytest.raises(ValueError, match="one raw and one map"):
        vp.network_table([_pen_rec("ReLU", 0, 1.0)], [], [])


def test_penalty_effect_on_its_target_and_on_ef():
    nets, table = _pen_nets()
    text = vp.effect_sentences(nets, table, 0.25)
    # raw tail 0.11 (mean of 0.10, 0.11, 0.12) against 0.41: x0.27
    assert "its target, the raw gradient's tail share above 0.25 cycles/px: x0.27" in text
    assert "lower" in text.split("the rank-normalised")[0]
    assert "the rank-normalised maps' tail share: x1 " in text and CANNOT_TELL in text  # 0.2 vs 0.2: no change
    assert "cost per epoch x3.0" in text
    assert "No plain ReLU" in vp.effect_sentences(nets, table.drop(index="ReLU"), 0.25)
    assert "No penalised" in vp.effect_sentences(nets, table.drop(index="ReLU + penalty 3"), 0.25)


def test_budget_answers_only_what_the_intervals_decide():
    nets, table = _pen_nets(pen_ef=10.0, sp_ef=12.0)  # penalty: cost 9 s, EF 10; SP(1): cost 12 s (not within 9 s)
    text = vp.budget_sentences(nets, table)
    assert "no SP setting within that budget" in text and "Answer on this measure" in text
    nets, table = _pen_nets()
    table.loc["ReLU + penalty 3", "cost"] = 20.0  # now SP(1) (12 s, EF 12) fits the penalty's budget
    text = vp.budget_sentences(nets, table)
    assert "lower for λ = 3" in text and "**the spectral penalty" in text
    nets, table = _pen_nets(pen_ef=13.0, sp_ef=12.0)
    table.loc["ReLU + penalty 3", "cost"] = 20.0
    assert "**SP(β), at every budget" in vp.budget_sentences(nets, table)
    nets, table = _pen_nets(pen_ef=12.05, sp_ef=12.0, noise=2.0)
    table.loc["ReLU + penalty 3", "cost"] = 20.0
    assert f"**{CANNOT_TELL} in general" in vp.budget_sentences(nets, table)
    assert "nothing to compare" in vp.budget_sentences(nets, table[table["family"] != "SP"])
    assert "nothing to compare" in vp.budget_sentences(nets, pd.DataFrame())
    assert "No network passed" in vp.accuracy_sentence(pd.DataFrame(), 0.9)


# ------------------------------------------------------------------------------------ chapter 12 measurements
def test_map_tail_share_derives_its_bins_from_the_maps():
    profile = np.zeros(20)
    profile[0], profile[8] = 100.0, 1.0  # bin 8: 8/28 = 0.286 cycles/px for 28 px, 8/32 = 0.25 for 32 px
    assert pc.map_tail_share(profile, 28, 28, 0.25) == 1.0
    assert pc.map_tail_share(profile, 32, 40, 0.25) == 0.0  # min(H, W) = 32: not strictly above the cut-off
    assert math.isnan(pc.map_tail_share([5.0, 0.0], 28, 28, 0.25))
    assert "$r/28$" in pc.bin_frequency_note(28, 28) and "$r/16$" in pc.bin_frequency_note(16, 20)


def test_raw_tail_share_is_the_raw_gradient_spectrum_above_the_cutoff():
    """Against an independent computation: the input gradient of the predicted class's log-softmax, summed over
    channels, mean removed, its radial profile (spectral.radial_profile), share of the bins above the cut-off."""
    from spectral_lib.nn import build_model
    from spectral_lib.spectral import radial_profile

    torch.manual_seed(0)
    model = build_model("simple_cnn", "relu", (2, 12, 12), 5, depth=1, width=4, fc=8).double().eval()
    x = torch.randn(6, 2, 12, 12, dtype=torch.float64)
    xr = x.clone().requires_grad_(True)
    out = torch.log_softmax(model(xr), 1)
    (g,) = torch.autograd.grad(out.gather(1, out.argmax(1, keepdim=True)).sum(), xr)
    maps = g.sum(1)
    maps = maps - maps.mean(dim=(1, 2), keepdim=True)
    prof = radial_profile(maps)[:, 1:]
    f = torch.arange(1, prof.shape[1] + 1, dtype=torch.float64) / 12
    expected = float((prof[:, f > 0.3].sum(1) / prof.sum(1)).mean())
    assert pc.raw_tail_share(model, x, 0.3) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="cutoff"):
        pc.raw_tail_share(model, x, -1.0)


def test_cost_classes_ignore_beta_and_strength():
    base = TrainConfig(activation="sp:1")
    assert pc.cost_class(base) == pc.cost_class(TrainConfig(activation="sp:0.3"))
    assert pc.cost_class(base) != pc.cost_class(TrainConfig(activation="relu"))
    p1, p10 = (TrainConfig(activation="relu", penalty_strength=s) for s in (1.0, 10.0))
    assert pc.cost_class(p1) == pc.cost_class(p10) != pc.cost_class(TrainConfig(activation="relu"))


def test_benchmark_warms_up_rotates_and_takes_the_median(monkeypatch):
    calls = []
    fake = {"ReLU": [9.0, 1.0, 2.0, 3.0], "SP(1)": [9.0, 4.0, 6.0, 5.0], "ReLU + penalty 1": [9.0, 7.0, 7.0, 8.0]}

    def epoch_seconds(config, epochs, splits):
        label = {"relu": "ReLU", "sp:1": "SP(1)"}[config.activation] if not config.penalty_strength else \
            "ReLU + penalty 1"
        calls.append(label)
        return fake[label][sum(c == label for c in calls) - 1]

    monkeypatch.setattr(pc, "_epoch_seconds", epoch_seconds)
    configs = {"ReLU": TrainConfig(activation="relu"), "SP(1)": TrainConfig(activation="sp:1"),
               "SP(0.3)": TrainConfig(activation="sp:0.3"),
               "ReLU + penalty 1": TrainConfig(activation="relu", penalty_strength=1.0)}
    table = pc.benchmark_settings(configs, epochs=1, repeats=3, splits=object())
    reps = ["ReLU", "SP(1)", "ReLU + penalty 1"]
    assert calls[:3] == reps  # one warm-up each, not timed
    assert calls[3:] == reps + reps[1:] + reps[:1] + reps[2:] + reps[:2]  # round k starts at representative k
    assert table.loc["ReLU", "s/epoch"] == 2.0 and table.loc["SP(1)", "s/epoch"] == 5.0
    assert table.loc["SP(0.3)", "timed as"] == "SP(1)" and table.loc["SP(0.3)", "s/epoch"] == 5.0
    assert (table.loc["ReLU + penalty 1", ["min", "max", "rounds"]] == [7.0, 8.0, 3]).all()
    with pytest.raises(ValueError, match="repeats"):
        pc.benchmark_settings(configs, repeats=0)


# -------------------------------------------------------------------------------------------------- grids
QUICKISH = {"dataset": "mnist5k", "model": "simple_cnn", "model_options": {"depth": 2}, "activations": ["relu", "sp:2"],
            "seeds": [0, 1], "accuracy_cap": 0.9, "max_epochs": 30, "lr": 1e-3, "lr_by_activation": {},
            "batch_size": 256, "n_images": 200, "noise_std": 0.1, "n_samples": 64, "device": "cpu",
            "theorem1_images": 32, "conditions": ["natural", "permuted"], "permutation_seed": 0}


def test_spatial_arms_add_an_mlp_with_the_same_conditions_seeds_and_rules():
    arms = spatial_arms({**QUICKISH, "mlp_options": {"hidden": [64]}})
    cnn = [(c.label, k, d) for a, c, k, d in arms if a == "cnn"]
    assert [(lab, k) for lab, k, _ in cnn] == [(c.label, k) for c, k, _ in spatial_grids(QUICKISH)]
    mlp = [(c, k, d) for a, c, k, d in arms if a == "mlp"]
    assert [(c.label, k) for c, k, _ in mlp] == [("natural", "ef"), ("natural", "theorem1"), ("permuted", "ef"),
                                                 ("permuted", "theorem1")]
    pts = points_from_params(mlp[2][2])
    assert {(c.model, tuple(c.model_options["hidden"]), c.pixel_permutation, c.seed) for c, _ in pts} == {
        ("mlp", (64,), 0, 0), ("mlp", (64,), 0, 1)}
    assert [a for a, *_ in spatial_arms(QUICKISH)] == ["cnn"] * 4  # no mlp_options: no MLP arm
    assert [a for a, *_ in spatial_arms({**QUICKISH, "mlp_options": None})] == ["cnn"] * 4
    with pytest.raises(ParameterError, match="09: parameter 'mlp_options' = \\[256\\] is invalid"):
        spatial_arms({**QUICKISH, "mlp_options": [256]}, "09")


def test_native_input_size_shares_the_unresized_networks():
    assert native_size("mnist5k", 28) is None and native_size("mnist5k", 16) == 16
    assert native_size("mnist5k", None) is None and native_size("not a dataset", 28) == 28
    params = {**QUICKISH, "activations": ["relu"], "seeds": [0], "depths": [], "skip_bn": [], "image_sizes": [28],
              "train_noise_stds": [], "train_blur_sigmas": [], "weight_decays": []}
    (_, label, d), = ablation_param_sets(params)
    assert label == "28"
    (ours, _), = points_from_params(d)
    (chapter4, _), = points_from_params({**QUICKISH, "activations": ["relu"], "seeds": [0]})
    assert ours.key() == chapter4.key()  # the same network: 28 px digits are not resized


def test_penalty_grids_check_the_benchmark_parameters():
    base = {**QUICKISH, "activations": ["relu"], "penalty_strengths": [1.0]}
    assert spectral_penalty_param_sets({**base, "benchmark_repeats": 3})
    with pytest.raises(ValueError, match="benchmark_repeats"):
        spectral_penalty_param_sets({**base, "benchmark_repeats": 0})


# -------------------------------------------------------------------------------- spatial tables, end to end
def test_order_and_theorem1_tables_end_to_end_on_digits(tmp_path):
    """Tiny networks (one epoch on 8x8 digits), natural and permuted, CNN and MLP arms: the tables hold one array-order
    row per natural network and both orders per permuted one; array-order EF is the record's."""
    from spectral_lib.experiments.spatial import order_table, theorem1_table

    params = {"dataset": "digits", "model": "simple_cnn", "model_options": {"depth": 1, "width": 4, "fc": 16},
              "mlp_options": {"hidden": [16]}, "activations": ["relu", "sp:2"], "seeds": [0], "accuracy_cap": None,
              "max_epochs": 1, "lr": 2e-3, "batch_size": 128, "n_images": 6, "n_samples": 2, "device": "cpu",
              "theorem1_images": 3, "conditions": ["natural", "permuted"], "permutation_seed": 1}
    frames, t1s = [], []
    for arm, c, kind, d in spatial_arms(params):
        recs = run_points(points_from_params(d), tmp_path, progress=False)
        if kind == "ef":
            frames.append(order_table(arm, c, recs, 6, tmp_path))
            if c.label == "natural":
                rec = recs[0]
                row = frames[-1].iloc[0]
                assert row["ef"] == pytest.approx(float(rec["ef"]["vanilla_grad"].double().mean()) * 1e5, rel=1e-5)
        else:
            t1s.append(theorem1_table(arm, c, recs, 3, tmp_path))
    orders, t1 = pd.concat(frames, ignore_index=True), pd.concat(t1s, ignore_index=True)
    counts = orders.groupby(["arm", "condition"])["order"].apply(lambda s: sorted(set(s))).to_dict()
    assert counts == {("cnn", "natural"): ["array"], ("cnn", "permuted"): ["array", "image"],
                      ("mlp", "natural"): ["array"], ("mlp", "permuted"): ["array", "image"]}
    nat = t1[t1["condition"] == "natural"]
    assert np.allclose(nat["image_tail_slope"], nat["grad_tail_slope"])  # natural images: one order
    assert (orders["sg_gap"] >= 0).all() and len(t1) == 8
    table = vs.measure_table(orders, t1)
    assert set(table["arm"]) == {"cnn", "mlp"}  # one seed: every comparison says the run cannot tell
    assert table.loc[table["verdict"] != "", "verdict"].str.startswith(CANNOT_TELL).all()
