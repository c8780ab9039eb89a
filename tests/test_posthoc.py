"""Explain-time smoothing (beta_smooth_grad) and FORGrad-style low-pass (lowpass, lowpass_grad): exact identities."""
from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from spectral_lib import explain
from spectral_lib.nn import swap_activations
from spectral_lib.spectral import to_map
from spectral_lib.explain import vanilla_grad
from spectral_lib.nn import build_model
from spectral_lib.spectral import CORNER_FREQUENCY, lowpass
from spectral_lib.explain import beta_smooth_grad, lowpass_grad
from spectral_lib.spectral import expected_frequency


def _cnn(pool="max", seed=0):
    torch.manual_seed(seed)
    return build_model("simple_cnn", "relu", (1, 16, 16), 10, depth=2, pool=pool).double().eval()


def _x(n=3, shape=(1, 16, 16), seed=1):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class _StraightThroughSP(nn.Module):
    """The definition of the BetaSmooth backward, in plain autograd: forward ``relu(z)`` (the value is exactly
    ``relu(z) + 0``), local derivative ``sigmoid(beta * z)`` (the gradient of ``sigmoid(beta z).detach() * z``)."""

    def __init__(self, beta: float) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lin = torch.sigmoid(self.beta * z).detach() * z
        return torch.relu(z).detach() + (lin - lin.detach())


def _straight_through_copy(model: nn.Module, beta: float) -> nn.Module:
    ref = copy.deepcopy(model)
    assert swap_activations(ref, lambda: _StraightThroughSP(beta)) > 0
    return ref


# --------------------------------------------------------------------------------------------- beta_smooth_grad


@pytest.mark.parametrize("beta", [0.5, 3.0, 20.0])
def test_one_hidden_layer_closed_form_and_sp_logit_jacobian(beta):
    """Exact check on ``logits = W2 relu(z) + b2``, ``z = W1 x + b1`` (one hidden activation layer).

    The modified backward of log_softmax(logits)[t] is ``((e_t - p) @ W2 * sigmoid(beta z)) @ W1`` with p the softmax
    of the *ReLU* network's logits (the forward pass is unchanged). Two exact references:
    (1) that closed form; (2) the SP(beta) copy's logit Jacobian ``d logit_sp_j / dx = (W2[j] * sigmoid(beta z)) @ W1``
    (exact, because z does not depend on the activation in a single hidden layer) contracted with the ReLU network's
    softmax factor ``e_t - p``. The SP network's own log-softmax gradient uses ``e_t - p_sp`` instead, so it differs.
    The logit Jacobian is the same for both networks; only the log-softmax's weights ``e_t - p`` tell them apart."""
    d, h, k = 16, 12, 5
    torch.manual_seed(3)
    relu_net = nn.Sequential(nn.Flatten(), nn.Linear(d, h), nn.ReLU(), nn.Linear(h, k)).double()
    sp_net = copy.deepcopy(relu_net)
    swap_activations(sp_net, f"sp:{beta}")
    x = _x(4, (1, 4, 4), seed=5)
    t = torch.tensor([0, 3, 4, 1])
    got = beta_smooth_grad(relu_net, x, target=t, beta=beta)

    w1, b1, w2 = relu_net[1].weight, relu_net[1].bias, relu_net[3].weight
    with torch.no_grad():
        z = x.flatten(1) @ w1.T + b1
        weights = F.one_hot(t, k).double() - torch.softmax(relu_net(x), 1)  # e_t - p, (N, k)
        closed = ((weights @ w2) * torch.sigmoid(beta * z)) @ w1
    torch.testing.assert_close(got, closed.view_as(x), rtol=1e-12, atol=1e-15)

    jac = torch.autograd.functional.jacobian(lambda v: sp_net(v).sum(0), x)  # (k, N, 1, 4, 4): per-sample rows
    via_sp = torch.einsum("nj,jn...->n...", weights, jac)
    # nn.Softplus takes its derivative as exactly 1 where beta * z > 20 (its threshold): sigmoid(beta z) up to
    # exp(-20) ~ 2e-9 there, so the SP route is exact to that level (and to round-off where beta * z <= 20)
    exact = bool((beta * z <= 20).all())
    torch.testing.assert_close(got, via_sp, rtol=1e-12 if exact else 1e-8, atol=1e-15 if exact else 1e-10)
    assert not torch.allclose(got, vanilla_grad(sp_net, x, target=t), rtol=1e-6, atol=0)


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_deep_cnn_equals_relu_forward_with_sigmoid_derivatives(pool):
    """Depth-2 ReLU simple CNN: equal to the gradient through the ReLU network's own forward with each ReLU's local
    derivative sigmoid(beta * pre-activation) (a plain-autograd reference), and not to the SP network's gradient."""
    model, x = _cnn(pool), _x()
    t = torch.tensor([1, 7, 2])
    for beta in (0.7, 5.0):
        got = beta_smooth_grad(model, x, target=t, beta=beta)
        ref = vanilla_grad(_straight_through_copy(model, beta), x, target=t)
        torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-14)
        sp = copy.deepcopy(model)
        swap_activations(sp, f"sp:{beta}")
        assert not torch.allclose(got, vanilla_grad(sp, x, target=t), rtol=1e-3, atol=0)
    # target=None: the class predicted by the (unchanged) ReLU forward
    torch.testing.assert_close(beta_smooth_grad(model, x, beta=2.0),
                               beta_smooth_grad(model, x, target=explain.predict(model, x), beta=2.0), rtol=0, atol=0)


def test_large_beta_gives_vanilla_grad():
    model, x = _cnn("max"), _x()
    torch.testing.assert_close(beta_smooth_grad(model, x, beta=1e10), vanilla_grad(model, x), rtol=1e-10, atol=1e-14)
    assert not torch.allclose(beta_smooth_grad(model, x, beta=1.0), vanilla_grad(model, x), rtol=1e-3, atol=0)


def test_model_restored_after_call_and_after_error():
    model, x = _cnn("max"), _x()
    model.classifier[2] = nn.ReLU(inplace=True)
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        before = model.eval()(x)
    model.train()
    beta_smooth_grad(model, x, beta=2.0)
    with pytest.raises(ValueError, match="target"):  # raised after the forward pass, with the hooks set
        beta_smooth_grad(model, x, target=99, beta=2.0)
    assert model.training and model.classifier[2].inplace
    assert all(not m._forward_hooks and not m._backward_hooks for m in model.modules())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), before, rtol=0, atol=0)


class _Reused(nn.Module):
    """Two hidden layers sharing one in-place ReLU module (as torchvision's BasicBlock.relu)."""

    def __init__(self) -> None:
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(16, 10), nn.Linear(10, 8), nn.Linear(8, 4)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l3(self.act(self.l2(self.act(self.l1(x.flatten(1))))))


def test_inplace_reused_relu_batched_and_dispatch():
    torch.manual_seed(0)
    model, x = _Reused().double(), _x(5, (1, 4, 4))
    got = beta_smooth_grad(model, x, beta=1.5)
    torch.testing.assert_close(got, vanilla_grad(_straight_through_copy(model, 1.5), x), rtol=1e-10, atol=1e-14)
    t = explain.predict(model, x)
    for i in range(len(x)):  # per-sample = batched row
        torch.testing.assert_close(beta_smooth_grad(model, x[i : i + 1], target=t[i : i + 1], beta=1.5), got[i : i + 1])
    assert explain.METHODS["beta_smooth_grad"] is beta_smooth_grad and "beta_smooth_grad" in explain.__all__
    torch.testing.assert_close(explain.explain("beta_smooth_grad", model, x, beta=1.5), got, rtol=0, atol=0)
    assert model.act.inplace


class _ForwardFails(nn.Module):
    def __init__(self, *mods: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(*mods)

    def forward(self, x):
        raise AssertionError("validation must come before any forward pass")


def test_beta_smooth_grad_validation_before_any_work():
    x = _x(2, (1, 4, 4))
    relu = _ForwardFails(nn.Linear(16, 4), nn.ReLU())
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="beta"):
            beta_smooth_grad(relu, x, beta=bad)
    with pytest.raises(TypeError, match="beta"):
        beta_smooth_grad(relu, x, beta=True)
    with pytest.raises(ValueError, match="GELU"):
        beta_smooth_grad(_ForwardFails(nn.Linear(16, 4), nn.GELU()), x)
    with pytest.raises(ValueError, match="GELU"):  # mixed: a GELU beside the ReLU
        beta_smooth_grad(_ForwardFails(nn.Linear(16, 4), nn.ReLU(), nn.GELU()), x)
    with pytest.raises(ValueError, match=r"\(SP\)"):
        beta_smooth_grad(build_model("simple_cnn", "sp:2", (1, 8, 8), 3, width=2, fc=4), _x(2, (1, 8, 8)))
    with pytest.raises(ValueError, match="LeakyReLU"):
        beta_smooth_grad(_ForwardFails(nn.LeakyReLU()), x)
    with pytest.raises(ValueError, match="no nn.ReLU"):
        beta_smooth_grad(_ForwardFails(nn.Linear(16, 4)), x)
    with pytest.raises(TypeError, match="model"):
        beta_smooth_grad(lambda v: v, x)


# --------------------------------------------------------------------------------------------- lowpass


def _maps(shape, seed=2, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_lowpass_identity_at_corner_and_checkerboard_below_it():
    for shape in [(2, 3, 16, 16), (4, 16, 12), (2, 15, 9)]:
        m = _maps(shape)
        torch.testing.assert_close(lowpass(m, CORNER_FREQUENCY), m, rtol=0, atol=0)
        torch.testing.assert_close(lowpass(m, 5.0), m, rtol=0, atol=0)
    # just below the corner (even sizes): only the (0.5, 0.5) cell, the checkerboard, goes
    m = _maps((2, 3, 16, 12))
    sign = (-1.0) ** (torch.arange(16)[:, None] + torch.arange(12)[None, :]).double()
    checker = (m * sign).mean(dim=(-2, -1), keepdim=True) * sign
    torch.testing.assert_close(lowpass(m, CORNER_FREQUENCY - 1e-9), m - checker, rtol=1e-12, atol=1e-12)


def test_lowpass_cutoff_zero_is_the_mean_and_dtype_kept():
    m = _maps((2, 3, 10, 14))
    torch.testing.assert_close(lowpass(m, 0.0), m.mean(dim=(-2, -1), keepdim=True).expand_as(m), rtol=1e-12,
                               atol=1e-12)
    m32 = m.float()
    out = lowpass(m32, 0.2)
    assert out.dtype == torch.float32 and out.shape == m32.shape
    torch.testing.assert_close(out, lowpass(m, 0.2).float(), rtol=1e-4, atol=1e-5)


def test_lowpass_keeps_sinusoids_below_the_cutoff_and_removes_those_above():
    """Radial, not per axis: the diagonal wave has both axis frequencies below 0.25 but radius 0.265 > 0.25."""
    n = 32
    i = torch.arange(n, dtype=torch.float64)
    yy, xx = i[:, None], i[None, :]
    low = torch.cos(2 * math.pi * 4 / n * xx).expand(n, n)  # 0.125 cycles/pixel
    high = torch.cos(2 * math.pi * 12 / n * yy).expand(n, n)  # 0.375
    diag = torch.sin(2 * math.pi * 6 / n * (xx + yy))  # radius sqrt(2) * 6/32 = 0.265
    out = lowpass((low + high + diag)[None, None], 0.25)[0, 0]
    torch.testing.assert_close(out, low, rtol=0, atol=1e-12)
    torch.testing.assert_close(lowpass((low + diag)[None], 0.3)[0], low + diag, rtol=0, atol=1e-12)


def test_lowpass_grad_equals_filtered_vanilla_grad_and_ef_falls_with_the_cutoff():
    """EF (Nyquist) of the channel-summed map, *unnormalised* (normalize="none"): the low-pass removes the cells of
    largest radius, which sit in the highest radial bins, so the spectrum's mean frequency cannot rise. (Rank
    normalisation is non-linear and re-creates high frequencies, so it would not give a monotone curve.)"""
    x = _x(3, (3, 16, 16))
    torch.manual_seed(0)
    model = build_model("simple_cnn", "relu", (3, 16, 16), 10, depth=2).double().eval()
    vg = vanilla_grad(model, x)
    torch.testing.assert_close(lowpass_grad(model, x, cutoff=CORNER_FREQUENCY), vg, rtol=0, atol=0)
    efs = []
    for c in (0.71, 0.6, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1):
        out = lowpass_grad(model, x, cutoff=c)
        torch.testing.assert_close(out, lowpass(vg, c), rtol=0, atol=0)
        efs.append(expected_frequency(to_map(out, normalize="none"), "nyquist"))
    efs = torch.stack(efs)  # (cutoffs, N)
    assert bool((efs[1:] <= efs[:-1] + 1e-12).all()), efs
    assert bool((efs[-1] < 0.6 * efs[0]).all())
    assert explain.METHODS["lowpass_grad"] is lowpass_grad and "lowpass_grad" in explain.__all__
    torch.testing.assert_close(explain.explain("lowpass_grad", model, x, cutoff=0.3), lowpass(vg, 0.3), rtol=0, atol=0)
    flat = lowpass_grad(model, x, cutoff=0.0)
    torch.testing.assert_close(flat, vg.mean(dim=(-2, -1), keepdim=True).expand_as(vg), rtol=1e-12, atol=1e-15)


def test_lowpass_validation_before_any_work():
    m = _maps((2, 8, 8))
    model = _ForwardFails(nn.Conv2d(1, 1, 3), nn.ReLU())
    for bad in (-0.1, math.inf, math.nan):
        with pytest.raises(ValueError, match="cutoff"):
            lowpass(m, bad)
        with pytest.raises(ValueError, match="cutoff"):
            lowpass_grad(model, _x(2, (1, 8, 8)), cutoff=bad)
    with pytest.raises(TypeError, match="cutoff"):
        lowpass(m, "0.2")
    with pytest.raises(ValueError, match="maps"):
        lowpass(m[0], 0.2)
    with pytest.raises(TypeError, match="real"):
        lowpass(m.to(torch.complex128), 0.2)
    with pytest.raises(ValueError, match="N, C, H, W"):
        lowpass_grad(model, _x(2, (64,)), cutoff=0.2)
