"""The spatial-correlation and width-and-size chapters' library logic: input conditions, neighbour correlation, a
permuted network's gradient in both pixel orders, the grids (shared with chapters 3, 4 and 6) and their validation before any training."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spectral_lib.data import Condition, neighbour_correlation, parse_condition, parse_conditions
from spectral_lib.experiments.grids import (check_grids, size_grids, spatial_grids, spatial_param_sets, width_grids, width_options, width_size_param_sets)
from spectral_lib.experiments.spatial import condition_permutation, unpermuted_gradient_ef
from spectral_lib.experiments.stats import ef_beta_slope, loglog_slope
from spectral_lib.experiments.grids import ablation_param_sets, theorem1_param_sets
from spectral_lib.experiments import points_from_params, point_key
from spectral_lib.companion.parameters import ParameterError
from spectral_lib.theory import correlated_images
from spectral_lib.data import permute_pixels, pixel_permutation


# ---------------------------------------------------------------------------------------------------- conditions
def test_conditions_parse_to_train_config_fields():
    assert parse_condition("natural", 3) == Condition("natural", "natural", None, 0.0)
    assert parse_condition("permuted", 3) == Condition("permuted", "permuted", 3, 0.0)
    c = parse_condition("permuted+smoothed:1", 3)
    assert (c.label, c.pixel_permutation, c.input_smoothing_sigma) == ("permuted+smoothed(1)", 3, 1.0)
    assert parse_condition("natural", "not a seed").pixel_permutation is None  # natural images need no seed


@pytest.mark.parametrize("spec, seed, err, match", [
    ("shuffled", 0, ValueError, "unknown input condition 'shuffled'"),
    ("permuted+smoothed", 0, ValueError, "sigma"),
    ("permuted+smoothed:0", 0, ValueError, "positive finite"),
    ("permuted+smoothed:x", 0, ValueError, "positive finite"),
    ("natural:1", 0, ValueError, "unknown input condition"),
    (1, 0, TypeError, "must be a string"),
    ("permuted", 1.5, TypeError, "permutation_seed must be a non-negative int"),
    ("permuted", "0", TypeError, "permutation_seed"),
    ("permuted", True, TypeError, "permutation_seed"),
])
def test_bad_conditions_are_named(spec, seed, err, match):
    with pytest.raises(err, match=match):
        parse_condition(spec, seed)


def test_condition_permutation_is_the_training_data_permutation():
    assert condition_permutation(parse_condition("natural"), 4, 4) is None
    assert torch.equal(condition_permutation(parse_condition("permuted+smoothed:2", 9), 28, 28),
                       pixel_permutation(28, 28, 9))


def test_condition_lists_must_be_non_empty_and_distinct():
    with pytest.raises(ValueError, match="non-empty list"):
        parse_conditions([])
    with pytest.raises(ValueError, match="non-empty list"):
        parse_conditions("natural")
    with pytest.raises(ValueError, match="twice"):
        parse_conditions(["permuted+smoothed:1", "permuted+smoothed:1.0"])


# ---------------------------------------------------------------------------------------------- measurements
def test_neighbour_correlation_is_high_for_smooth_images_and_vanishes_under_permutation():
    x = correlated_images(64, 16, corr_length=3.0, seed=0).float()
    smooth = neighbour_correlation(x)
    shuffled = neighbour_correlation(permute_pixels(x, pixel_permutation(16, 16, 0)))
    white = neighbour_correlation(torch.randn(64, 1, 16, 16, generator=torch.Generator().manual_seed(1)))
    assert smooth > 0.8 and abs(shuffled) < 0.1 and abs(white) < 0.05
    assert neighbour_correlation(x[:, 0]) == pytest.approx(smooth)  # (N, H, W) accepted
    # exact on a hand-made case: a horizontal ramp repeated: right neighbours correlate 1, lower ones are equal
    ramp = torch.arange(4.0).repeat(4, 1)[None, None]
    assert neighbour_correlation(ramp) == pytest.approx(
        float(torch.corrcoef(torch.stack([torch.cat([ramp[..., :, :-1].flatten(), ramp[..., :-1, :].flatten()]),
                                          torch.cat([ramp[..., :, 1:].flatten(), ramp[..., 1:, :].flatten()])]))[0, 1]))
    assert math.isnan(neighbour_correlation(torch.ones(2, 1, 5, 5)))
    with pytest.raises(ValueError, match="2x2"):
        neighbour_correlation(torch.zeros(2, 1, 1, 5))


class _Linear(nn.Module):
    """Two-class model with logits (<w, x>, 0): its input gradient is proportional to w (times the softmax term)."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone(), requires_grad=False)

    def forward(self, x):
        s = (x * self.w).flatten(1).sum(1)
        return torch.stack([s, torch.zeros_like(s)], 1)


def test_unpermuted_gradient_recovers_the_smooth_map_a_permuted_network_hides():
    # a "network trained on permuted images" whose gradient, in image order, is a smooth bump
    size, perm = 16, pixel_permutation(16, 16, seed=5)
    yy, xx = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
    bump = torch.exp(-((yy - 7.5) ** 2 + (xx - 6.0) ** 2) / 18.0)[None, None]
    bump = bump / bump.sum()  # logits of order 1: the softmax does not saturate
    model = _Linear(permute_pixels(bump, perm))  # it sees permuted pixels, so its weights are permuted too
    x = permute_pixels(torch.rand(3, 1, size, size, generator=torch.Generator().manual_seed(0)), perm)
    out = unpermuted_gradient_ef(model, x, perm)
    assert set(out) == {"array", "image"} and out["image"]["maps"].shape == (3, size, size)
    # in image order the map is the smooth bump (low EF, steep tail); in array order the same values look like noise
    assert (out["image"]["ef_nyquist"] < out["array"]["ef_nyquist"] - 0.1).all()
    assert (out["image"]["ef"] < out["array"]["ef"]).all()
    assert out["image"]["tail_slope"] < out["array"]["tail_slope"] - 1
    # the two orders hold the same values (rank maps), only their positions differ
    assert torch.equal(torch.sort(out["image"]["maps"].flatten(1)).values,
                       torch.sort(out["array"]["maps"].flatten(1)).values)
    # natural images (perm None): both orders are the same
    same = unpermuted_gradient_ef(_Linear(bump), torch.rand(2, 1, size, size), None)
    assert torch.equal(same["array"]["ef"], same["image"]["ef"])


def _record(beta: float, ef: float, seed: int = 0) -> dict:
    return {"activation": "ReLU" if math.isinf(beta) else f"SP({beta:g})", "beta": beta, "seed": seed,
            "ef": {"vanilla_grad": torch.tensor([ef, ef])}}


def test_ef_beta_slope_is_per_decade_of_beta_and_ignores_relu():
    recs = [_record(0.1, 1e-5), _record(1.0, 2e-5), _record(10.0, 3e-5), _record(math.inf, 9e-5)]
    s = ef_beta_slope(recs)  # scale 1e5: EF 1, 2, 3 at log10 beta -1, 0, 1
    assert s["slope"] == pytest.approx(1.0) and s["relative_slope"] == pytest.approx(0.5) and s["n_betas"] == 3
    assert math.isnan(ef_beta_slope([_record(1.0, 1e-5), _record(math.inf, 2e-5)])["slope"])


def test_loglog_slope_finds_power_laws_and_skips_bad_points():
    x = [16, 28, 42, float("nan")]
    assert loglog_slope(x, [3 * v ** -2.0 for v in [16, 28, 42]] + [1.0]) == pytest.approx(-2.0)
    assert loglog_slope([1, 10, 100], [0.0, 1.0, 2.0], log_y=False) == pytest.approx(1.0)
    assert math.isnan(loglog_slope([2, 2], [1, 4]))
    with pytest.raises(ValueError, match="equal length"):
        loglog_slope([1, 2], [1])


# -------------------------------------------------------------------------------------------------------- grids
QUICKISH = {"dataset": "mnist5k", "model": "simple_cnn", "model_options": {"depth": 2}, "activations": ["relu", "sp:2"],
            "seeds": [0], "accuracy_cap": 0.9, "max_epochs": 30, "lr": 1e-3, "lr_by_activation": {}, "batch_size": 256,
            "n_images": 200, "noise_std": 0.1, "n_samples": 64, "device": "cpu", "theorem1_images": 32}


def test_natural_condition_shares_chapter_4_and_chapter_3_points():
    grids = spatial_grids({**QUICKISH, "conditions": ["natural", "permuted", "permuted+smoothed:1"],
                           "permutation_seed": 7})
    assert [(c.label, kind) for c, kind, _ in grids] == [
        ("natural", "ef"), ("natural", "theorem1"), ("permuted", "ef"), ("permuted", "theorem1"),
        ("permuted+smoothed(1)", "ef"), ("permuted+smoothed(1)", "theorem1")]
    chapter4 = points_from_params(QUICKISH)  # the EF chapter passes its parameters as they are
    chapter3 = points_from_params(theorem1_param_sets({**{k: v for k, v in QUICKISH.items()
                                                          if k not in ("noise_std", "n_samples")},
                                                       "pools": ["max", "avg"]})[0])
    key = lambda pts: [point_key(c, s) for c, s in pts]  # noqa: E731
    assert key(points_from_params(grids[0][2])) == key(chapter4)  # same networks and the same records
    assert key(points_from_params(grids[1][2])) == key(chapter3)
    permuted = points_from_params(grids[2][2])
    assert [c.pixel_permutation for c, _ in permuted] == [7, 7]
    assert all(c.input_smoothing_sigma == 1.0 for c, _ in points_from_params(grids[4][2]))
    assert len(spatial_param_sets({**QUICKISH, "conditions": ["natural"]})) == 2


def test_width_one_is_left_out_so_networks_are_shared():
    assert width_options({"depth": 2}, 1) == {"depth": 2} == width_options({"depth": 2}, 1.0)
    assert width_options({"depth": 2, "width_mult": 3}, 2.0) == {"depth": 2, "width_mult": 2}
    assert width_options({"depth": 2}, 0.5) == {"depth": 2, "width_mult": 0.5}
    grids = width_grids({**QUICKISH, "width_mults": [0.5, 1]})
    assert [m for m, _ in grids] == [0.5, 1]
    half, one = (points_from_params(d) for _, d in grids)
    assert [c.key() for c, _ in one] == [c.key() for c, _ in points_from_params(QUICKISH)]  # chapter 4's networks
    assert half[0][0].model_options == {"depth": 2, "width_mult": 0.5} and half[0][1].methods == ("vanilla_grad",)
    assert all(d["model"] == "simple_cnn" for _, d in width_grids({**QUICKISH, "model": "skip_bn_cnn",
                                                                   "width_mults": [2]}))


def test_size_grids_are_the_ablation_chapters():
    params = {**QUICKISH, "image_sizes": [16, 28], "size_activation_specs": ["relu", "sp:1"], "n_images": 100}
    ours = size_grids(params)
    ch6 = {k: v for k, v in params.items() if k not in ("noise_std", "n_samples", "model", "model_options")}
    ch6 = {**ch6, "activations": ["relu", "sp:1"], "depths": [2], "skip_bn": [], "train_noise_stds": [],
           "train_blur_sigmas": [], "weight_decays": []}
    theirs = [d for axis, _, d in ablation_param_sets(ch6) if axis == "input size"]
    assert [s for s, _ in ours] == [16, 28]
    assert ([[point_key(c, s) for c, s in points_from_params(d)] for _, d in ours]
            == [[point_key(c, s) for c, s in points_from_params(d)] for d in theirs])
    assert len(width_size_param_sets({**params, "width_mults": [1, 2]})) == 4


@pytest.mark.parametrize("change, match", [
    ({"width_mults": [0.5, 0]}, r"width_mult.*positive finite number, got 0"),
    ({"width_mults": [-1.0]}, r"width_mult"),
    ({"width_mults": "2"}, r"width_mults must be a non-empty list"),
    ({"model_options": {"depth": 9}}, r"depth=9 needs inputs of at least"),
])
def test_bad_widths_fail_before_training(change, match):
    params = {**QUICKISH, "width_mults": [1], "image_sizes": [16], "size_activation_specs": ["relu"], **change}
    with pytest.raises((ParameterError, ValueError), match=match):
        check_grids(width_size_param_sets(params), "10_width_and_size")


def test_bad_spatial_parameters_fail_before_training():
    with pytest.raises(ParameterError, match="09_spatial_correlation: invalid grid parameters: pixel_permutation"):
        check_grids([{**QUICKISH, "pixel_permutation": "3"}], "09_spatial_correlation")
    with pytest.raises(ParameterError, match="parameter 'permutation_seed' = 1.5 is invalid"):
        spatial_param_sets({**QUICKISH, "conditions": ["permuted"], "permutation_seed": 1.5})
    with pytest.raises(ParameterError, match="parameter 'conditions' .* unknown input condition 'blurred'"):
        spatial_param_sets({**QUICKISH, "conditions": ["natural", "blurred"]})
    points = check_grids(spatial_param_sets({**QUICKISH, "conditions": ["natural", "permuted"]}))
    assert len(points) == 8  # 2 conditions x (EF, Theorem 1) x 2 activations
