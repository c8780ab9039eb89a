"""The paper's protocol (the authors' captum calls on the logits) beside our methods, and the ``rule`` option of
Guided Backprop: exact agreement with captum, the SP subclass pitfalls, and the authors' Grad-CAM layers."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from spectral_lib import explain
from spectral_lib.nn import SP, swap_activations
from spectral_lib.explain import (PAPER_ROWS, authors_cam_layer, captum_deeplift, captum_guided_backprop, captum_guided_grad_cam, captum_integrated_gradients, grad_cam, guided_backprop, guided_grad_cam, predict, vanilla_grad)
from spectral_lib.nn import build_model

pytestmark = pytest.mark.filterwarnings("ignore:.*(required_grads|backward hooks|non-linear).*:UserWarning")

SHAPE = (1, 16, 16)


def _net(activation="relu", depth=2, pool="max", seed=0):
    torch.manual_seed(seed)
    return build_model("simple_cnn", activation, SHAPE, 10, depth=depth, pool=pool).double().eval()


def _x(n=6, seed=1):
    return torch.randn(n, *SHAPE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _logit_grad(model, x, t):
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xr).gather(1, t[:, None]).sum(), xr)
    return g


def _logit_delta(model, x, t):
    with torch.no_grad():
        return (model(x) - model(torch.zeros_like(x))).gather(1, t[:, None]).squeeze(1)


def _wrapped(model):
    return nn.Sequential(model, nn.LogSoftmax(dim=1)).eval()


def _softplus_copy(model):
    """The same network (same weights) with plain nn.Softplus modules instead of SP: the authors' modules."""
    twin = copy.deepcopy(model)
    n = swap_activations(twin, lambda: nn.Softplus(beta=1.0), types=(SP,))
    assert n > 0 and not any(type(m) is SP for m in twin.modules())
    return twin


# --------------------------------------------------------------------------------------------- GradCAM row


def test_captum_guided_grad_cam_is_the_authors_call():
    from captum.attr import GuidedGradCam

    model, x = _net(), _x()
    t = predict(model, x)
    ours = captum_guided_grad_cam(model, x)  # target=None: the class predicted on the clean input
    theirs = GuidedGradCam(model, model.features[-1]).attribute(x, target=t)
    assert ours.shape == x.shape and not ours.requires_grad
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-15)
    assert float(ours.abs().max()) > 0
    # an explicit layer and interpolation mode are passed through to captum
    first_conv = model.features[0]
    theirs1 = GuidedGradCam(model, first_conv).attribute(x, target=t, interpolate_mode="bilinear")
    torch.testing.assert_close(captum_guided_grad_cam(model, x, layer=first_conv, interpolate_mode="bilinear"),
                               theirs1, rtol=1e-12, atol=1e-15)


def test_captum_guided_grad_cam_from_first_principles():
    """Logit (not log-softmax), ReLU-guided gradient times the ReLU'd CAM at the last max-pool, nearest-upsampled."""
    model, x = _net(), _x()
    t = predict(model, x)
    store = {}
    handle = model.features[-1].register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
    try:
        logits = model(x)
    finally:
        handle.remove()
    act = store["a"]  # (N, 32, 4, 4)
    (g,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), act)
    cam = torch.relu((g.mean(dim=(2, 3), keepdim=True) * act).sum(1, keepdim=True)).detach()
    scale = x.shape[-1] // act.shape[-1]
    up = cam.repeat_interleave(scale, 2).repeat_interleave(scale, 3)  # nearest upsampling by an integer factor
    expected = captum_guided_backprop(model, x) * up
    torch.testing.assert_close(captum_guided_grad_cam(model, x), expected, rtol=1e-10, atol=1e-14)
    # and it is not our log-softmax, bilinear, last-conv Guided Grad-CAM
    assert not torch.allclose(captum_guided_grad_cam(model, x), guided_grad_cam(model, x, rule="captum"))


def test_guided_grad_cam_captum_rule_structure():
    from captum.attr import GuidedGradCam

    relu_net, x = _net(), _x()
    t = predict(relu_net, x)
    ggc = guided_grad_cam(relu_net, x, rule="captum")
    torch.testing.assert_close(ggc, guided_backprop(relu_net, x, rule="captum") * grad_cam(relu_net, x),
                               rtol=0, atol=0)
    # = captum's GuidedGradCam on the log-softmax at the last conv with bilinear upsampling
    last_conv = relu_net.features[-3]
    assert isinstance(last_conv, nn.Conv2d)
    theirs = GuidedGradCam(_wrapped(relu_net), last_conv).attribute(x, target=t, interpolate_mode="bilinear")
    torch.testing.assert_close(ggc, theirs, rtol=1e-10, atol=1e-14)
    # every activation of a ReLU net is an nn.ReLU: both rules guide the same modules
    torch.testing.assert_close(ggc, guided_grad_cam(relu_net, x), rtol=0, atol=0)
    # on an SP net the captum rule guides nothing: the plain gradient times the CAM, unlike the generalised rule
    sp_net = _net("sp:1")
    sp_ggc = guided_grad_cam(sp_net, x, rule="captum")
    torch.testing.assert_close(sp_ggc, vanilla_grad(sp_net, x) * grad_cam(sp_net, x), rtol=1e-12, atol=1e-15)
    assert not torch.allclose(sp_ggc, guided_grad_cam(sp_net, x, rule="generalised"))


# --------------------------------------------------------------------------------------------- GuidedBP row


def test_captum_guided_backprop_on_sp_net_is_the_plain_logit_gradient():
    from captum.attr import GuidedBackprop

    model, x = _net("sp:1"), _x()
    t = predict(model, x)
    ours = captum_guided_backprop(model, x)
    torch.testing.assert_close(ours, _logit_grad(model, x, t), rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(ours, GuidedBackprop(model).attribute(x, target=t), rtol=0, atol=0)
    # the authors' nn.Softplus network: the same (captum guides only nn.ReLU, by isinstance; neither SP nor
    # nn.Softplus is one), so the paper's "GuidedBP" on an SP net has no gap to the gradient by construction
    torch.testing.assert_close(GuidedBackprop(_softplus_copy(model)).attribute(x, target=t), ours,
                               rtol=1e-12, atol=1e-15)
    # our rule="captum" reproduces that (on the log-softmax it is VanillaGrad) ...
    torch.testing.assert_close(guided_backprop(model, x, rule="captum"), vanilla_grad(model, x), rtol=0, atol=0)
    # ... and the default generalised rule does guide through SP: far from the gradient
    gen, vg = guided_backprop(model, x, rule="generalised"), vanilla_grad(model, x)
    torch.testing.assert_close(guided_backprop(model, x), gen, rtol=0, atol=0)
    assert float((gen - vg).abs().max()) > 1e-2 * float(vg.abs().max())


def test_guided_backprop_captum_rule_equals_captum_on_relu_net():
    from captum.attr import GuidedBackprop

    model, x = _net(), _x()
    t = predict(model, x)
    # on the logits: the paper's row is captum's GuidedBackprop, and guidance is active (not the plain gradient)
    ours_logits = captum_guided_backprop(model, x)
    torch.testing.assert_close(ours_logits, GuidedBackprop(model).attribute(x, target=t), rtol=0, atol=0)
    assert not torch.allclose(ours_logits, _logit_grad(model, x, t))
    # on the log-softmax: guided_backprop(rule="captum") is captum's GuidedBackprop of LogSoftmax(model)
    ours = guided_backprop(model, x, rule="captum")
    torch.testing.assert_close(ours, GuidedBackprop(_wrapped(model)).attribute(x, target=t), rtol=1e-10, atol=1e-14)
    assert not torch.allclose(ours, vanilla_grad(model, x))


def test_captum_rule_hooks_relu_subclasses_like_captum():
    """captum selects ReLUs by isinstance (a subclass is guided); rule="captum" must do the same."""
    from captum.attr import GuidedBackprop

    class MyReLU(nn.ReLU):
        pass

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 20), MyReLU(), nn.Linear(20, 20), MyReLU(), nn.Linear(20, 4)).double().eval()
    x = torch.randn(8, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    t = predict(model, x)
    theirs = GuidedBackprop(_wrapped(model)).attribute(x, target=t)
    assert not torch.allclose(theirs, vanilla_grad(model, x))  # captum did guide MyReLU
    torch.testing.assert_close(guided_backprop(model, x, rule="captum"), theirs, rtol=1e-10, atol=1e-14)


def test_rule_option_validation_and_models_without_relu():
    model, x = _net(), _x(2)
    for fn in (guided_backprop, guided_grad_cam):
        with pytest.raises(ValueError, match="rule"):
            fn(model, x, rule="springenberg")

    class Functional(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, z):
            return self.lin(torch.relu(z))

    f, z = Functional().double(), torch.randn(3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="activation"):
        guided_backprop(f, z)  # generalised: no activation module to guide is an error
    torch.testing.assert_close(guided_backprop(f, z, rule="captum"), vanilla_grad(f, z), rtol=0, atol=0)  # captum


# --------------------------------------------------------------------------------------------- IntGrad / DeepLift


def test_captum_integrated_gradients_is_the_authors_call():
    from captum.attr import IntegratedGradients

    model, x = _net("sp:1"), _x()
    t = predict(model, x)
    ours = captum_integrated_gradients(model, x)
    theirs = IntegratedGradients(model).attribute(x, target=t, baselines=torch.zeros_like(x))
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(captum_integrated_gradients(model, x, internal_batch_size=7), ours,
                               rtol=1e-10, atol=1e-14)
    # completeness on the logit (not the log-softmax): Gauss-Legendre with 50 steps on a smooth-ish net
    delta = _logit_delta(model, x, t)
    torch.testing.assert_close(ours.flatten(1).sum(1), delta, rtol=1e-2, atol=1e-3)
    assert not torch.allclose(ours, explain.integrated_gradients(model, x, n_steps=50), rtol=1e-3)


def test_captum_deeplift_on_sp_equals_captum_on_the_softplus_net():
    from captum.attr import DeepLift
    from captum.attr._core import deep_lift as captum_deep_lift

    sp_net, x = _net("sp:1"), _x()
    t = predict(sp_net, x)
    softplus_net = _softplus_copy(sp_net)
    theirs = DeepLift(softplus_net).attribute(x, target=t)  # the authors' network: nn.Softplus modules
    registry = captum_deep_lift.SUPPORTED_NON_LINEAR
    saved = registry.pop(SP, None)  # as in a fresh process: captum alone gives SP (a subclass) no rule at all
    try:
        unregistered = DeepLift(sp_net).attribute(x, target=t)
        ours = captum_deeplift(sp_net, x)  # must register SP itself
        assert registry.get(SP) is registry[nn.Softplus]
    finally:
        if SP not in registry and saved is not None:
            registry[SP] = saved
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-15)
    assert not torch.allclose(unregistered, theirs, rtol=1e-4, atol=1e-8)


@pytest.mark.parametrize("activation,pool", [("relu", "max"), ("sp:1", "avg")])
def test_captum_deeplift_sums_to_the_logit_change(activation, pool):
    model, x = _net(activation, pool=pool), _x()
    t = predict(model, x)
    attr = captum_deeplift(model, x)
    torch.testing.assert_close(attr.flatten(1).sum(1), _logit_delta(model, x, t), rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------------------------- layers and registry


def test_authors_cam_layer():
    for depth in (1, 2, 3):
        model = _net(depth=depth)
        layer = authors_cam_layer(model)
        assert isinstance(layer, nn.MaxPool2d) and layer is model.features[-1]
        assert layer is [m for m in model.modules() if isinstance(m, nn.MaxPool2d)][-1]
    torch.manual_seed(0)
    r18 = build_model("resnet18", "sp:1", (3, 16, 16), 10)
    assert authors_cam_layer(r18) is r18.layer4[1].conv2
    r34 = build_model("resnet34", "relu", (3, 16, 16), 10)
    assert authors_cam_layer(r34) is r34.layer4[1].conv2 and len(r34.layer4) == 3  # not the last block: as written
    r50 = build_model("resnet50", "relu", (3, 16, 16), 10)
    assert authors_cam_layer(r50) is r50.layer4[2].conv3
    vit = build_model("vit_b_16", "gelu", (3, 32, 32), 10)
    assert authors_cam_layer(vit) is vit.conv_proj
    # the default layer runs end to end on a torchvision ResNet (inplace, reused ReLU modules)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    r18_relu = build_model("resnet18", "relu", (3, 16, 16), 10)
    a = captum_guided_grad_cam(r18_relu, x)
    assert a.shape == x.shape and bool(torch.isfinite(a).all())


def test_authors_cam_layer_needs_a_known_model_or_an_explicit_layer():
    avg = _net(pool="avg")
    with pytest.raises(ValueError, match="layer"):
        authors_cam_layer(avg)
    with pytest.raises(ValueError, match="layer="):
        captum_guided_grad_cam(avg, _x(2))
    a = captum_guided_grad_cam(avg, _x(2), layer=avg.features[-1])  # an explicit layer works
    assert a.shape == (2, *SHAPE)
    torch.manual_seed(0)
    for model in (build_model("skip_bn_cnn", "relu", SHAPE, 4, channels=(4, 4), fc=8),
                  nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 3))):
        with pytest.raises(ValueError, match="layer="):
            authors_cam_layer(model)
    with pytest.raises(ValueError, match="N, C, H, W"):
        captum_guided_grad_cam(_net(), _x(2)[:, 0])


def test_paper_rows_and_methods():
    assert set(PAPER_ROWS) == {"VanillaGrad", "SmoothGrad", "IntGrad", "GuidedBP", "DeepLift", "GradCAM"}
    assert all(m in explain.METHODS for m in PAPER_ROWS.values())
    assert PAPER_ROWS["GradCAM"] == "captum_guided_grad_cam" and PAPER_ROWS["GuidedBP"] == "captum_guided_backprop"
    # the paper's protocol is available beside our methods, never instead of them
    assert set(explain.METHODS) == {"vanilla_grad", "smooth_grad", "integrated_gradients", "grad_cam",
                                    "guided_grad_cam", "guided_backprop", "deeplift", "captum_guided_grad_cam",
                                    "captum_integrated_gradients", "captum_deeplift", "captum_guided_backprop",
                                    "beta_smooth_grad", "lowpass_grad"}
    for name in ("captum_guided_grad_cam", "captum_integrated_gradients", "captum_deeplift", "captum_guided_backprop",
                 "authors_cam_layer", "PAPER_ROWS"):
        assert name in explain.__all__
    # dispatch passes options through
    model, x = _net(), _x(2)
    torch.testing.assert_close(explain.explain("guided_backprop", model, x, rule="captum"),
                               guided_backprop(model, x, rule="captum"), rtol=0, atol=0)


@pytest.mark.parametrize("method", ["captum_guided_grad_cam", "captum_integrated_gradients", "captum_deeplift",
                                    "captum_guided_backprop"])
def test_captum_methods_targets_and_eval_mode(method):
    torch.manual_seed(0)
    model = build_model("skip_bn_cnn", "relu", SHAPE, 4, bn=True, channels=(4, 4), fc=8).double()
    with torch.no_grad():  # non-trivial running statistics
        model(_x(16, seed=5) * 2 + 1)
    x = _x(3)
    opts = {"layer": model.features[-1].conv} if method == "captum_guided_grad_cam" else {}
    for bad in (4, -1, [0, 1, 4]):
        with pytest.raises(ValueError, match="target"):
            explain.explain(method, model, x, target=bad, **opts)
    with pytest.raises(TypeError, match="target"):
        explain.explain(method, model, x, target=1.5, **opts)
    model.train()
    a = explain.explain(method, model, x, target=2, **opts)
    assert model.training  # restored
    torch.testing.assert_close(a, explain.explain(method, model, x, target=[2, 2, 2], **opts))
    # per-sample results do not depend on the batch (eval mode under batch norm)
    single = torch.cat([explain.explain(method, model, x[i : i + 1], target=2, **opts) for i in range(len(x))])
    torch.testing.assert_close(a, single, rtol=1e-9, atol=1e-12)
