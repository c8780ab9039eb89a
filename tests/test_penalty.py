"""The differentiable spectral penalty on input gradients: finite differences, closed forms, the spectrum module."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spectral_lib.nn import SP
from spectral_lib.explain import predict, vanilla_grad
from spectral_lib.spectral import to_map
from spectral_lib.training.penalty import _differentiable_profile
from spectral_lib.training import gradient_spectral_penalty, penalized_loss
from spectral_lib.spectral import expected_frequency, radial_profile


def _tiny(seed=0):
    """1 conv layer + SP(2) on 8x8 inputs, float64: smooth, so the penalty is differentiable in the parameters."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), SP(2.0), nn.Flatten(), nn.Linear(3 * 64, 4)).double()


def _x(n=3, shape=(1, 8, 8), seed=1):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("kind", ["tail_share", "ef"])
def test_parameter_gradient_matches_central_finite_differences(kind):
    model, x, y = _tiny(), _x(), torch.tensor([0, 2, 3])
    params = list(model.parameters())
    pen = gradient_spectral_penalty(model, x, y, kind=kind)
    grads = torch.autograd.grad(pen, params)
    assert all(p.grad is None for p in params)
    gen = torch.Generator().manual_seed(7)
    eps = 1e-6
    for i in (0, 1, 2, 3, 2):  # a coordinate of every parameter tensor (conv weight and bias, linear weight and bias)
        j = int(torch.randint(params[i].numel(), (1,), generator=gen))
        flat = params[i].data.view(-1)
        orig = flat[j].item()
        with torch.no_grad():
            flat[j] = orig + eps
            up = gradient_spectral_penalty(model, x, y, kind=kind).item()
            flat[j] = orig - eps
            down = gradient_spectral_penalty(model, x, y, kind=kind).item()
            flat[j] = orig
        fd = (up - down) / (2 * eps)
        assert math.isclose(grads[i].view(-1)[j].item(), fd, rel_tol=1e-4, abs_tol=1e-9), (i, j, fd)


def test_ef_kind_is_the_nyquist_ef_of_vanilla_grad():
    """Exact cross-check with the measurement side: the penalty's "ef" is the mean Nyquist EF of the channel-summed,
    unnormalised VanillaGrad maps (EF ignores bin 0, so removing the mean changes nothing)."""
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 16, 5)).double().eval()
    x = _x(4, (2, 8, 8))
    y = predict(model, x)
    ef = expected_frequency(to_map(vanilla_grad(model, x, y), normalize="none"), "nyquist").mean()
    torch.testing.assert_close(gradient_spectral_penalty(model, x, kind="ef"), ef, rtol=1e-12, atol=0)
    for m in (_x(3, (8, 8), seed=4), _x(2, (16, 12), seed=5), _x(2, (8, 8), seed=6).float()):
        torch.testing.assert_close(_differentiable_profile(m), radial_profile(m), rtol=1e-5, atol=1e-6)


def _linear_with_pattern(pattern: torch.Tensor) -> nn.Module:
    """Linear 2-class model with W[0] = pattern, W[1] = 0, b = 0: the gradient of log_softmax[0] is
    ``(1 - p_0) * pattern``, a positive multiple of the pattern (and the penalty is scale-invariant)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).double()
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.zero_()
        model[1].weight[0] = pattern.flatten()
    return model


def test_noisy_gradients_score_higher_than_smooth_ones_with_closed_forms():
    i = torch.arange(8, dtype=torch.float64)
    smooth = torch.exp(-((i[:, None] - 3.5) ** 2 + (i[None, :] - 3.5) ** 2) / 8.0)
    noisy = _x(1, (8, 8), seed=9)[0]
    x, y = _x(3, (1, 8, 8)), torch.zeros(3, dtype=torch.long)
    scores = {}
    for name, pat in (("smooth", smooth), ("noisy", noisy)):
        model = _linear_with_pattern(pat)
        centred = pat - pat.mean()
        prof = radial_profile(centred)[1:]
        f = torch.arange(1, len(prof) + 1, dtype=torch.float64) / 8
        share = gradient_spectral_penalty(model, x, y, cutoff=0.25)
        torch.testing.assert_close(share, prof[f > 0.25].sum() / prof.sum(), rtol=1e-10, atol=1e-14)
        ef = gradient_spectral_penalty(model, x, y, kind="ef")
        torch.testing.assert_close(ef, expected_frequency(pat, "nyquist"), rtol=1e-10, atol=0)
        scores[name] = (share.item(), ef.item())
    assert scores["noisy"][0] > 10 * scores["smooth"][0] and scores["noisy"][1] > 2 * scores["smooth"][1], scores
    assert 0.0 <= scores["smooth"][0] < scores["noisy"][0] <= 1.0
    # a flat (here: zero) gradient scores 0, not NaN
    flat = _linear_with_pattern(torch.zeros(8, 8))
    assert gradient_spectral_penalty(flat, x, y).item() == 0.0


def test_subsample_predicted_class_and_no_side_effects():
    model, x = _tiny(), _x(5)
    y = torch.tensor([1, 0, 3, 2, 2])
    model.train()
    full = gradient_spectral_penalty(model, x[:2], y[:2])
    torch.testing.assert_close(gradient_spectral_penalty(model, x, y, subsample=2), full, rtol=0, atol=0)
    torch.testing.assert_close(gradient_spectral_penalty(model, x, y, subsample=50),
                               gradient_spectral_penalty(model, x, y), rtol=0, atol=0)
    torch.testing.assert_close(gradient_spectral_penalty(model, x),
                               gradient_spectral_penalty(model, x, predict(model, x)), rtol=0, atol=0)
    torch.testing.assert_close(gradient_spectral_penalty(model, x, 2), gradient_spectral_penalty(model, x, [2] * 5),
                               rtol=0, atol=0)
    assert model.training and not x.requires_grad
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():  # the value alone, the same
        val = gradient_spectral_penalty(model, x, y)
    assert not val.requires_grad and val.item() == gradient_spectral_penalty(model, x, y).item()


def test_penalized_loss_is_cross_entropy_plus_weighted_penalty():
    model, x, y = _tiny(), _x(4), torch.tensor([0, 1, 2, 3])
    ce = F.cross_entropy(model(x), y)
    for kw in ({}, {"kind": "ef"}, {"cutoff": 0.1, "subsample": 2}):
        pen = gradient_spectral_penalty(model, x, y, **kw)
        torch.testing.assert_close(penalized_loss(model, x, y, 0.3, **kw), ce + 0.3 * pen, rtol=1e-12, atol=0)
    torch.testing.assert_close(penalized_loss(model, x, y, 0), ce, rtol=0, atol=0)
    with torch.no_grad():  # e.g. on a validation set: the value, without a graph
        val = penalized_loss(model, x, y, 0.3)
    assert not val.requires_grad
    torch.testing.assert_close(val, ce + 0.3 * gradient_spectral_penalty(model, x, y), rtol=1e-12, atol=0)
    loss = penalized_loss(model, x, y, 2.0)
    loss.backward()
    assert all(p.grad is not None and bool(torch.isfinite(p.grad).all()) for p in model.parameters())
    # the penalty's own parameter gradient is part of it
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    ce_grad = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    penalized_loss(model, x, y, 2.0).backward()
    assert any(not torch.allclose(p.grad, g) for p, g in zip(model.parameters(), ce_grad))


class _ForwardFails(nn.Module):
    def forward(self, x):
        raise AssertionError("validation must come before any forward pass")


def test_validation_before_any_work():
    model, x, y = _ForwardFails(), _x(2), torch.tensor([0, 1])
    for bad in (-0.1, math.inf, math.nan):
        with pytest.raises(ValueError, match="cutoff"):
            gradient_spectral_penalty(model, x, y, cutoff=bad)
        with pytest.raises(ValueError, match="cutoff"):
            penalized_loss(model, x, y, 1.0, cutoff=bad)
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="strength"):
            penalized_loss(model, x, y, bad)
    with pytest.raises(TypeError, match="strength"):
        penalized_loss(model, x, y, "1")
    with pytest.raises(ValueError, match="kind"):
        gradient_spectral_penalty(model, x, y, kind="l2")
    with pytest.raises(ValueError, match="kind"):
        penalized_loss(model, x, y, 1.0, kind="l2")
    with pytest.raises(ValueError, match="subsample"):
        gradient_spectral_penalty(model, x, y, subsample=0)
    for bad in (1.5, True):
        with pytest.raises(TypeError, match="subsample"):
            gradient_spectral_penalty(model, x, y, subsample=bad)
    with pytest.raises(TypeError, match="unexpected options"):
        penalized_loss(model, x, y, 1.0, strenght=2)
    with pytest.raises(ValueError, match="y"):
        penalized_loss(model, x, None, 1.0)
    with pytest.raises(ValueError, match="x must have 4"):
        gradient_spectral_penalty(model, x[:, 0], y)
    with pytest.raises(ValueError, match=r"y must be an int or have shape \(2,\)"):
        gradient_spectral_penalty(model, x, torch.tensor([0, 1, 1]), subsample=1)
    tiny = _tiny()
    with pytest.raises(ValueError, match=r"y must be in \[0, 4\)"):
        gradient_spectral_penalty(tiny, x, torch.tensor([0, 7]))
    with pytest.raises(TypeError, match="y must be integer"):
        penalized_loss(tiny, x, torch.tensor([0.0, 1.0]), 1.0)
