"""Input conditions for the spatial-correlation chapter: the permutation is a bijection applied identically to train
and test, its inverse restores the image, smoothing restores correlation, and new TrainConfig fields keep old keys."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from spectral_lib import cache
from spectral_lib.data import load
from spectral_lib.training import TrainConfig, load_for
from spectral_lib.data import (apply_input_condition, gaussian_smooth, permute_pixels, pixel_permutation, unpermute_pixels)


def test_permutation_is_a_bijection_and_its_inverse_restores_the_image():
    perm = pixel_permutation(28, 28, seed=3)
    assert sorted(perm.tolist()) == list(range(28 * 28)) and not torch.equal(perm, torch.arange(28 * 28))
    assert torch.equal(perm, pixel_permutation(28, 28, seed=3))  # a seed fixes it
    x = torch.randn(5, 2, 28, 28)
    y = permute_pixels(x, perm)
    assert torch.equal(unpermute_pixels(y, perm), x)
    assert torch.equal(y.flatten(2)[..., 7], x.flatten(2)[..., perm[7]])  # same move in every image and channel
    assert torch.equal(torch.sort(y.flatten(2), -1).values, torch.sort(x.flatten(2), -1).values)


def test_bad_permutation_inputs_are_named():
    with pytest.raises(TypeError, match="seed must be an int"):
        pixel_permutation(4, 4, seed=1.5)
    with pytest.raises(ValueError, match="perm"):
        permute_pixels(torch.zeros(1, 1, 4, 4), torch.arange(15))
    with pytest.raises(TypeError, match="pixel_permutation"):
        TrainConfig(pixel_permutation="3").validate()
    with pytest.raises(ValueError, match="input_smoothing_sigma"):
        TrainConfig(input_smoothing_sigma=-1.0).validate()


def _neighbour_correlation(x: torch.Tensor) -> float:
    a, b = x[..., :, :-1].flatten(), x[..., :, 1:].flatten()
    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


def test_conditions_are_applied_identically_to_train_and_test_and_set_correlation():
    splits = load("mnist5k")
    perm = apply_input_condition(splits, permutation_seed=0)
    p = pixel_permutation(28, 28, 0)
    assert torch.equal(perm.train.tensors[0], permute_pixels(splits.train.tensors[0], p))
    assert torch.equal(perm.test.tensors[0], permute_pixels(splits.test.tensors[0], p))
    assert torch.equal(perm.train.tensors[1], splits.train.tensors[1])  # labels untouched
    natural = _neighbour_correlation(splits.test.tensors[0])
    permuted = _neighbour_correlation(perm.test.tensors[0])
    smoothed = _neighbour_correlation(apply_input_condition(splits, 0, 1.5).test.tensors[0])
    assert natural > 0.5 and abs(permuted) < natural / 2 and smoothed > permuted  # correlation is a dial
    cfg = TrainConfig(pixel_permutation=0)
    assert torch.equal(load_for(cfg).test.tensors[0], perm.test.tensors[0])


def test_gaussian_smooth_keeps_constants_and_zero_is_identity():
    x = torch.full((1, 1, 9, 9), 2.5)
    torch.testing.assert_close(gaussian_smooth(x, 1.0), x)
    y = torch.randn(2, 1, 9, 9)
    assert gaussian_smooth(y, 0.0) is y


def test_late_fields_leave_old_keys_unchanged_and_change_them_when_set():
    base = TrainConfig(device="cpu")
    late = {"pixel_permutation", "input_smoothing_sigma", "penalty_strength", "penalty_kind", "penalty_cutoff",
            "penalty_subsample", "n_train"}
    old_style = {k: v for k, v in dataclasses.asdict(base).items() if k not in late}
    assert base.key() == cache.config_key(old_style)  # the key an earlier release computed
    changed = {"pixel_permutation": 0, "input_smoothing_sigma": 1.0, "penalty_strength": 0.1, "penalty_kind": "ef",
               "penalty_cutoff": 0.3, "penalty_subsample": 8, "n_train": 500}
    keys = {dataclasses.replace(base, **{k: v}).validate().key() for k, v in changed.items()}
    assert len(keys) == len(changed) and base.key() not in keys
