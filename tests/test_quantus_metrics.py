"""spectral_lib.metrics.quantus_ef: the EF and the EF difference as Quantus 0.6 metrics, called as Quantus calls them."""
from __future__ import annotations

import numpy as np
import pytest
import torch

quantus = pytest.importorskip("quantus", reason="Quantus is not installed (pip install 'spectral_lib[quantus]')")

from spectral_lib.explain import smooth_grad, vanilla_grad
from spectral_lib.spectral import to_map
from spectral_lib.nn import build_model
from spectral_lib.metrics.quantus_ef import EFDifference, ExpectedFrequency
from spectral_lib.spectral import expected_frequency, explanation_gap


@pytest.fixture(scope="module")
def setup() -> dict:
    """A 3-channel simple CNN on 16x16 inputs, 6 inputs (numpy), their predicted classes, VanillaGrad and
    SmoothGrad attributions (numpy, (N, 3, 16, 16))."""
    torch.manual_seed(0)
    model = build_model("simple_cnn", "relu", (3, 16, 16), 5, width=4, fc=32).eval()
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    vg = vanilla_grad(model, x, target=y)
    sg = smooth_grad(model, x, target=y, n_samples=8, generator=torch.Generator().manual_seed(2))
    return {"model": model, "x": x.numpy(), "y": y.numpy(), "vg": vg.numpy(), "sg": sg.numpy()}


def test_quantus_interface():
    from quantus.helpers.enums import DataType, EvaluationCategory, ModelType, ScoreDirection
    from quantus.metrics.base import Metric

    for cls, category in ((ExpectedFrequency, EvaluationCategory.COMPLEXITY),
                          (EFDifference, EvaluationCategory.COMPLEXITY)):
        assert issubclass(cls, Metric)
        assert cls.score_direction == ScoreDirection.LOWER
        assert cls.evaluation_category == category
        assert cls.data_applicability == {DataType.IMAGE}
        assert ModelType.TORCH in cls.model_applicability
    assert ExpectedFrequency().definition == "paper"
    with pytest.raises(ValueError, match="definition must be one of"):
        ExpectedFrequency(definition="mean")
    with pytest.raises(ValueError, match="target must be 'y' or 'predicted'"):
        EFDifference(target="label")


@pytest.mark.parametrize("definition", ["paper", "nyquist"])
@pytest.mark.parametrize("which", ["vg", "sg"])
def test_expected_frequency_matches_spectrum(setup, definition, which):
    a = setup[which]
    metric = ExpectedFrequency(definition=definition, disable_warnings=True)
    scores = metric(model=setup["model"], x_batch=setup["x"], y_batch=setup["y"], a_batch=a, device="cpu",
                    batch_size=4)  # two batches of Quantus's generator
    assert isinstance(scores, list) and len(scores) == len(a)
    want = expected_frequency(to_map(torch.from_numpy(a)), definition).numpy()
    np.testing.assert_allclose(scores, want, rtol=1e-6)
    # a channel-summed (N, H, W) explanation (Quantus adds the channel axis) and model=None give the same
    summed = a.sum(1)
    np.testing.assert_allclose(metric(model=None, x_batch=setup["x"], y_batch=setup["y"], a_batch=summed), want,
                               rtol=1e-5)
    assert metric.evaluate_instance(setup["x"][0], a[0]) == pytest.approx(float(want[0]), rel=1e-6)


def test_expected_frequency_aggregate_and_explain_func(setup):
    def explain_func(model, inputs, targets, **kwargs):
        return vanilla_grad(model, torch.as_tensor(inputs), target=torch.as_tensor(targets)).numpy()

    metric = ExpectedFrequency(return_aggregate=True)
    (mean,) = metric(model=setup["model"], x_batch=setup["x"], y_batch=setup["y"], explain_func=explain_func,
                     device="cpu")
    want = expected_frequency(to_map(torch.from_numpy(setup["vg"])))
    assert mean == pytest.approx(float(want.mean()), rel=1e-5)


def test_gap_zero_for_own_vanilla_grad(setup):
    for target in ("y", "predicted"):  # y_batch holds the predicted classes, so both references are setup["vg"]
        for kwargs in ({}, {"abs": True, "normalise": True}, {"definition": "nyquist"}):
            scores = EFDifference(target=target, **kwargs)(model=setup["model"], x_batch=setup["x"],
                                                            y_batch=setup["y"], a_batch=setup["vg"], device="cpu")
            assert scores == [0.0] * len(setup["x"])


def test_gap_matches_spectrum(setup):
    metric = EFDifference()
    scores = metric(model=setup["model"], x_batch=setup["x"], y_batch=setup["y"], a_batch=setup["sg"], device="cpu",
                    batch_size=4)
    want = explanation_gap(to_map(torch.from_numpy(setup["vg"])), to_map(torch.from_numpy(setup["sg"])))
    np.testing.assert_allclose(scores, want.numpy(), rtol=1e-5, atol=1e-12)
    assert max(scores) > 0
    # another class than the one explained: the reference changes, the gap is no longer 0
    other = (setup["y"] + 1) % 5
    shifted = metric(model=setup["model"], x_batch=setup["x"], y_batch=other, a_batch=setup["vg"], device="cpu")
    assert max(shifted) > 0
    with pytest.raises(ValueError, match="needs the model"):
        metric(model=None, x_batch=setup["x"], y_batch=setup["y"], a_batch=setup["sg"])


def test_quantus_evaluate(setup):
    results = quantus.evaluate(
        metrics={"EF": ExpectedFrequency(), "gap": EFDifference()},
        xai_methods={"VanillaGrad": setup["vg"], "SmoothGrad": setup["sg"]},
        model=setup["model"], x_batch=setup["x"], y_batch=setup["y"], call_kwargs={"0": {"device": "cpu"}},
    )
    assert results["VanillaGrad"]["gap"] == [0.0] * len(setup["x"])
    np.testing.assert_allclose(results["SmoothGrad"]["EF"],
                               expected_frequency(to_map(torch.from_numpy(setup["sg"]))).numpy(), rtol=1e-6)


def test_signed_differences_and_the_paper_gap(setup):
    """EFDifference(signed=True) scores EF(a) - EF(VG) per sample; its default aggregate, paper_gap, is
    |mean EF(a) - mean EF(VG)| (the tables' arithmetic), which is <= the mean of the unsigned scores."""
    from spectral_lib.metrics.quantus_ef import nanmean, paper_gap

    ef_sg = expected_frequency(to_map(torch.from_numpy(setup["sg"]))).double().numpy()
    ef_vg = expected_frequency(to_map(torch.from_numpy(setup["vg"]))).double().numpy()
    common = dict(model=setup["model"], x_batch=setup["x"], y_batch=setup["y"], a_batch=setup["sg"], device="cpu")
    signed = EFDifference(signed=True)(**common)
    np.testing.assert_allclose(signed, ef_sg - ef_vg, rtol=1e-5, atol=1e-12)
    (gap,) = EFDifference(signed=True, return_aggregate=True)(**common)
    assert gap == pytest.approx(abs(ef_sg.mean() - ef_vg.mean()), rel=1e-5)
    (mean_abs,) = EFDifference(return_aggregate=True)(**common)
    assert mean_abs == pytest.approx(np.abs(ef_sg - ef_vg).mean(), rel=1e-5) and mean_abs >= gap - 1e-15
    with pytest.raises(ValueError, match="needs signed per-sample differences"):
        EFDifference(aggregate_func=paper_gap)
    assert paper_gap([1.0, -3.0, float("nan")]) == 1.0 and np.isnan(paper_gap([float("nan")]))
    assert nanmean([1.0, float("nan"), 3.0]) == 2.0


def test_degenerate_maps_score_nan(setup):
    """All-zero, constant and 95%-tied explanations are scored NaN by both metrics (with a warning), and the
    aggregates skip them."""
    a = setup["sg"].copy()
    a[0] = 0.0                                   # all zero
    a[1] = 0.25                                  # constant
    a[2].reshape(3, -1)[:, : int(0.95 * 256)] = 0.0  # 95% of the pixels exactly tied (zero in every channel)
    with pytest.warns(UserWarning, match="3 of 6 explanations are degenerate"):
        ef = ExpectedFrequency()(model=None, x_batch=setup["x"], y_batch=setup["y"], a_batch=a)
    assert np.isnan(ef[:3]).all() and np.isfinite(ef[3:]).all()
    want = expected_frequency(to_map(torch.from_numpy(a[3:]))).numpy()
    (mean,) = ExpectedFrequency(return_aggregate=True, disable_warnings=True)(
        model=None, x_batch=setup["x"], y_batch=setup["y"], a_batch=a)
    assert mean == pytest.approx(float(want.mean()), rel=1e-5)
    diff = EFDifference(disable_warnings=True)(model=setup["model"], x_batch=setup["x"], y_batch=setup["y"],
                                               a_batch=a, device="cpu")
    assert np.isnan(diff[:3]).all() and np.isfinite(diff[3:]).all()
    raw = ExpectedFrequency(flag_degenerate=False)(model=None, x_batch=setup["x"], y_batch=setup["y"], a_batch=a)
    assert np.isfinite(raw[2])  # unflagged, a mostly tied map gets a number: the plateau's EF


def test_quantus_evaluate_paper_gap(setup):
    """Both metrics through quantus.evaluate with aggregates: the paper's gap per method."""
    from spectral_lib.metrics.quantus_ef import paper_gap

    results = quantus.evaluate(
        metrics={"EF": ExpectedFrequency(), "gap": EFDifference(signed=True)},
        xai_methods={"VanillaGrad": setup["vg"], "SmoothGrad": setup["sg"]},
        model=setup["model"], x_batch=setup["x"], y_batch=setup["y"], agg_func=paper_gap,
        call_kwargs={"0": {"device": "cpu"}},
    )
    ef_sg = expected_frequency(to_map(torch.from_numpy(setup["sg"]))).double().numpy()
    ef_vg = expected_frequency(to_map(torch.from_numpy(setup["vg"]))).double().numpy()
    assert results["VanillaGrad"]["gap"] == 0.0
    assert results["SmoothGrad"]["gap"] == pytest.approx(abs(ef_sg.mean() - ef_vg.mean()), rel=1e-5)
    assert results["SmoothGrad"]["EF"] == pytest.approx(ef_sg.mean(), rel=1e-5)  # |mean| of positive EFs
