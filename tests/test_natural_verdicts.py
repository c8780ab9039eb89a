"""The natural-image chapters' grids (``experiments.natural_images``) and sentences (``experiments.natural_verdicts``)
on small hand-made records: monotone and tied EF, one seed, NaN EF, an empty grid, a dropped network."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from spectral_lib.checks import ParameterError
from spectral_lib.experiments import natural_verdicts as nv
from spectral_lib.experiments import paper_gap_table, points_from_params
from spectral_lib.experiments.natural_images import (TABLE_A_METHODS, ablation_depth, cifar10_grids,
                                                     jpeg_effect_grids, table_a_grids)

INF = math.inf


def rec(beta, seed=0, ef=(1.0, 1.0), efn=None, cap=True, epochs=3.0, extra=None, profile=None, lr=3e-3):
    """A record as run_point returns it; ``ef`` in units of 1e-5 (VanillaGrad's per-image EF), ``extra``: method ->
    per-image EF (x1e-5)."""
    act = "ReLU" if beta == INF else f"SP({beta:g})"
    spec = "relu" if beta == INF else f"sp:{beta:g}"
    methods = {"vanilla_grad": ef, **(extra or {})}
    t = {m: torch.tensor(v, dtype=torch.float64) * 1e-5 for m, v in methods.items()}
    return {"activation": act, "beta": beta, "seed": seed,
            "config": {"activation": spec, "lr": lr, "image_size": None, "model_options": {"depth": 3}},
            "train": {"cap_reached": cap, "epochs": epochs, "test_accuracy": 0.61 if cap else 0.4,
                      "train_accuracy": 0.7, "seconds": 36.0},
            "ef": t, "ef_nyquist": {m: v * 1e4 if efn is None else torch.tensor(efn, dtype=torch.float64)
                                    for m, v in t.items()},
            "gap_ef": {m: (v - t["vanilla_grad"]).abs() for m, v in t.items()},
            "profile": {"vanilla_grad": torch.tensor(profile if profile is not None else [10.0, 1, 1, 1, 1])},
            "examples": {m: torch.rand(2, 4, 4) for m in methods}, "images": torch.randn(2, 3, 4, 4)}


def grid(betas=(0.5, 1.0, 2.0, 5.0, INF), seeds=(0, 1, 2), slope=1.0):
    """Networks whose EF grows with beta (ReLU highest), a little seed noise."""
    out = []
    for i, b in enumerate(betas):
        for s in seeds:
            v = 1.0 + slope * i + 0.01 * s
            out.append(rec(b, s, ef=(v, v + 0.02, v - 0.02)))
    return out


# --------------------------------------------------------------------------------------------------- grids
def test_table_a_grids_main_first_then_sizes_with_their_depths():
    P = {"image_size": 224, "model_options": {"depth": 7}, "size_ablation": [112, 64], "size_depths": {112: 6, "64": 5},
         "activations": ["relu", "sp:0.9"], "seeds": [0], "methods": list(TABLE_A_METHODS)}
    g = table_a_grids(P)
    assert [s for s, _ in g] == [224, 112, 64]
    assert [d["model_options"]["depth"] for _, d in g] == [7, 6, 5] and g[1][1]["image_size"] == 112
    assert table_a_grids({**P, "size_ablation": []}) == [(224, {**P, "size_ablation": []})]
    with pytest.raises(ParameterError, match=r"08_table_a: parameter 'size_depths'.*missing 46"):
        table_a_grids({**P, "size_ablation": [46]}, "08_table_a")
    with pytest.raises(ParameterError, match=r"size_depths.*2\*\*d <= 64"):
        ablation_depth({64: 7}, 64)
    with pytest.raises(ParameterError, match="size_ablation"):
        table_a_grids({**P, "size_ablation": [0]})


def test_cifar10_gap_grid_reuses_the_networks_of_the_ef_grid():
    P = {"dataset": "cifar10_jpeg", "activations": ["relu", "sp:1", "sp:5"], "seeds": [2, 0], "n_images": 10,
         "gap_specs": ["relu", "sp:1"], "gap_methods": ["vanilla_grad", "smooth_grad"], "gap_images": 5,
         "model_options": {"depth": 3}, "n_train": 1000, "lr": 3e-3}
    g = cifar10_grids(P)
    ef_nets = {c.key() for c, _ in points_from_params(g["ef"])}
    gap = points_from_params(g["gap"])
    assert len(gap) == 2 and {c.seed for c, _ in gap} == {2} and {c.key() for c, _ in gap} <= ef_nets
    assert {s.n_images for _, s in gap} == {5}
    with pytest.raises(ParameterError, match="gap_specs"):
        cifar10_grids({**P, "gap_specs": ["sp:2"]})


def test_jpeg_effect_grid_trains_the_ef_vs_beta_chapters_digit_networks():
    """With the quick profile's chapter-4 training rules, the mnist5k arm of the JPEG grid is chapter 4's networks
    (same cache keys), so the quick book trains only the two processed variants."""
    from spectral_lib.companion.profiles import chapter_parameters, load_profile

    _, prof = load_profile("quick")
    ch4 = chapter_parameters("04_ef_vs_beta", prof).params
    ch7 = chapter_parameters("07_cifar10", prof).params
    grids = jpeg_effect_grids(ch7)
    assert list(grids) == ch7["jpeg_datasets"]
    keys4 = {(c.activation, c.seed): c.key() for c, _ in points_from_params(ch4)}
    for c, _ in points_from_params(grids["mnist5k"]):
        assert keys4[(c.activation, c.seed)] == c.key()
    other = {c.dataset for c, _ in points_from_params(grids["mnist5k_jpeg75"])}
    assert other == {"mnist5k_jpeg75"}
    with pytest.raises(ParameterError, match="jpeg_datasets"):
        jpeg_effect_grids({**ch7, "jpeg_datasets": ["mnist5k_jpg"]})


# ------------------------------------------------------------------------------------------------- training
def test_network_table_and_cap_table():
    recs = grid() + [rec(0.2, 0, ef=(float("nan"), float("nan")), cap=False, epochs=30)]
    t = nv.network_table(recs)
    assert list(t.columns) == ["activation", "beta", "lr", "seed", "epochs", "test_accuracy", "cap_reached",
                               "ef_paper", "ef_nyquist"]
    assert t.loc[t.activation == "relu", "beta"].tolist() == [INF] * 3
    assert math.isnan(t["ef_paper"].iloc[-1]) and not t["cap_reached"].iloc[-1]
    assert t["ef_paper"].iloc[0] == pytest.approx(1e-5)  # unscaled
    c = nv.cap_table(recs)
    assert c.loc["sp:0.2", "passed"] == 0 and math.isnan(c.loc["sp:0.2", "epochs to cap"])
    assert c.loc["sp:0.5", "passed"] == 3 and c.loc["sp:0.5", "epochs to cap"] == 3.0
    assert not c.loc["sp:0.2", "in the paper's CIFAR-10 figure"] and c.loc["relu", "in the paper's CIFAR-10 figure"]
    note = nv.training_note(recs, 0.6)
    assert "1 of 16 networks never passed" in note and "SP(0.2) seed 0" in note
    assert nv.training_note([], 0.6) == "No network was trained (empty grid)."


# ------------------------------------------------------------------------------------------------ EF vs beta
def test_ef_beta_sentence_monotone_ties_one_seed_empty():
    s = nv.ef_beta_sentence(grid())
    assert "ρ = +1.00 (n = 5, p = 0.017)" in s and "EF grows with β, as the paper finds" in s
    assert "bootstrap interval over networks [+1.00, +1.00]" in s and "ReLU: 3" in s
    three = nv.ef_beta_sentence(grid(betas=(1.0, 2.0, INF)))
    assert "the run cannot tell (with n = 3 the smallest possible p is 0.333)" in three
    one = nv.ef_beta_sentence(grid(seeds=(0,)))
    assert "no interval (one network per β)" in one
    tied = nv.ef_beta_sentence(grid(slope=0.0, seeds=(0,)))
    assert "undefined" in tied or "cannot tell" in tied
    assert nv.ef_beta_sentence([]).startswith("No network passed the cap")
    falling = nv.ef_beta_sentence(grid(slope=-1.0))
    assert "against the paper" in falling


def test_smoothest_ratio_needs_an_interval_below_one():
    s = nv.smoothest_ratio_sentence(grid())
    assert "SP(0.5)" in s and "lower than ReLU" in s
    one = nv.smoothest_ratio_sentence(grid(seeds=(0,)))
    assert "cannot tell" in one and "no interval" in one
    assert "no ReLU and SP" in nv.smoothest_ratio_sentence([r for r in grid() if r["beta"] != INF])


# ---------------------------------------------------------------------------------------------------- spectra
def test_tail_share_by_hand():
    assert nv.tail_share([100.0, 1, 1, 1, 1]) == pytest.approx(0.75)  # bins 2..4 of 1..4 (R = 5, from r >= 2)
    assert nv.tail_share([5.0, 3, 1, 1]) == pytest.approx(2 / 5)  # R = 4: from r >= ceil(1.5) = 2
    assert math.isnan(nv.tail_share([1.0, 0, 0, 0]))
    assert math.isnan(nv.tail_share([1.0, 2.0]))


def test_tail_sentence_heavier_for_relu():
    heavy, light = [10.0, 1, 1, 2, 2], [10.0, 4, 2, 0.2, 0.2]
    recs = [rec(INF, s, profile=[v * (1 + 0.01 * s) for v in heavy]) for s in range(3)]
    recs += [rec(1.0, s, profile=[v * (1 + 0.01 * s) for v in light]) for s in range(3)]
    s = nv.tail_sentence(recs)
    assert "against SP(1)" in s and "ReLU heavier" in s
    assert "no ReLU and SP" in nv.tail_sentence(recs[:3])


# -------------------------------------------------------------------------------------------------------- gaps
def _pair(sg_relu, sg_sp, n=20):
    rng = np.random.default_rng(0)
    vg = tuple(1.0 + 0.01 * rng.standard_normal(n))
    return [rec(INF, 0, ef=vg, extra={"smooth_grad": tuple(np.array(vg) - sg_relu)}),
            rec(0.9, 0, ef=vg, extra={"smooth_grad": tuple(np.array(vg) - sg_sp)})]


def test_gap_sentence_smaller_for_sp_only_with_an_interval():
    s = nv.gap_sentence(_pair(0.3, 0.01), methods=["smooth_grad"])
    assert "SmoothGrad (smooth_grad)" in s and "smaller for the SP network" in s
    same = nv.gap_sentence(_pair(0.1, 0.1), methods=["smooth_grad"])
    assert "cannot tell" in same
    assert "None of the surrogate" in nv.gap_sentence(_pair(0.1, 0.1), methods=["captum_deeplift"])
    assert "no ReLU and SP" in nv.gap_sentence(_pair(0.1, 0.1)[:1])


def test_table_a_uses_the_papers_arithmetic_and_flags_missing_rows():
    recs = _pair(0.3, 0.01)
    paper = pd.DataFrame({"ReLU EF": [0.39, 0.286], "ReLU dEF": [0.0, 0.104], "SP(0.9) EF": [0.202, 0.196],
                          "SP(0.9) dEF": [0.0, 0.005]}, index=["vanilla_grad", "smooth_grad"])
    t = nv.table_a(recs, paper)
    assert list(t.index) == ["VanillaGrad", "SmoothGrad", "IntGrad", "GuidedBP", "DeepLift", "GradCAM"]
    gap = paper_gap_table(recs, "ef", 1e5)
    assert t.loc["SmoothGrad", "ours ReLU ΔEF"] == pytest.approx(gap.loc["smooth_grad", "ReLU"])
    assert t.loc["SmoothGrad", "ours ReLU ΔEF"] == pytest.approx(0.3)
    assert t.loc["VanillaGrad", "ours SP(0.9) ΔEF"] == 0.0
    assert math.isnan(t.loc["IntGrad", "ours ReLU EF"]) and math.isnan(t.loc["IntGrad", "paper ReLU EF"])
    assert t.loc["GradCAM", "method (what it is)"] == "captum_guided_grad_cam"
    s = nv.table_a_sentences(t, nv.relu_sp_records(recs))
    assert "The published table gives 0.52" in s and "smaller for the SP network" in s
    nan = [rec(INF, 0, ef=(1.0, float("nan"), 1.1)), rec(0.9, 0, ef=(0.5, 0.6, 0.55))]
    s2 = nv.table_a_sentences(nv.table_a(nan), nv.relu_sp_records(nan))
    assert "1 VanillaGrad EF values were NaN" in s2 and "lower" in s2
    assert "cannot be compared" in nv.table_a_sentences(t, (None, recs[1]))
    rows, names = nv.example_rows(recs, ["vanilla_grad", "smooth_grad"])
    assert names == ["ReLU", "SP(0.9)"] and len(rows[0]) == 3 and float(rows[0][0].max()) == pytest.approx(1.0)


def test_size_ablation_table_and_sentence():
    ok = _pair(0.3, 0.01)
    ok[1]["ef"]["vanilla_grad"] = ok[1]["ef"]["vanilla_grad"] * 0.5
    ok[1]["ef_nyquist"]["vanilla_grad"] = ok[1]["ef_nyquist"]["vanilla_grad"] * 0.5
    dropped = [ok[0], {**ok[1], "train": {**ok[1]["train"], "cap_reached": False}}]
    t = nv.size_ablation_table([(224, ok), (64, dropped)])
    assert t.loc[224, "ratio EF nyquist"] == pytest.approx(0.5, rel=1e-3) and t.loc[64, "passed"] == "1 of 2"
    assert math.isnan(t.loc[64, "ratio EF x1e5"])
    s = nv.size_ablation_sentence(t)
    assert "224 px: 0.50" in s and "SP lower" in s and "64 px: no ReLU and SP pair past the cap" in s
    assert nv.size_ablation_sentence(None) == "No input size was run."


def test_jpeg_effect_table_and_sentence():
    ref = grid(betas=(1.0, INF))
    same = grid(betas=(1.0, INF))
    lower = [rec(r["beta"], r["seed"], ef=tuple(0.8 * np.asarray(r["ef"]["vanilla_grad"]) * 1e5)) for r in ref]
    grids = {"mnist5k": ref, "mnist5k_jpeg75": same, "mnist5k_resized": lower}
    t = nv.jpeg_effect_table(grids)
    row = t[(t.dataset == "mnist5k_resized") & (t.beta == 1.0)].iloc[0]
    assert row["ratio to reference"] == pytest.approx(0.8) and row["high"] < 1
    assert t[t.dataset == "mnist5k"]["ratio to reference"].isna().all()
    s = nv.jpeg_effect_sentence(t, grids)
    assert "mnist5k_jpeg75: EF ratio to mnist5k between 1.000 and 1.000" in s and "none of them" in s
    assert "mnist5k_resized" in s and "β = 1 0.800" in s
    assert nv.jpeg_effect_sentence(pd.DataFrame(), grids) == "The JPEG-effect grid was not run."


# -------------------------------------------------------------------------------------------------------- data
def test_data_status_absent_and_found(tmp_path, monkeypatch):
    monkeypatch.delenv("SPECTRAL_LIB_IMAGENETTE", raising=False)
    monkeypatch.setenv("SPECTRAL_LIB_CACHE", str(tmp_path / "cache"))
    st = nv.data_status("imagenette_jpeg224")
    assert not st.available and st.message.startswith("**Data folder absent: this page shows no numbers.**")
    assert "SPECTRAL_LIB_IMAGENETTE" in st.message and "imagenette_path" in st.message
    archive = tmp_path / "imagenette-jpeg224.tar.gz"
    archive.write_bytes(b"not checked here")
    st = nv.data_status("imagenette_jpeg224", str(archive))
    assert st.available and str(archive) in st.message and "not the official files" in st.message
    import os

    assert os.environ["SPECTRAL_LIB_IMAGENETTE"] == str(archive)  # exported for the training code
    assert nv.data_status("imagenette").available
