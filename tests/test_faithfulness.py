"""Independent faithfulness: the gradient-form gap, the Quantus suite (wired to Quantus's own classes, sanity
properties on a trained network), the cached per-point evaluation, ties, and every verdict sentence on hand-made
records (including "the run cannot tell", NaN and empty inputs)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from spectral_lib.experiments import points_from_params
from spectral_lib.experiments import faithfulness as fx
from spectral_lib.experiments import verdicts_faithfulness as vf
from spectral_lib.experiments.points import RECORD_METRICS, point_inputs, run_point
from spectral_lib.experiments.stats import CANNOT_TELL
from spectral_lib.experiments.ties import (tie_example, tie_example_sentences, tie_example_table, tie_sentences,
                                           tie_table)
from spectral_lib.experiments.tradeoff import plane_table
from spectral_lib.experiments.verdicts_gap import gap_claim_sentences, network_gaps
from spectral_lib.experiments.verdicts_plane import (betasmooth_direction_sentence, method_difference,
                                                     own_gradient_faithfulness_sentence, plane_sentences,
                                                     within_smoothgrad_sentence)
from spectral_lib.experiments.verdicts_toolkit import ranking, synthetic_sentence, vg_sg_sentences
from spectral_lib.metrics import faithfulness as mf
from spectral_lib.spectral import gradient_gap, lowpass, rank_normalize

quantus = pytest.importorskip("quantus")

# A tiny network trained for one epoch on the real digits: small enough for the suite to run in seconds, trained
# enough for its gradient to carry information (the sanity properties below need that).
TINY = dict(dataset="mnist5k", model="simple_cnn", model_options={"depth": 1}, accuracy_cap=None, max_epochs=1,
            lr=2e-3, batch_size=128, seeds=[0], device="cpu", n_samples=4, ig_steps=4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(cache_dir, config, spec, inputs) of the tiny network explained on 24 test images."""
    cache_dir = tmp_path_factory.mktemp("faith")
    (config, spec), = points_from_params({**TINY, "activations": ["relu"], "n_images": 24,
                                          "methods": ["vanilla_grad", "grad_cam", "smooth_grad"]})
    keep: dict = {}
    rec = run_point(config, spec, cache_dir, progress=False, keep=keep)
    return cache_dir, config, spec, rec, keep


# ------------------------------------------------------------------------------------------ gradient-form gap
def test_gradient_gap_known_values():
    g = torch.randn(4, 3, 9, 9, generator=torch.Generator().manual_seed(0))
    s = g.sum(1)
    assert torch.allclose(gradient_gap(g, g), torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(gradient_gap(g, torch.zeros_like(g)), torch.ones(4, dtype=torch.float64))  # e = 0
    assert torch.allclose(gradient_gap(g, 2 * g), torch.ones(4, dtype=torch.float64))  # ||2g - g|| = ||g||
    # (N, C, H, W) attributions are summed over channels first: same as the (N, H, W) sums
    assert torch.allclose(gradient_gap(g, -g), gradient_gap(s, -s))
    assert torch.allclose(gradient_gap(s, -s), torch.full((4,), 4.0, dtype=torch.float64))
    # rank maps: scale-free (any increasing transform scores 0), and the rank form is the raw form of the rank maps
    assert torch.allclose(gradient_gap(s, 5 * s + 3, on="rank"), torch.zeros(4, dtype=torch.float64))
    e = torch.randn(4, 9, 9, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(gradient_gap(s, e, on="rank"), gradient_gap(rank_normalize(s.double()),
                                                                       rank_normalize(e.double())))


def test_gradient_gap_of_a_lowpass_is_at_most_one_and_nan_without_gradient():
    g = torch.randn(5, 1, 16, 16, generator=torch.Generator().manual_seed(2)).double()
    gaps = gradient_gap(g, lowpass(g, 0.2))
    assert bool(((gaps > 0) & (gaps <= 1 + 1e-12)).all())  # a projection only removes energy
    z = gradient_gap(torch.zeros(2, 4, 4), torch.ones(2, 4, 4))
    assert bool(torch.isnan(z).all())
    with pytest.raises(ValueError, match="same shape"):
        gradient_gap(torch.zeros(2, 4, 4), torch.zeros(2, 5, 5))
    with pytest.raises(ValueError, match="on"):
        gradient_gap(g, g, on="spectrum")


# ----------------------------------------------------------------------------------------------- records
def test_records_carry_ties_tiebroken_ef_and_the_gradient_form_gap(trained):
    cache_dir, config, spec, rec, keep = trained
    for key in RECORD_METRICS:
        assert set(rec[key]) == {"vanilla_grad", "grad_cam", "smooth_grad"}, key
        assert rec[key]["vanilla_grad"].shape == (24,)
    assert float(rec["gap_grad_l2"]["vanilla_grad"].abs().max()) == 0.0
    assert float(rec["gap_grad_rank_l2"]["vanilla_grad"].abs().max()) == 0.0
    # a gradient has (almost) no exact ties, so breaking them changes nothing; Grad-CAM's ReLU'd map has many zeros
    assert float(rec["tie_fraction"]["vanilla_grad"].max()) < 0.05
    assert float(rec["tie_fraction"]["grad_cam"].mean()) > 0.1
    no_ties = rec["tie_fraction"]["vanilla_grad"] == 0
    assert torch.equal(rec["ef_tiebreak"]["vanilla_grad"][no_ties], rec["ef"]["vanilla_grad"][no_ties])
    # keep received what the record was computed from; a cache hit leaves it empty; point_inputs reproduces it
    assert set(keep["attributions"]) == {"vanilla_grad", "grad_cam", "smooth_grad"}
    again: dict = {}
    assert run_point(config, spec, cache_dir, progress=False, keep=again)["ef"]["grad_cam"].equal(rec["ef"]["grad_cam"])
    assert again == {}
    inp = point_inputs(config, spec, cache_dir)
    for m, a in keep["attributions"].items():
        assert torch.equal(inp["attributions"][m], a), m  # SmoothGrad too: same seed, same noise
    assert torch.equal(inp["target"], keep["target"])


# --------------------------------------------------------------------------------------- the Quantus suite
def _setup(trained, n=12):
    _, _, _, _, keep = trained
    x, t = keep["x"][:n], keep["target"][:n]
    attrs = {m: a[:n] for m, a in keep["attributions"].items()}
    return keep["model"], x, t, attrs


def _by_hand(metric, model, x, t, a, **call):
    np.random.seed(0)
    return metric(model=mf.LogSoftmaxModel(model).eval(), x_batch=x.numpy(), y_batch=t.numpy(),
                  a_batch=a.sum(1, keepdim=True).numpy(), channel_first=True, batch_size=100, device="cpu", **call)


def test_suite_scores_equal_quantus_classes_called_by_hand(trained):
    model, x, t, attrs = _setup(trained)
    s = mf.FaithfulnessSettings.chapter()
    funcs = {"vanilla_grad": mf.quantus_explain_func("vanilla_grad")}
    got = mf.faithfulness_scores(model, x, t, {"vanilla_grad": attrs["vanilla_grad"]}, funcs, s)["vanilla_grad"]
    a = attrs["vanilla_grad"]
    kw = dict(disable_warnings=True, display_progressbar=False)
    pf = _by_hand(quantus.PixelFlipping(features_in_step=49, perturb_baseline=0.0, abs=True, normalise=False, **kw),
                  model, x, t, a)
    assert np.allclose(got["PixelFlipping"], np.trapezoid(np.asarray(pf), dx=1 / (len(pf[0]) - 1), axis=1))
    rp = _by_hand(quantus.RegionPerturbation(patch_size=7, regions_evaluation=16, order="morf", perturb_baseline=0.0,
                                             abs=True, normalise=False, **kw), model, x, t, a)
    assert np.allclose(got["RegionPerturbation"], np.asarray(rp).mean(1))
    sp = _by_hand(quantus.Sparseness(abs=True, normalise=True, normalise_func_kwargs={"normalise_axes": (1, 2, 3)},
                                     **kw), model, x, t, a)
    assert np.allclose(got["Sparseness"], sp)
    cx = _by_hand(quantus.Complexity(abs=True, normalise=True, normalise_func_kwargs={"normalise_axes": (1, 2, 3)},
                                     **kw), model, x, t, a)
    assert np.allclose(got["Complexity"], cx)
    vg = mf.quantus_explain_func("vanilla_grad")
    mprt = _by_hand(quantus.MPRT(similarity_func=quantus.similarity_func.correlation_spearman, seed=42,
                                 layer_order="bottom_up", skip_layers=True, return_last_correlation=True, abs=True,
                                 normalise=False, **kw), model, x, t, a,
                    explain_func=lambda model, inputs, targets, **k: vg(model, inputs, targets).sum(1, keepdims=True))
    assert np.allclose(got["MPRT"], mprt)
    # ROAD: Quantus's own class with the two workarounds, per image, independent of the batch size
    road = mf.FaithfulnessSettings.chapter(metrics=("ROAD",))
    r12 = mf.faithfulness_scores(model, x, t, {"vg": a}, settings=road)["vg"]["ROAD"]
    r5 = mf.faithfulness_scores(model, x, t, {"vg": a}, settings=mf.FaithfulnessSettings.chapter(
        metrics=("ROAD",), batch_size=5))["vg"]["ROAD"]
    assert np.array_equal(r12, r5) and set(np.unique(r12 * 3).round(6)) <= {0.0, 1.0, 2.0, 3.0}


def test_gradient_beats_a_random_map_and_randomisation_changes_the_gradient(trained):
    model, x, t, attrs = _setup(trained, n=24)
    attrs = {"vanilla_grad": attrs["vanilla_grad"], mf.RANDOM_MAP: mf.random_map(x.numpy())}
    funcs = {"vanilla_grad": mf.quantus_explain_func("vanilla_grad"), mf.RANDOM_MAP: mf.random_map_explain_func()}
    sc = mf.faithfulness_scores(model, x, t, attrs, funcs, mf.FaithfulnessSettings.chapter())
    vg, rnd = sc["vanilla_grad"], sc[mf.RANDOM_MAP]
    for metric in ("PixelFlipping", "RegionPerturbation"):
        iv = vf.paired_interval(vg[metric], rnd[metric], mf.DIRECTION[metric])
        assert iv.low > 0, (metric, iv)  # the gradient is more faithful than noise, on these 24 images
    assert vf.paired_interval(vg["MPRT"], np.ones(24)).high < 0  # randomising the weights changes the gradient
    assert np.allclose(rnd["MPRT"], 1.0) and np.allclose(rnd["RandomLogit"], 1.0)  # the control must be flagged
    assert np.mean(vg["Sparseness"]) > np.mean(rnd["Sparseness"])


def test_suite_is_deterministic_leaves_global_rngs_alone_and_checks_inputs(trained):
    model, x, t, attrs = _setup(trained, n=6)
    s = mf.FaithfulnessSettings.chapter(metrics=("PixelFlipping", "RandomLogit", "ROAD"))
    funcs = {"grad_cam": mf.quantus_explain_func("grad_cam")}
    np.random.seed(123)
    torch.manual_seed(7)
    before = (np.random.get_state()[1].copy(), torch.random.get_rng_state().clone())
    a = mf.faithfulness_scores(model, x, t, {"grad_cam": attrs["grad_cam"]}, funcs, s)
    assert np.array_equal(np.random.get_state()[1], before[0]) and torch.equal(torch.random.get_rng_state(), before[1])
    b = mf.faithfulness_scores(model, x, t, {"grad_cam": attrs["grad_cam"]}, funcs, s)
    assert all(np.array_equal(a["grad_cam"][k], b["grad_cam"][k]) for k in a["grad_cam"])
    with pytest.raises(ValueError, match="attributions"):
        mf.faithfulness_scores(model, x, t, {"bad": torch.zeros(6, 1, 5, 5)}, settings=s)
    with pytest.raises(ValueError, match="y must"):
        mf.faithfulness_scores(model, x, t[:3], {"ok": attrs["grad_cam"]}, settings=s)
    with pytest.raises(ValueError, match="explain_funcs"):
        mf.faithfulness_scores(model, x, t, {}, funcs, s)
    with pytest.raises(ValueError, match="metrics"):
        mf.FaithfulnessSettings(metrics=("PixelFlip",)).validate()
    with pytest.raises(ValueError, match="inf_patches_per_side"):
        mf.faithfulness_scores(model, x, t, {"g": attrs["grad_cam"]},
                               settings=mf.FaithfulnessSettings(metrics=("Infidelity",), inf_patches_per_side=5))


def test_random_map_is_model_and_batch_independent_and_road_imputes_pixels():
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    m = mf.random_map(x, 3)
    assert m.shape == (4, 1, 8, 8) and np.array_equal(m[1:3], mf.random_map(x[1:3], 3))
    assert not np.array_equal(m, mf.random_map(x, 4))
    # ROAD's RGB indices: the top-k flat indices of a repeated map are pixel triplets; k/3 pixels get imputed
    arr = x[0].copy()
    flat = np.repeat(np.arange(64)[None], 3, 0).ravel()  # channel copies of pixel p are p, p + 64, p + 128
    out = mf.road_pixel_imputation(arr, flat[[5, 69, 133, 9, 73, 137]], noise=0.0)
    changed = (out != arr).any(axis=0).ravel()
    assert set(np.flatnonzero(changed)) == {5, 9}  # exactly the two pixels, all channels, nothing else


def test_explain_func_unwraps_the_log_softmax_wrapper(trained):
    model, x, t, attrs = _setup(trained, n=4)
    f = mf.quantus_explain_func("vanilla_grad")
    a = f(mf.LogSoftmaxModel(model), x.numpy(), t.numpy())
    assert np.allclose(a, attrs["vanilla_grad"].numpy(), atol=1e-6)


# ------------------------------------------------------------------------------------- cached per point
def test_run_faithfulness_reuses_attributions_caches_and_skips_uncapped(trained, monkeypatch):
    cache_dir = trained[0]  # the network is cached there; this point (8 images, 2 methods) is not yet
    s = mf.FaithfulnessSettings.chapter(metrics=("PixelFlipping", "MPRT", "Sparseness"))
    pts = points_from_params({**TINY, "activations": ["relu"], "n_images": 8,
                              "methods": ["vanilla_grad", "grad_cam"]})
    calls = []
    monkeypatch.setattr(fx, "point_inputs", lambda *a, **k: calls.append(1) or point_inputs(*a, **k))
    recs, ents = fx.run_faithfulness(pts, s, cache_dir, n_images=5, randomised=["vanilla_grad"], progress=False)
    assert calls == []  # the record was computed in the same call: its attributions were reused
    e = ents[0]
    assert e["n_images"] == 5 and set(e["scores"]) == {"vanilla_grad", "grad_cam", mf.RANDOM_MAP}
    assert "MPRT" in e["scores"]["vanilla_grad"] and "MPRT" not in e["scores"]["grad_cam"]
    monkeypatch.setattr(mf, "faithfulness_scores", lambda *a, **k: pytest.fail("recomputed"))
    monkeypatch.setattr(fx, "faithfulness_scores", lambda *a, **k: pytest.fail("recomputed"))
    recs2, ents2 = fx.run_faithfulness(pts, s, cache_dir, n_images=5, randomised=["vanilla_grad"], progress=False)
    assert np.array_equal(ents2[0]["scores"]["grad_cam"]["PixelFlipping"], e["scores"]["grad_cam"]["PixelFlipping"])
    table = fx.faithfulness_table(recs2, ents2)
    assert list(table["method"]) == ["vanilla_grad", "grad_cam", mf.RANDOM_MAP]
    row = table.set_index("method")
    ef = recs2[0]["ef"]
    assert row.loc["grad_cam", "delta_ef"] == pytest.approx(abs(float(ef["grad_cam"][:5].mean())
                                                                - float(ef["vanilla_grad"][:5].mean())))
    assert row.loc["vanilla_grad", "gap_grad_l2"] == 0.0 and math.isnan(row.loc[mf.RANDOM_MAP, "ef_paper"])
    with pytest.raises(ValueError, match="n_images"):
        fx.run_faithfulness(pts, s, cache_dir, n_images=0)
    with pytest.raises(ValueError, match=r"randomised\[1\] = 'vanila_grad'"):
        fx.run_faithfulness(pts, s, cache_dir, randomised=["grad_cam", "vanila_grad"])
    uncapped = [(dataclasses.replace(pts[0][0], accuracy_cap=0.999), pts[0][1])]
    _, none = fx.run_faithfulness(uncapped, s, cache_dir, n_images=5, progress=False)
    assert none == [None] and len(fx.faithfulness_table(*_hand_records([]))) == 0


# --------------------------------------------------------------------------------------- hand-made inputs
def _rec(act, seed=0, beta=None, **metrics):
    """A record with per-image values: metrics = {key: {method: list}}."""
    beta = beta if beta is not None else (math.inf if act == "ReLU" else float(act[3:-1]))
    base = {k: {m: torch.tensor(v, dtype=torch.float64) for m, v in d.items()} for k, d in metrics.items()}
    return {"activation": act, "beta": beta, "seed": seed, "config": {"activation": act, "seed": seed}, **base,
            "train": {"cap_reached": True, "test_accuracy": 0.9, "epochs": 3}}


def _entry(scores, n=4):
    return {"scores": {m: {k: np.asarray(v, float) for k, v in d.items()} for m, d in scores.items()},
            "n_images": n, "seconds": 2.0, "randomised": []}


def _hand_records(entries):
    return [_rec("ReLU", ef={"vanilla_grad": [1.0]})] * len(entries), entries


def test_paired_interval_edge_cases():
    iv = vf.paired_interval([1, 2, 3, 4], [0, 1, 2, 3])
    assert iv.value == 1.0 and iv.low == iv.high == 1.0 and iv.n == 4  # constant difference: a point interval
    assert vf.paired_interval([1, 2], [2, 3], sign=-1).value == 1.0
    assert math.isnan(vf.paired_interval([np.nan], [1.0]).value)
    one = vf.paired_interval([1.0, np.nan], [0.0, 0.0])
    assert one.n == 1 and math.isnan(one.low)
    with pytest.raises(ValueError, match="equally many"):
        vf.paired_interval([1, 2], [1])


def test_versus_and_randomisation_sentences():
    recs = [_rec("ReLU", ef={"vanilla_grad": [1] * 4})]
    ents = [_entry({"vanilla_grad": {"PixelFlipping": [.2, .3, .25, .22], "MPRT": [.1, .2, .15, .1]},
                    "grad_cam": {"PixelFlipping": [.5, .6, .55, .52]},
                    "deeplift": {"PixelFlipping": [.1, .5, .2, .4]},
                    mf.RANDOM_MAP: {"PixelFlipping": [.7, .7, .72, .71], "MPRT": [1.0] * 4}})]
    s = vf.versus_sentence(recs, ents, "PixelFlipping", mf.RANDOM_MAP)
    assert "3 of 3 methods more faithful than random map (control)" in s
    s = vf.versus_sentence(recs, ents, "PixelFlipping", "vanilla_grad")
    assert "0 of 3 methods more faithful" in s and "less faithful: grad_cam (-0.3)" in s
    assert f"{CANNOT_TELL} for deeplift" in s
    assert "no network in this run has RegionPerturbation" in vf.versus_sentence(recs, ents, "RegionPerturbation")
    assert "no network" in vf.versus_sentence([], [], "PixelFlipping")
    assert "no network" in vf.versus_sentence(recs, [None], "PixelFlipping")
    with pytest.raises(ValueError, match="unknown metric"):
        vf.versus_sentence(recs, ents, "Pixel")
    r = vf.randomisation_sentence(recs, ents, "MPRT")
    assert "changes (interval below 1) for VanillaGrad 0.14" in r
    assert f"{CANNOT_TELL} (interval reaches 1) for random map (control) 1.00" in r
    assert "Not re-explained (cost): deeplift, grad_cam" in r
    assert "not computed" in vf.randomisation_sentence([], [], "RandomLogit")
    # the same network in two grids: merged, each method once
    two = vf.versus_sentence(recs * 2, ents + [_entry({"vanilla_grad": {"PixelFlipping": [9] * 4},
                                                        "guided_backprop": {"PixelFlipping": [.1, .1, .1, .12]}})],
                             "PixelFlipping", "vanilla_grad")
    assert two.count("*ReLU*") == 1 and "1 of 4 methods more faithful than VanillaGrad: guided_backprop" in two


def test_agreement_and_cost_sentences():
    t = pd.DataFrame({"method": ["a", "b", "c", "d", "e", mf.RANDOM_MAP], "ef_paper": [1, 2, 3, 4, 5, 99],
                      "ef_tiebreak": [1, 2, 3, 4, 5, 0], "ef_nyquist": [5, 4, 3, 2, 1, 0],
                      "Complexity": [1, 2, 3, 4, 5, -9], "Sparseness": [5, 4, 3, 2, 1, 9],
                      "delta_ef": [np.nan, 1, 2, 3, 4, 0], "gap_grad_rank_l2": [0, 1, 2, 3, 4, 0],
                      "PixelFlipping": [.1, .2, .3, .4, .5, .9]})
    s = vf.agreement_sentences(t)
    assert s[0].startswith("Spearman ρ between the paper's EF and Quantus' Complexity = +1.00 (n = 5, p = 0.017)")
    assert "= -1.00 (n = 5" in s[1] and "= -1.00 (n = 5" in s[4]
    g = vf.gap_agreement_sentences(t.assign(method=["vanilla_grad", "b", "c", "d", "e", mf.RANDOM_MAP]))
    assert "(n = 4" in g[0] and "+1.00" in g[0]
    assert "not computed" in vf.gap_agreement_sentences(t.drop(columns="PixelFlipping"))[1]
    assert all("not computed" in x for x in vf.agreement_sentences(pd.DataFrame()))
    assert "undefined" in vf.agreement_sentences(t.assign(Complexity=1.0))[0]
    c = vf.cost_sentence([_entry({"a": {}, "b": {}}, n=10), None])
    assert "2 (network, method) pairs (20 image-method pairs" in c and "in 2 s" in c and "100 ms" in c
    assert "no faithfulness" in vf.cost_sentence([None])


# --------------------------------------------------------------------------------------------------- ties
def test_tie_example_known_answers():
    long = tie_example((0.0, 0.6), ("scattered", "block"), n_maps=32, size=28, seed=0)
    tab = tie_example_table(long)
    zero = tab.loc[("block", 0.0)]
    assert zero["EF paper x1e5"] == zero["EF paper x1e5, ties broken"]  # no ties: breaking them is a no-op
    assert tab.loc[("block", 0.6), "tie fraction"] == pytest.approx(470 / 784)
    # a plateau of 60% of the ranks removes 0.6^3 = 21.6% of the rank map's variance; the zero-frequency power is
    # fixed and dominates the paper's normalisation, so the paper EF falls by a little less than that (the non-zero
    # frequencies are ~1% of the total power at 28x28); the Nyquist EF ignores the zero frequency and barely moves
    for place in ("scattered", "block"):
        drop = 1 - tab.loc[(place, 0.6), "EF paper x1e5"] / tab.loc[(place, 0.0), "EF paper x1e5"]
        assert 0.15 < drop < 0.216, place
        nyq = abs(1 - tab.loc[(place, 0.6), "EF nyquist"] / tab.loc[(place, 0.0), "EF nyquist"])
        assert nyq < 0.03, place
        broken = tab.loc[(place, 0.6), "EF paper x1e5, ties broken"] / tab.loc[(place, 0.0), "EF paper x1e5"]
        assert abs(broken - 1) < 0.03, place  # a random tie-break restores white noise's EF
    sent = tie_example_sentences(long)
    assert len(sent) == 2 and "EF paper x1e5: -" in sent[0] and "(lowers it)" in sent[0]
    assert "needs the maps without zeros" in tie_example_sentences(long[long["zeros"] > 0])[0]
    with pytest.raises(ValueError, match="fractions"):
        tie_example((1.0,))
    with pytest.raises(ValueError, match="placements"):
        tie_example(placements=("diagonal",))


def test_tie_table_and_sentences():
    r = _rec("ReLU", tie_fraction={"vanilla_grad": [0.0, 0.0], "grad_cam": [0.5, 0.7]},
             ef={"vanilla_grad": [2.0, 2.0], "grad_cam": [1.0, 1.2]},
             ef_tiebreak={"vanilla_grad": [2.0, 2.0], "grad_cam": [2.0, 2.4]},
             ef_nyquist={"vanilla_grad": [.3, .3], "grad_cam": [.2, .2]},
             ef_nyquist_tiebreak={"vanilla_grad": [.3, .3], "grad_cam": [.2, .2]})
    t = tie_table([r])
    assert t.loc[("grad_cam", "ReLU"), "tie fraction"] == pytest.approx(0.6)
    assert t.loc[("grad_cam", "ReLU"), "EF paper x1e5, ties broken"] == pytest.approx(2.2e5)
    s = tie_sentences([r, r])
    assert len(s) == 1 and "60% tied" in s[0] and "paper EF +100.0% [+100.0%, +100.0%]: raises" in s[0]
    assert f"Nyquist EF +0.0% [+0.0%, +0.0%]: {CANNOT_TELL}" in s[0]
    assert "No method" in tie_sentences([r], threshold=0.9)[0]
    assert tie_table([{"ef": {}}]).empty
    nan = _rec("ReLU", tie_fraction={"grad_cam": [0.5]}, ef={"grad_cam": [np.nan]}, ef_tiebreak={"grad_cam": [1.0]},
               ef_nyquist={"grad_cam": [1.0]}, ef_nyquist_tiebreak={"grad_cam": [1.0]})
    assert "paper EF: undefined (NaN EF)" in tie_sentences([nan])[0]


# --------------------------------------------------------------------------------------- gap and toolkit
def _gap_recs(seeds, relu_sg, sp_sg):
    return ([_rec("ReLU", s, ef={"vanilla_grad": [10.0, 10.0], "smooth_grad": [10 - g, 10 - g]})
             for s, g in zip(seeds, relu_sg)]
            + [_rec("SP(1)", s, ef={"vanilla_grad": [8.0, 8.0], "smooth_grad": [8 - g, 8 - g]})
               for s, g in zip(seeds, sp_sg)])


def test_gap_claim_sentences_need_seeds_for_a_word():
    one = gap_claim_sentences(_gap_recs([0], [4.0], [1.0]), scale=1.0)
    assert "SmoothGrad: gap 1 for SP(1) against 4 for ReLU" in one[0] and CANNOT_TELL in one[0]
    three = gap_claim_sentences(_gap_recs([0, 1, 2], [4.0, 4.2, 3.9], [1.0, 1.1, 0.9]), scale=1.0)
    assert "smaller for the smoother network" in three[0] and CANNOT_TELL not in three[0]
    assert network_gaps(_gap_recs([0, 1], [4, 5], [1, 2]), "smooth_grad", scale=1.0) == {"ReLU": [4.0, 5.0],
                                                                                         "SP(1)": [1.0, 2.0]}
    assert gap_claim_sentences([]) == ["This run has no ReLU and SP network pair to compare."]
    assert "none of the smoothing" in gap_claim_sentences([_rec("ReLU", ef={"vanilla_grad": [1.0]}),
                                                           _rec("SP(1)", ef={"vanilla_grad": [1.0]})])[0]


def test_toolkit_sentences():
    t = pd.DataFrame({"peak bin (r > 0)": [5, 15, 22], "EF paper x1e5": [1.0, 3.0, np.nan],
                      "EF nyquist (cycles/px)": [0.1, 0.3, 0.7]},
                     index=["cosine (3, 4)", "cosine (9, 12)", "checkerboard"])
    assert ranking(t, "EF paper x1e5") == "cosine (9, 12) (3), cosine (3, 4) (1), checkerboard (n/a)"
    s = synthetic_sentence(t, 23)
    assert "bins 5 (cosine (3, 4)) and 15 (cosine (9, 12))" in s and "bin 22 of 22 (the corner bin" in s
    assert "corner" not in synthetic_sentence(t, 30)
    recs = _gap_recs([0], [2.0], [1.0])
    v = vg_sg_sentences(recs, "ef", 1.0, "EF")
    assert "10 to 8, difference -2" in v and "lowers it" in v and "SP(1)'s own VanillaGrad EF 8 against ReLU's 10" in v
    assert CANNOT_TELL in v.split("SP(1)'s")[1]  # one seed: no interval over networks
    three = vg_sg_sentences(_gap_recs([0, 1, 2], [2, 2, 2], [1, 1, 1]) + [
        _rec("SP(1)", 9, ef={"vanilla_grad": [7.5, 7.5]})], "ef", 1.0, "EF")
    assert "below ReLU" in three and three.count("SmoothGrad against") == 3
    assert "no ReLU network" in vg_sg_sentences([_rec("SP(1)", ef={"vanilla_grad": [1.0]})])


# ------------------------------------------------------------------------------------------------ the plane
def _plane_recs(seeds=(0,)):
    recs = []
    for s in seeds:
        recs.append(_rec("ReLU", s,
                         ef={"vanilla_grad": [10, 10, 10], "smooth_grad": [6, 6.2, 5.8],
                             "beta_smooth_grad:1": [12, 12.5, 11.5], "lowpass_grad:0.25": [7, 7.2, 6.9]},
                         gap_grad_l2={"vanilla_grad": [0, 0, 0], "smooth_grad": [.5, .5, .5],
                                      "beta_smooth_grad:1": [.2, .2, .2], "lowpass_grad:0.25": [.4, .45, .4]},
                         gap_grad_rank_l2={"vanilla_grad": [0, 0, 0], "smooth_grad": [.1, .1, .1],
                                           "beta_smooth_grad:1": [.1, .1, .1], "lowpass_grad:0.25": [.1, .1, .1]}))
        recs.append(_rec("SP(1)", s, ef={"vanilla_grad": [8, 8, 8]}, gap_grad_l2={"vanilla_grad": [0, 0, 0]},
                         gap_grad_rank_l2={"vanilla_grad": [0, 0, 0]}))
    for r in recs:
        r.update(ef_nyquist=r["ef"], gap_ef={m: v * 0 for m, v in r["ef"].items()},
                 gap_ef_nyquist={m: v * 0 for m, v in r["ef"].items()}, gap_l2={m: v * 0 for m, v in r["ef"].items()})
    return recs


def test_plane_table_has_the_gradient_form_gap_and_quantus_columns():
    recs = _plane_recs()
    faith = pd.DataFrame({"activation": ["ReLU", "SP(1)"], "method": ["vanilla_grad", "vanilla_grad"],
                          "PixelFlipping": [0.3, 0.4]})
    p = plane_table(recs, "ef", 1.0, faithfulness=faith).set_index(["model", "method"])
    assert p.loc[("ReLU", "lowpass_grad:0.25"), "gap_grad"] == pytest.approx(1.25 / 3)
    assert p.loc[("ReLU", "smooth_grad"), "gap"] == pytest.approx(4.0)  # ΔEF stays, as the second measure
    assert p.loc[("SP(1)", "vanilla_grad"), "PixelFlipping"] == 0.4
    assert math.isnan(p.loc[("ReLU", "smooth_grad"), "PixelFlipping"])
    old = [{k: v for k, v in r.items() if not k.startswith("gap_grad")} for r in recs]
    assert plane_table(old, "ef", 1.0)["gap_grad"].isna().all()


def test_plane_sentences_never_compare_a_method_with_itself():
    recs = _plane_recs()
    plane = plane_table(recs, "ef", 1.0)
    w = within_smoothgrad_sentence(plane, recs, "gap_grad", unit_scale=1.0)
    # BetaSmooth (gap .2) and low-pass (gap .42) lie within SmoothGrad's gap (.5); low-pass has the lower EF
    assert "Of the 2 other post-hoc point(s) within it, the lowest EF is low-pass(f≤0.25)'s" in w
    assert "higher than SmoothGrad" in w and "over images" in w
    # only SmoothGrad within its own gap: it is not compared with itself
    lone = plane.copy()
    lone.loc[lone["method"] != "smooth_grad", "gap_grad"] = 9.0
    lone.loc[lone["trained"], "gap_grad"] = 0.0
    assert "No other post-hoc point stays within that gap." in within_smoothgrad_sentence(lone, recs)
    assert "SmoothGrad was not applied" in within_smoothgrad_sentence(plane[plane["method"] != "smooth_grad"], recs)
    b = betasmooth_direction_sentence(recs, column="ef", scale=1.0)
    assert "β = 1: 2 [" in b and "raises" in b and "raises EF at 1, lowers it at 0" in b
    assert "not applied" in betasmooth_direction_sentence([_rec("SP(1)", ef={"vanilla_grad": [1.0]})])
    sents = plane_sentences(plane, recs, betas=[1.0], metric=None, scale=1.0)
    joined = " ".join(sents)
    assert "front" in sents[0] and "SP(1) (EF 8" in joined
    assert f"BetaSmooth(β=1) 4 (n = 1, no interval): {CANNOT_TELL}" in joined  # one seed: between networks, no word
    assert "At β = 1: explain-time BetaSmooth on ReLU, EF 12, against SP(1) trained from scratch, EF 8" in joined
    many = _plane_recs((0, 1, 2))
    for i, r in enumerate(many):
        r["ef"] = {m: v + 0.01 * i for m, v in r["ef"].items()}
    multi = " ".join(plane_sentences(plane_table(many, "ef", 1.0), many, betas=[1.0], metric=None, scale=1.0))
    assert "BetaSmooth more complex" in multi
    assert method_difference(many, "ReLU", "smooth_grad", "vanilla_grad")[1] == "networks"
    assert plane_sentences(plane_table([]), []) == ["No network passed the cap: the plane is empty."]


def test_own_gradient_faithfulness_sentence():
    plane = pd.DataFrame({"trained": [True] * 4 + [False], "ef": [1, 2, 3, 4, 0],
                          "PixelFlipping": [0.4, 0.3, 0.2, 0.1, 9]})
    s = own_gradient_faithfulness_sentence(plane)
    assert s.startswith("Spearman ρ between EF and PixelFlipping over the trained networks' own gradients = -1.00 "
                        "(n = 4, p = 0.083)") and "not distinguishable" in s
    assert "was not computed" in own_gradient_faithfulness_sentence(plane.drop(columns="PixelFlipping"))


def test_constant_maps_are_flagged_and_every_metric_runs_on_rgb_32x32():
    """A constant map (an all-zero CAM) has no pixel order: NaN under every metric, the other images unaffected
    (Quantus 0.6's batched Spearman raised on such maps). And the whole suite runs on 3x32x32 inputs (ROAD's RGB
    indexing, the divisibility rules of PixelFlipping and Infidelity)."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 16 * 16, 10)).eval()
    x = torch.randn(4, 3, 32, 32)
    t = net(x).argmax(1)
    a = mf.quantus_explain_func("vanilla_grad")(net, x.numpy(), t.numpy())
    a[2] = 0.0
    s = mf.FaithfulnessSettings(fc_nr_runs=5, inf_n_perturb_samples=2, road_percentages=(50,))
    sc = mf.faithfulness_scores(net, x, t, {"vg": a}, {"vg": mf.quantus_explain_func("vanilla_grad")}, s)["vg"]
    assert set(sc) == set(s.metrics)
    for metric, v in sc.items():
        assert v.shape == (4,) and np.isnan(v[2]), metric
        if metric not in ("MPRT", "EfficientMPRT", "RandomLogit"):
            assert np.isfinite(v[[0, 1, 3]]).all(), metric


def test_tie_sentences_never_print_a_ratio_over_a_round_off_ef():
    """A map that is constant once its ties are averaged has an EF at the round-off floor: no percentage over it."""
    base = dict(ef_nyquist={"grad_cam": [.2, .2, .2]}, ef_nyquist_tiebreak={"grad_cam": [.2, .2, .2]},
                tie_fraction={"grad_cam": [0.9, 0.5, 0.5]})
    some = _rec("ReLU", ef={"grad_cam": [1e-21, 1.0, 1.0]}, ef_tiebreak={"grad_cam": [2.0, 1.5, 1.5]}, **base)
    s = tie_sentences([some])[0]
    assert "paper EF +50.0% [+50.0%, +50.0%]: raises (1 of 3 images left out: constant" in s
    every = _rec("ReLU", ef={"grad_cam": [1e-21, 1e-20, 3e-21]}, ef_tiebreak={"grad_cam": [2.0, 1.5, 1.5]}, **base)
    s = tie_sentences([every])[0]
    assert "every map is constant" in s and "%" not in s.split("paper EF")[1].split(";")[0]


def test_a_method_whose_every_map_is_zero_scores_nan_without_calling_quantus():
    """Quantus refuses a batch of all-zero attributions ("all equal to zero"): such a method scores NaN under every
    metric, and the other methods of the call are scored as usual."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 14 * 14, 10)).eval()
    x = torch.randn(3, 1, 28, 28)
    t = net(x).argmax(1)
    a = mf.quantus_explain_func("vanilla_grad")(net, x.numpy(), t.numpy())
    s = mf.FaithfulnessSettings(metrics=("PixelFlipping", "Sparseness"))
    sc = mf.faithfulness_scores(net, x, t, {"vg": a, "zero": np.zeros_like(a)}, settings=s)
    assert all(np.isnan(v).all() and v.shape == (3,) for v in sc["zero"].values())
    assert all(np.isfinite(v).all() for v in sc["vg"].values())
