"""The scorecard (spectral_lib.experiments.scorecard): verdict rules and every row function on small hand-made tables
in the chapters' formats, including the edge cases: one seed (no interval), ties, NaN EF, an empty table, a chapter
that did not run, a malformed table."""
from __future__ import annotations

import csv
import math

import numpy as np
import pandas as pd
import pytest

from spectral_lib.experiments import scorecard as sc
from spectral_lib.experiments import scorecard_rows as rows
from spectral_lib.experiments.stats import Interval, spearman_test


def _build(tmp_path, tables: dict[str, pd.DataFrame], dataset="mnist5k", index=False) -> sc.Build:
    for key, df in tables.items():
        stem, name = key.split("/")
        (tmp_path / stem).mkdir(parents=True, exist_ok=True)
        df.to_csv(tmp_path / stem / f"{name}.csv", index=index)
    stems = {k.split("/")[0] for k in tables} | {"02_lemma1", "04_ef_vs_beta"}
    return sc.Build(tmp_path, {s: {"profile": "tiny", "dataset": dataset} for s in stems})


def _networks(ef: dict[str, list[float]], betas: dict[str, float], cap=True, lr=1e-3):
    recs = []
    for act, values in ef.items():
        for seed, v in enumerate(values):
            recs.append({"activation": act, "beta": betas[act], "lr": lr, "seed": seed, "epochs": 3,
                         "test_accuracy": 0.91, "cap_reached": cap, "ef_paper": v, "ef_nyquist": v / 100})
    return pd.DataFrame(recs)


BETAS = {"ReLU": math.inf, "SP(5)": 5.0, "SP(1)": 1.0, "SP(0.3)": 0.3}


# ---------------------------------------------------------------------------------------------------- the rules
def test_interval_verdict_both_directions_and_undefined():
    above, below = Interval(0.5, 0.2, 0.8, 3), Interval(-0.5, -0.8, -0.2, 3)
    straddle, single = Interval(0.1, -0.1, 0.3, 3), Interval(0.5, math.nan, math.nan, 1)
    assert sc.interval_verdict(above, "above") == sc.REPRODUCED
    assert sc.interval_verdict(below, "above") == sc.NOT_REPRODUCED
    assert sc.interval_verdict(below, "below", kind="ours") == sc.HOLDS
    assert sc.interval_verdict(above, "below", kind="ours") == sc.DOES_NOT_HOLD
    assert sc.interval_verdict(straddle, "above") == sc.CANNOT_TELL
    assert sc.interval_verdict(single, "above") == sc.CANNOT_TELL  # one seed: no interval, no verdict word
    assert sc.interval_verdict(Interval(0.9, 0.8, 0.95, 3), "below", null=1.0) == sc.REPRODUCED
    with pytest.raises(ValueError):
        sc.interval_verdict(above, "up")


def test_correlation_verdict_needs_p_below_alpha():
    assert sc.correlation_verdict({"rho": 1.0, "p": 0.0002, "n": 7}, "positive") == sc.REPRODUCED
    assert sc.correlation_verdict({"rho": -1.0, "p": 0.0002, "n": 7}, "positive") == sc.NOT_REPRODUCED
    assert sc.correlation_verdict({"rho": 1.0, "p": 1 / 3, "n": 3}, "positive") == sc.CANNOT_TELL  # 3 networks
    assert sc.correlation_verdict({"rho": math.nan, "p": math.nan, "n": 2}, "negative") == sc.CANNOT_TELL


def test_row_refuses_inconsistent_verdicts():
    base = dict(claim="c", source="this companion", chapter="04_ef_vs_beta", dataset="d", measure="m")
    with pytest.raises(ValueError):
        sc.Row(**base, value=1.0, verdict=sc.REPRODUCED, kind="ours")  # our questions hold, they are not reproduced
    with pytest.raises(ValueError):
        sc.Row(**base, value=math.nan, verdict=sc.HOLDS, kind="ours")  # a verdict needs a number
    with pytest.raises(ValueError):
        sc.Row(**{**base, "source": "a blog"}, value=1.0, verdict=sc.HOLDS, kind="ours")


# ---------------------------------------------------------------------------------------------------- the rows
def test_ef_beta_row_reproduced_with_seeds_and_cannot_tell_with_one(tmp_path):
    """EF rising with beta over 4 activations x 3 seeds, well separated: the per-beta means are monotone (rho = 1,
    exact p = 2/24 > 0.05 with 4 betas!) so the verdict needs more betas; with 6 it is reproduced. One seed: the
    interval is undefined and the run cannot tell."""
    betas = {"ReLU": math.inf, "SP(10)": 10.0, "SP(5)": 5.0, "SP(2)": 2.0, "SP(1)": 1.0, "SP(0.3)": 0.3}
    ef = {a: [10 + 2 * k + 0.1 * s for s in range(3)] for k, a in enumerate(reversed(list(betas)))}
    build = _build(tmp_path, {"04_ef_vs_beta/ef_vs_beta_networks": _networks(ef, betas)})
    r = rows.ef_beta_mnist(build)
    assert r.verdict == sc.REPRODUCED and r.value == pytest.approx(1.0) and r.n == 18
    assert r.interval_low == pytest.approx(1.0) and r.dataset == "mnist5k"
    one = _build(tmp_path / "one", {"04_ef_vs_beta/ef_vs_beta_networks": _networks(
        {a: v[:1] for a, v in ef.items()}, betas)})
    r1 = rows.ef_beta_mnist(one)
    assert r1.verdict == sc.CANNOT_TELL and math.isnan(r1.interval_low)
    four = {a: ef[a] for a in ("ReLU", "SP(5)", "SP(1)", "SP(0.3)")}
    r4 = rows.ef_beta_mnist(_build(tmp_path / "four", {"04_ef_vs_beta/ef_vs_beta_networks": _networks(four, BETAS)}))
    assert r4.value == pytest.approx(1.0) and r4.verdict == sc.CANNOT_TELL  # p = 1/12 with 4 betas


def test_ef_beta_row_drops_uncapped_and_centred_networks(tmp_path):
    df = _networks({"ReLU": [3, 3.1], "SP(1)": [2, 2.1]}, BETAS)
    extra = _networks({"SPc(1)": [9, 9]}, {"SPc(1)": 1.0})
    missed = _networks({"SP(0.3)": [99, 99]}, BETAS, cap=False)
    build = _build(tmp_path, {"04_ef_vs_beta/ef_vs_beta_networks": pd.concat([df, extra, missed])})
    assert rows.ef_beta_mnist(build).n == 4  # only the capped ReLU and SP networks


def test_rows_not_computed_without_tables_and_with_malformed_tables(tmp_path):
    build = sc.Build(tmp_path, {})
    for r in sc.scorecard(build, rows.ROWS):
        assert r.verdict == sc.NOT_COMPUTED and r.detail.startswith("needs "), r
    bad = _build(tmp_path / "bad", {"04_ef_vs_beta/ef_vs_beta_networks": pd.DataFrame({"x": [1]})})
    r = sc.scorecard(bad, [rows.ef_beta_mnist])[0]
    assert r.verdict == sc.NOT_COMPUTED and "could not be read" in r.detail


def test_gap_rows(tmp_path):
    """SmoothGrad lowers the ReLU network's EF (ratio < 1, reproduced) and its gap on SP(0.3) is below ReLU's."""
    recs = []
    for seed in range(3):
        for act, beta, vg, sg in (("ReLU", math.inf, 20.0, 14.0), ("SP(0.3)", 0.3, 12.0, 11.8)):
            e = 0.01 * seed
            recs += [{"activation": act, "beta": beta, "seed": seed, "method": "vanilla_grad", "ef_paper": vg + e,
                      "delta_ef": 0.0},
                     {"activation": act, "beta": beta, "seed": seed, "method": "smooth_grad", "ef_paper": sg + e,
                      "delta_ef": abs(vg - sg) + e}]
    build = _build(tmp_path, {"05_explanation_gap/gap_networks": pd.DataFrame(recs)})
    r = rows.posthoc_gap(build)
    assert r.verdict == sc.REPRODUCED and r.value == pytest.approx(14.01 / 20.01, rel=1e-3)
    r = rows.sp_gap(build)
    assert r.verdict == sc.REPRODUCED and r.interval_high < 1


def test_lemma1_row_ordering_and_round_off_floor(tmp_path):
    col = "tail mass above omega=5 (measured)"
    good = pd.DataFrame({"activation": ["SP(1)", "SP(3)", "ReLU"], "beta": [1.0, 3.0, math.inf],
                         col: [1e-10, 1e-6, 1e-3]})
    assert rows.lemma1(_build(tmp_path / "a", {"02_lemma1/activation_tail_mass": good})).verdict == sc.REPRODUCED
    wrong = good.assign(**{col: [1e-3, 1e-6, 1e-2]})
    assert rows.lemma1(_build(tmp_path / "b", {"02_lemma1/activation_tail_mass": wrong})).verdict == \
        sc.NOT_REPRODUCED
    floor = good.assign(**{col: [1e-17, 1e-18, 1e-16]})  # every value at the round-off floor: nothing to order
    assert rows.lemma1(_build(tmp_path / "c", {"02_lemma1/activation_tail_mass": floor})).verdict == sc.CANNOT_TELL


def test_theorem1_row_reads_each_pool(tmp_path):
    n = 8
    df = pd.DataFrame({"pool": ["max"] * n + ["avg"] * n, "activation": ["x"] * 2 * n, "beta": list(range(2 * n)),
                       "seed": 0, "log10 line tail mass": list(range(n)) * 2,
                       "grad EF x1e5": list(range(n)) + list(range(n))[::-1]})
    build = _build(tmp_path, {"03_theorem1/theorem1_networks": df})
    assert rows.theorem1_max(build).verdict == sc.REPRODUCED  # rho = +1 over 8 networks, p < 0.001
    avg = rows.theorem1_avg(build)
    assert avg.verdict == sc.DOES_NOT_HOLD and avg.value == pytest.approx(-1.0) and "p = " in avg.measure


def test_theorem1_row_ranks_masses_below_the_measurement_floor_as_a_tie(tmp_path):
    # 4 resolved networks (mass and EF rising together) and 4 at the floor whose noise masses run against their EF
    mass = [-6.0, -5.5, -5.0, -4.5, -7.9, -7.95, -8.0, -8.05]
    ef = [5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0]
    df = pd.DataFrame({"pool": "avg", "activation": ["relu"] * 4 + ["sp:1"] * 4, "beta": [math.inf] * 4 + [1.0] * 4,
                       "seed": [0, 1, 2, 3] * 2, "log10 line tail mass": mass, "grad EF x1e5": ef,
                       "log10 line floor mass": [-9.0] * 4 + [-8.5] * 4})
    r = rows.theorem1_avg(_build(tmp_path / "a", {"03_theorem1/theorem1_networks": df}))
    assert r.value == pytest.approx(spearman_test([1e-6, 10 ** -5.5, 1e-5, 10 ** -4.5, 0, 0, 0, 0], ef)["rho"])
    assert "4 of 8 line tail masses are below their measurement floor" in r.detail
    assert "how the tied networks order among themselves" in r.detail  # half of them tied: said what it tests
    raw = rows.theorem1_avg(_build(tmp_path / "b", {"03_theorem1/theorem1_networks": df.drop(
        columns=["log10 line floor mass"])}))  # an older table: ranked as measured, and it says so
    assert raw.value == pytest.approx(spearman_test(mass, ef)["rho"]) and "no measurement floor" in raw.detail
    assert raw.value != pytest.approx(r.value)
    every = df.assign(**{"log10 line floor mass": 0.0})  # every mass under its floor: not measured, not a number
    e = rows.theorem1_avg(_build(tmp_path / "c", {"03_theorem1/theorem1_networks": every}))
    assert e.verdict == sc.CANNOT_TELL and not np.isfinite(e.value) and "correlation is not measured" in e.detail
    mis = df.copy()
    mis.loc[7, ["log10 line tail mass", "log10 line floor mass"]] = [-4.0, -3.0]  # below its floor, above the rest
    m = rows.theorem1_avg(_build(tmp_path / "d", {"03_theorem1/theorem1_networks": mis}))
    assert m.verdict == sc.CANNOT_TELL and "no ranking can be made" in m.detail


def test_ablations_row_reads_the_wide_table(tmp_path):
    """The chapter's wide CSV (two header rows, (axis, value) index): geometric mean of the SP/ReLU ratios."""
    cols = pd.MultiIndex.from_tuples([("EF x1e5", "ReLU"), ("EF x1e5", "SP(1)"), ("SP / ReLU", "EF x1e5 SP(1)")],
                                     names=["", "activation"])
    idx = pd.MultiIndex.from_tuples([("depth", 1), ("depth", 2), ("SK / BN", "SK=1 BN=1"), ("noise", 0.5)],
                                    names=["axis", "value"])
    ratios = [0.8, 0.7, 0.75, 0.85]
    df = pd.DataFrame([[10, 10 * r, r] for r in ratios], index=idx, columns=cols)
    build = _build(tmp_path, {"06_ablations/ablations": df}, index=True)
    r = rows.ablations(build)
    assert r.value == pytest.approx(float(np.exp(np.log(ratios).mean())))
    assert r.verdict == sc.REPRODUCED and r.interval_high < 1 and r.n == 4


def test_width_row_with_one_width_cannot_tell(tmp_path):
    df = pd.DataFrame({"width": [1.0, 1.0], "activation": ["ReLU", "SP(1)"], "seed": [0, 0],
                       "EF x1e5": [10.0, 8.0]})
    r = rows.width(_build(tmp_path, {"10_width_and_size/width_training_and_ef": df}))
    assert r.value == pytest.approx(0.8) and r.verdict == sc.CANNOT_TELL and r.kind == "ours"


def test_smoothings_row_with_ties_and_nan(tmp_path):
    df = pd.DataFrame({"activation": list("abcdefg"), "tail mass": [1e-9, 1e-9, 1e-7, 1e-6, 1e-5, 1e-4, np.nan],
                       "EF mean": [1.0, 1.1, 2.0, 3.0, 4.0, 5.0, 6.0]})
    r = rows.smoothings(_build(tmp_path, {"11_smooth_alternatives/activation_tail_vs_ef": df}))
    assert r.n == 6 and r.value > 0.9 and r.verdict == sc.HOLDS  # NaN row dropped, tied tails ranked together


def test_training_length_and_penalty_rows(tmp_path):
    fast = _networks({"ReLU": [20.0, 20.2, 19.8]}, BETAS, lr=1e-3)
    slow = _networks({"ReLU": [19.0, 19.4, 19.2]}, BETAS, lr=5e-5)
    sp = _networks({"SP(0.3)": [10.0, 10.1, 9.9]}, BETAS)
    build = _build(tmp_path, {"04_ef_vs_beta/training_length_control": pd.concat([fast, slow, sp])})
    r = rows.training_length(build)
    assert r.verdict == sc.HOLDS and r.value == pytest.approx(19.2 / 10.0)
    # the penalty chapter's own table (networks.csv): only networks at the cap, EF x1e5 in "EF"
    pen = pd.DataFrame({"setting": ["ReLU"] * 2 + ["ReLU + penalty 3"] * 2, "family": ["ReLU"] * 2 + ["penalty"] * 2,
                        "penalty": [0, 0, 3, 3], "seed": [0, 1, 0, 1], "EF": [20.0, 21.0, 12.0, 12.5]})
    r = rows.penalty(_build(tmp_path / "p", {"12_spectral_penalty/networks": pen}))
    assert r.verdict == sc.HOLDS and r.value == pytest.approx(12.25 / 20.5)
    # with a cap column, networks that missed the cap are left out
    pen2 = pen.assign(cap_reached=[True, True, True, False], EF=[20.0, 21.0, 12.0, 99.0])
    r = rows.penalty(_build(tmp_path / "p2", {"12_spectral_penalty/networks": pen2}))
    assert r.value == pytest.approx(12.0 / 20.5)


def test_networks_reads_specs_and_display_names_alike():
    specs = pd.DataFrame({"activation": ["relu", "sp:2", "spc:1"], "beta": [math.inf, 2.0, 1.0],
                          "seed": [0, 0, 0], "cap_reached": [True, True, True], "ef_paper": [3.0, 2.0, 1.0]})
    shown = specs.assign(activation=["ReLU", "SP(2)", "SPc(1)"])
    a, b = rows.networks(specs), rows.networks(shown)
    assert a["activation"].tolist() == b["activation"].tolist() == ["ReLU", "SP(2)"]  # centred SPc left out


def test_csv_has_exactly_the_issue_columns_and_page_links_chapters(tmp_path):
    build = _build(tmp_path, {"02_lemma1/activation_tail_mass": pd.DataFrame(
        {"activation": ["SP(1)", "ReLU"], "beta": [1.0, math.inf], "tail mass (measured)": [1e-9, 1e-3]})})
    result = sc.scorecard(build, rows.ROWS)
    path = sc.write_csv(result, tmp_path / "scorecard.csv")
    with open(path, newline="") as f:
        header = next(csv.reader(f))
    assert tuple(header) == sc.COLUMNS == ("claim", "source", "chapter", "dataset", "measure", "value",
                                           "interval_low", "interval_high", "n", "verdict")
    kinds = [r.kind for r in result]
    assert kinds == sorted(kinds, key=lambda k: k != "paper")  # the paper's claims first
    page = sc.page_markdown(result, {"02_lemma1": "2. Lemma 1"})
    assert "{doc}`2 <_generated/02_lemma1>`" in page and "| 1 | Lemma 1 | **reproduced** |" in page
    assert page.count("not computed in this build") >= 1 and "scorecard.csv" in page


def test_vectorised_bootstrap_rho_equals_spearman():
    """With no spread inside the groups every bootstrap draw is the point rho (ties between group means included,
    ranked as stats.spearman ranks them); a draw with a constant side is dropped (spearman gives NaN there)."""
    from spectral_lib.experiments.stats import spearman

    keys = [0.3, 1.0, 5.0, math.inf]
    values = [np.full(3, v) for v in (2.0, 2.0, 1.0, 4.0)]
    draws = rows._boot_rhos(keys, values, 200, np.random.default_rng(0))
    assert len(draws) == 200 and np.allclose(draws, spearman(keys, [2.0, 2.0, 1.0, 4.0]))
    flat = rows._boot_rhos(keys, [np.full(2, 1.0)] * 4, 50, np.random.default_rng(0))
    assert len(flat) == 0
    rng = np.random.default_rng(3)
    noisy = [rng.normal(m, 1.0, 4) for m in (0, 1, 2, 3)]
    d = rows._boot_rhos(keys, noisy, 500, np.random.default_rng(1))
    assert np.all((d >= -1 - 1e-12) & (d <= 1 + 1e-12)) and set(np.round(d * 5) / 5) <= {-1, -0.8, -0.6, -0.4,
                                                                                      -0.2, 0, 0.2, 0.4, 0.6, 0.8, 1}
