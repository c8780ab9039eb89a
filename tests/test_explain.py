"""Explanation methods against finite differences, captum, closed forms and their defining identities."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from spectral_lib import explain
from spectral_lib.nn import SP
from spectral_lib.explain import (deeplift, grad_cam, guided_backprop, integrated_gradients, predict, smooth_grad, vanilla_grad)
from spectral_lib.spectral import rank_normalize, to_map
from spectral_lib.nn import build_model


def _net(activation="sp:2", pool="avg", shape=(1, 8, 8), classes=5, seed=0, **kw):
    torch.manual_seed(seed)
    return build_model("simple_cnn", activation, shape, classes, width=4, fc=16, pool=pool, **kw).double().eval()


def _x(n=6, shape=(1, 8, 8), seed=1):
    return torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _logp(model, x, t):
    with torch.no_grad():
        return torch.log_softmax(model(x), 1).gather(1, t[:, None]).squeeze(1)


def _wrapped(model):
    return nn.Sequential(model, nn.LogSoftmax(dim=1)).eval()


# --------------------------------------------------------------------------------------------- VanillaGrad


@pytest.mark.parametrize("activation,pool", [("sp:2", "avg"), ("relu", "max"), ("gaussian:0.5", "max")])
def test_vanilla_grad_matches_central_differences(activation, pool):
    model, x = _net(activation, pool), _x()
    t = predict(model, x)
    g = vanilla_grad(model, x)
    assert g.shape == x.shape and g.dtype == torch.float64
    n, p = len(x), x[0].numel()
    h = 1e-6
    eye = torch.eye(p, dtype=torch.float64).view(p, *x.shape[1:])
    plus = (x[:, None] + h * eye[None]).reshape(n * p, *x.shape[1:])
    minus = (x[:, None] - h * eye[None]).reshape(n * p, *x.shape[1:])
    tt = t.repeat_interleave(p)
    fd = ((_logp(model, plus, tt) - _logp(model, minus, tt)) / (2 * h)).view_as(x)
    torch.testing.assert_close(g, fd, rtol=1e-5, atol=1e-7)


def test_vanilla_grad_explains_the_given_target():
    model, x = _net(), _x()
    for c in range(5):
        g = vanilla_grad(model, x, target=c)
        xr = x.clone().requires_grad_(True)
        (ref,) = torch.autograd.grad(torch.log_softmax(model(xr), 1)[:, c].sum(), xr)
        torch.testing.assert_close(g, ref, rtol=0, atol=0)
    # the gradients over all classes of a log-softmax weighted by the softmax sum to zero
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
    total = sum(p[:, c].view(-1, 1, 1, 1) * vanilla_grad(model, x, target=c) for c in range(5))
    torch.testing.assert_close(total, torch.zeros_like(x), rtol=0, atol=1e-12)


def test_batched_equals_per_sample_even_with_batch_norm_in_train_mode():
    torch.manual_seed(0)
    model = build_model("skip_bn_cnn", "relu", (1, 8, 8), 4, skip=True, bn=True, channels=(4, 4, 4), fc=8).double()
    model.train()
    with torch.no_grad():  # give batch norm non-trivial running statistics
        for _ in range(3):
            model(_x(16, seed=5) * 2 + 1)
    x = _x(5)
    for method in (vanilla_grad, guided_backprop, lambda m, z: integrated_gradients(m, z, n_steps=4)):
        batched = method(model, x)
        single = torch.cat([method(model, x[i : i + 1]) for i in range(len(x))])
        torch.testing.assert_close(batched, single, rtol=1e-10, atol=1e-12)
    assert model.training  # the method restored the mode it found


# --------------------------------------------------------------------------------------------- SmoothGrad


def test_smooth_grad_with_zero_noise_is_vanilla_grad():
    model, x = _net(), _x()
    ref = vanilla_grad(model, x)
    for n in (1, 3):
        torch.testing.assert_close(smooth_grad(model, x, noise_std=0.0, n_samples=n), ref, rtol=1e-12, atol=1e-14)


def test_smooth_grad_with_given_noise_equals_manual_loop():
    model, x = _net("relu", "max"), _x()
    s = 7
    noise = 0.2 * torch.randn(s, *x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    t = predict(model, x)  # the target is fixed on the clean input
    manual = sum(vanilla_grad(model, x + noise[i], target=t) for i in range(s)) / s
    ours = smooth_grad(model, x, noise_std=0.2, n_samples=s, noise=noise)
    torch.testing.assert_close(ours, manual, rtol=1e-10, atol=1e-13)


def test_smooth_grad_equals_captum_noise_tunnel_on_the_same_noise():
    from captum.attr import NoiseTunnel, Saliency

    model, x = _net("sp:1.5", "max"), _x(4)
    t = predict(model, x)
    n_samples, std = 6, 0.3
    torch.manual_seed(123)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = NoiseTunnel(Saliency(_wrapped(model))).attribute(
            x, nt_type="smoothgrad", nt_samples=n_samples, stdevs=std, target=t, abs=False)
    # captum draws torch.normal(0, std) for the batch repeated-interleaved n_samples times: replay those draws
    torch.manual_seed(123)
    drawn = torch.normal(0, torch.tensor(std).repeat((len(x) * n_samples, *x.shape[1:])))
    noise = drawn.view(len(x), n_samples, *x.shape[1:]).transpose(0, 1).double()
    ours = smooth_grad(model, x, noise_std=std, n_samples=n_samples, target=t, noise=noise)
    torch.testing.assert_close(ours, theirs.double(), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape", [(6, 1, 8, 8), (3, 1, 5, 5)])
def test_smooth_grad_chunk_size_does_not_change_the_result(shape):
    model = _net(shape=shape[1:], depth=1)
    x = _x(shape[0], shape[1:])
    results = []
    for chunk in (1, 2, shape[0], shape[0] + 1, 7, 10_000):
        g = torch.Generator().manual_seed(11)
        results.append(smooth_grad(model, x, noise_std=0.3, n_samples=5, chunk_size=chunk, generator=g))
    for r in results[1:]:
        torch.testing.assert_close(r, results[0], rtol=1e-10, atol=1e-14)
    # a different seed gives different noise
    other = smooth_grad(model, x, noise_std=0.3, n_samples=5, generator=torch.Generator().manual_seed(12))
    assert not torch.allclose(other, results[0])


def test_smooth_grad_validates_noise_shape():
    model, x = _net(), _x(2)
    with pytest.raises(ValueError, match="noise"):
        smooth_grad(model, x, n_samples=3, noise=torch.zeros(2, *x.shape, dtype=torch.float64))


# --------------------------------------------------------------------------------------------- Integrated Gradients


def test_integrated_gradients_completeness_improves_with_steps():
    model, x = _net("sp:1", "avg"), _x()
    t = predict(model, x)
    delta = _logp(model, x, t) - _logp(model, torch.zeros_like(x), t)
    errs = []
    for n_steps in (2, 8, 32, 128):
        attr = integrated_gradients(model, x, target=t, n_steps=n_steps)
        errs.append(float((attr.flatten(1).sum(1) - delta).abs().max()))
    assert errs[-1] < 1e-4 * float(delta.abs().max()) + 1e-6
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    # midpoint rule: error O(1/n^2), so 4x the steps gives about 16x less error
    assert errs[-2] / errs[-1] > 8


def test_integrated_gradients_with_baseline():
    model, x = _net("sp:1", "avg"), _x()
    t = predict(model, x)
    base = torch.full_like(x, 0.5)
    attr = integrated_gradients(model, x, target=t, baseline=0.5, n_steps=128)
    delta = _logp(model, x, t) - _logp(model, base, t)
    torch.testing.assert_close(attr.flatten(1).sum(1), delta, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("activation,pool", [("relu", "max"), ("sp:2", "max")])
def test_integrated_gradients_equals_captum(activation, pool):
    from captum.attr import IntegratedGradients

    model, x = _net(activation, pool), _x()
    t = predict(model, x)
    theirs = IntegratedGradients(_wrapped(model)).attribute(x, baselines=torch.zeros_like(x), target=t, n_steps=16,
                                                            method="riemann_middle")
    for chunk in (4096, 5):
        ours = integrated_gradients(model, x, target=t, n_steps=16, chunk_size=chunk)
        torch.testing.assert_close(ours, theirs, rtol=1e-8, atol=1e-12)


# --------------------------------------------------------------------------------------------- Grad-CAM


@pytest.mark.parametrize("activation", ["relu", "sp:2"])
def test_grad_cam_equals_captum_layer_grad_cam(activation):
    from captum.attr import LayerAttribution, LayerGradCam

    model = _net(activation, "max", shape=(2, 12, 10))
    x = _x(5, (2, 12, 10))
    t = predict(model, x)
    layer = [m for m in model.modules() if isinstance(m, nn.Conv2d)][-1]
    cam = LayerGradCam(_wrapped(model), layer).attribute(x, target=t, relu_attributions=True)
    theirs = LayerAttribution.interpolate(cam, x.shape[-2:], interpolate_mode="bilinear")
    ours = grad_cam(model, x, target=t)
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, theirs.expand_as(x), rtol=1e-8, atol=1e-12)
    assert bool((ours >= 0).all())
    # an explicit layer (the first conv) works too and differs
    first = [m for m in model.modules() if isinstance(m, nn.Conv2d)][0]
    cam1 = LayerGradCam(_wrapped(model), first).attribute(x, target=t, relu_attributions=True)
    torch.testing.assert_close(grad_cam(model, x, target=t, layer=first),
                               LayerAttribution.interpolate(cam1, x.shape[-2:], "bilinear").expand_as(x))


def test_grad_cam_needs_a_conv_layer_and_4d_input():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double()
    with pytest.raises(ValueError, match="Conv2d"):
        grad_cam(mlp, _x(2, (1, 4, 4)))
    with pytest.raises(ValueError, match="N, C, H, W"):
        grad_cam(_net(), _x(2)[:, 0])


# --------------------------------------------------------------------------------------------- Guided Backprop


@pytest.mark.filterwarnings("ignore:.*(required_grads|backward hooks).*:UserWarning")
def test_guided_backprop_equals_captum_on_relu_net():
    from captum.attr import GuidedBackprop

    model, x = _net("relu", "max"), _x()
    t = predict(model, x)
    theirs = GuidedBackprop(_wrapped(model)).attribute(x, target=t)
    ours = guided_backprop(model, x, target=t)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-13)
    assert not torch.allclose(ours, vanilla_grad(model, x, target=t))
    # the hooks are gone afterwards: the plain gradient is unchanged
    torch.testing.assert_close(vanilla_grad(model, x, target=t), vanilla_grad(_net("relu", "max"), x, target=t))


@pytest.mark.parametrize("activation", [SP(1.5), SP(0.7, centered=True), nn.ReLU()])
def test_guided_backprop_one_hidden_layer_closed_form(activation):
    torch.manual_seed(0)
    lin1, lin2 = nn.Linear(6, 9).double(), nn.Linear(9, 4).double()
    act = activation.double()
    model = nn.Sequential(lin1, act, lin2).eval()
    x = _x(5, (6,))
    t = predict(model, x)
    ours = guided_backprop(model, x, target=t)
    with torch.no_grad():
        z = lin1(x)
        p = torch.softmax(lin2(act(z)), 1)
        dlogits = -p
        dlogits[torch.arange(len(x)), t] += 1  # d log_softmax_t / d logits
        g_h = dlogits @ lin2.weight  # gradient reaching the activation's output
        slope = torch.sigmoid(act.beta * z) if isinstance(act, SP) else (z > 0).double()
        expected = (slope * torch.relu(g_h)) @ lin1.weight  # guided rule: only positive signals pass back
        plain = (slope * g_h) @ lin1.weight
    torch.testing.assert_close(ours, expected, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(vanilla_grad(model, x, target=t), plain, rtol=1e-10, atol=1e-13)
    assert not torch.allclose(ours, plain)  # on an SP net too, Guided Backprop is not the gradient


def test_guided_backprop_on_sp_net_is_not_the_plain_gradient():
    model, x = _net("sp:2", "max"), _x()
    t = predict(model, x)
    gb, vg = guided_backprop(model, x, target=t), vanilla_grad(model, x, target=t)
    assert (gb - vg).abs().max() > 1e-3 * vg.abs().max()


def test_guided_backprop_needs_activation_modules():
    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            return torch.relu(self.lin(x))

    with pytest.raises(ValueError, match="activation"):
        guided_backprop(Functional().double(), _x(2, (4,)))


# --------------------------------------------------------------------------------------------- DeepLIFT


@pytest.mark.parametrize("activation,pool", [("relu", "max"), ("sp:2", "avg"), ("spc:0.5", "avg"), ("sp:2", "max")])
def test_deeplift_summation_to_delta(activation, pool):
    model, x = _net(activation, pool), _x()
    t = predict(model, x)
    attr = deeplift(model, x, target=t)
    assert attr.shape == x.shape and bool(torch.isfinite(attr).all())
    with torch.no_grad():
        lx, l0 = model(x), model(torch.zeros_like(x))
        jac = -torch.softmax(lx, 1)
        jac[torch.arange(len(x)), t] += 1
    total = attr.flatten(1).sum(1)
    # the network up to the logits is made of layers with DeepLIFT rules (linear, ReLU/SP rescale, max-pool), so the
    # attributions add up to the logits' change, weighted by the (linearised) log-softmax that captum has no rule for
    chained = (jac * (lx - l0)).sum(1)
    if not (activation.startswith("sp") and pool == "max"):
        # (for SP + max-pool captum's max-pool rule mixes in the log-softmax's gradient at the baseline)
        torch.testing.assert_close(total, chained, rtol=1e-9, atol=1e-12)
    # approximately the change of the explained quantity itself (first order in the logits' change)
    delta = _logp(model, x, t) - _logp(model, torch.zeros_like(x), t)
    assert float((total - delta).abs().max()) < 0.35 * float(delta.abs().max()) + 1e-3


def test_deeplift_uses_the_rescale_rule_for_sp():
    """SP subclasses nn.Softplus; captum must treat it like nn.Softplus (rescale rule), not as a plain gradient."""
    torch.manual_seed(0)
    lin1, lin2 = nn.Linear(6, 9).double(), nn.Linear(9, 3).double()
    x = _x(4, (6,))
    sp_net = nn.Sequential(lin1, SP(1.3), lin2).eval()
    softplus_net = nn.Sequential(lin1, nn.Softplus(1.3), lin2).eval()
    t = predict(sp_net, x)
    torch.testing.assert_close(deeplift(sp_net, x, target=t), deeplift(softplus_net, x, target=t), rtol=1e-12, atol=0)
    # ...and the rescale rule gives exact summation to delta on the logits
    with torch.no_grad():
        lx, l0 = sp_net(x), sp_net(torch.zeros_like(x))
        jac = -torch.softmax(lx, 1)
        jac[torch.arange(len(x)), t] += 1
    torch.testing.assert_close(deeplift(sp_net, x, target=t).sum(1), (jac * (lx - l0)).sum(1), rtol=1e-10, atol=1e-13)


# --------------------------------------------------------------------------------------------- maps


def test_rank_normalize_tie_free_is_permutation():
    maps = torch.randn(4, 7, 9, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    r = rank_normalize(maps)
    p = 7 * 9
    assert r.shape == maps.shape and r.dtype == maps.dtype
    assert bool(((r > 0) & (r <= 1)).all())
    for i in range(4):
        torch.testing.assert_close(r[i].flatten().sort().values, torch.arange(1, p + 1, dtype=torch.float64) / p)
        # order preserved: ranks sort the same way as values
        assert torch.equal(r[i].flatten().argsort(), maps[i].flatten().argsort())


def test_rank_normalize_ties_average_like_scipy():
    g = torch.Generator().manual_seed(1)
    maps = torch.randint(0, 5, (6, 5, 8), generator=g).double()
    maps[0] = 0.0  # all tied: every pixel gets the middle rank
    r = rank_normalize(maps)
    for i in range(6):
        ref = stats.rankdata(maps[i].numpy().ravel(), method="average") / maps[i].numel()
        np.testing.assert_allclose(r[i].numpy().ravel(), ref, rtol=0, atol=1e-12)
    r_ord = rank_normalize(maps, ties="ordinal")
    for i in range(6):
        ref = stats.rankdata(maps[i].numpy().ravel(), method="ordinal") / maps[i].numel()
        np.testing.assert_allclose(r_ord[i].numpy().ravel(), ref, rtol=0, atol=1e-12)


def test_to_map_reductions_and_normalisations():
    g = torch.Generator().manual_seed(2)
    attr = torch.randn(3, 3, 6, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(to_map(attr, normalize="none"), attr.sum(1))
    torch.testing.assert_close(to_map(attr, "abs_sum", "none"), attr.abs().sum(1))
    torch.testing.assert_close(to_map(attr, "l2", "none"), attr.norm(dim=1))
    mm = to_map(attr, normalize="minmax")
    assert torch.allclose(mm.amin(dim=(1, 2)), torch.zeros(3, dtype=torch.float64))
    assert torch.allclose(mm.amax(dim=(1, 2)), torch.ones(3, dtype=torch.float64))
    ranked = to_map(attr)
    ref = np.stack([stats.rankdata(m.ravel()).reshape(m.shape) / m.size for m in attr.sum(1).numpy()])
    np.testing.assert_allclose(ranked.numpy(), ref, atol=1e-12)
    assert torch.equal(to_map(attr.sum(1)), ranked)  # (N, H, W) skips the reduction
    # a flat map (e.g. an all-zero Grad-CAM) stays flat after ranking, at the middle rank
    flat = to_map(torch.zeros(2, 3, 4, 4))
    assert bool((flat == flat[0, 0, 0]).all()) and float(flat[0, 0, 0]) == pytest.approx((16 + 1) / 2 / 16)


@pytest.mark.parametrize("method", ["vanilla_grad", "smooth_grad", "integrated_gradients", "grad_cam",
                                    "guided_backprop", "guided_grad_cam", "deeplift"])
def test_target_validation(method):
    model, x = _net("relu", "max"), _x(3)
    opts = {"n_samples": 2} if method == "smooth_grad" else {"n_steps": 2} if method == "integrated_gradients" else {}
    for bad in (5, -1, [0, 1, 5], torch.tensor([0, 9, 1])):
        with pytest.raises(ValueError, match="target"):
            explain.explain(method, model, x, target=bad, **opts)
    with pytest.raises(ValueError, match="target"):
        explain.explain(method, model, x, target=[0, 1], **opts)  # wrong length
    with pytest.raises(TypeError, match="target"):
        explain.explain(method, model, x, target=1.5, **opts)
    # an int target broadcasts; the result matches explaining that class explicitly per sample
    if method == "smooth_grad":  # same noise for both calls
        opts["noise"] = 0.1 * torch.randn(2, *x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    a = explain.explain(method, model, x, target=2, **opts)
    b = explain.explain(method, model, x, target=[2, 2, 2], **opts)
    torch.testing.assert_close(a, b)


def test_explain_dispatch_and_input_validation():
    model, x = _net(), _x(2)
    with pytest.raises(ValueError, match="method"):
        explain.explain("lrp", model, x)
    with pytest.raises(TypeError, match="model"):
        vanilla_grad(lambda z: z, x)
    with pytest.raises(ValueError, match="NaN"):
        vanilla_grad(model, x * float("nan"))
    with pytest.raises(TypeError, match="floating"):
        vanilla_grad(model, x.long())
    with pytest.raises(ValueError, match="x"):
        vanilla_grad(model, x[0, 0, 0])
