"""build_model: every architecture builds with the requested activation and gives (N, num_classes) outputs."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from spectral_lib.nn import SP, GaussianReLU
from spectral_lib.nn import MODEL_NAMES, SimpleCNN, build_model


def _acts(model: nn.Module, cls) -> int:
    return sum(isinstance(m, cls) for m in model.modules())


@pytest.mark.parametrize("name,in_shape", [("simple_cnn", (1, 28, 28)), ("simple_cnn", (3, 13, 9)),
                                           ("skip_bn_cnn", (1, 28, 28)), ("skip_bn_cnn", (3, 8, 8))])
@pytest.mark.parametrize("activation", ["relu", "spc:0.5", "gaussian:0.3"])
def test_small_models_output_shape_and_activation(name, in_shape, activation):
    torch.manual_seed(0)
    model = build_model(name, activation, in_shape, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(3, *in_shape)).shape == (3, 7)
    expected = {"relu": nn.ReLU, "spc:0.5": SP, "gaussian:0.3": GaussianReLU}[activation]
    others = {nn.ReLU, SP, GaussianReLU} - {expected}
    assert _acts(model, expected) > 0 and all(_acts(model, o) == 0 for o in others)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
def test_resnets(name):
    torch.manual_seed(0)
    model = build_model(name, "sp:3", (1, 8, 8), num_classes=4).eval()
    assert _acts(model, nn.ReLU) == 0 and _acts(model, SP) > 0
    assert model.conv1.in_channels == 1 and model.conv1.stride == (1, 1)  # small-input stem
    with torch.no_grad():
        assert model(torch.randn(1, 1, 8, 8)).shape == (1, 4)


def test_resnet_large_input_stem_and_relu_kept():
    model = build_model("resnet18", "relu", (3, 96, 96), num_classes=3).eval()
    assert model.conv1.stride == (2, 2) and isinstance(model.maxpool, nn.MaxPool2d)
    assert _acts(model, nn.ReLU) > 0 and _acts(model, SP) == 0


def test_vit_b_16_small_image():
    torch.manual_seed(0)
    model = build_model("vit_b_16", "spc:1", (1, 32, 32), num_classes=3).eval()
    assert _acts(model, nn.GELU) == 0 and _acts(model, SP) == 12  # one per encoder block
    with torch.no_grad():
        assert model(torch.randn(2, 1, 32, 32)).shape == (2, 3)
    gelu = build_model("vit_b_16", "gelu", (3, 32, 32), num_classes=3, patch_size=8)
    assert _acts(gelu, nn.GELU) == 12 and gelu.patch_size == 8
    with pytest.raises(ValueError, match="divisible"):
        build_model("vit_b_16", "gelu", (3, 40, 40))
    with pytest.raises(ValueError, match="patch_size"):
        build_model("vit_b_16", "gelu", (3, 32, 32), patch_size=0)


def test_every_name_is_covered():
    assert set(MODEL_NAMES) == {"simple_cnn", "skip_bn_cnn", "mlp", "resnet18", "resnet34", "resnet50", "vit_b_16"}


def test_simple_cnn_structure_follows_the_paper():
    model = build_model("simple_cnn", "relu", (3, 32, 32), 10, depth=3)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64]  # each block doubles the channels
    assert all(c.bias is None and c.kernel_size == (3, 3) for c in convs)  # bias-free 3x3 convs
    fcs = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert fcs[0].in_features == 64 * 4 * 4 and fcs[0].out_features == 512 and fcs[-1].out_features == 10
    # one activation instance per call site
    acts = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len(acts) == 4 and len({id(a) for a in acts}) == 4


def test_depth_validation():
    for depth in (1, 2, 4):
        assert build_model("simple_cnn", "relu", (1, 16, 16), depth=depth)(torch.randn(1, 1, 16, 16)).shape == (1, 10)
    with pytest.raises(ValueError, match="depth"):
        build_model("simple_cnn", "relu", (1, 16, 16), depth=5)  # 16 < 2**5
    with pytest.raises(ValueError, match="depth"):
        build_model("simple_cnn", "relu", depth=0)
    with pytest.raises(TypeError, match="depth"):
        build_model("simple_cnn", "relu", depth=2.0)
    with pytest.raises(ValueError, match="at least"):
        build_model("skip_bn_cnn", "relu", (1, 7, 7))
    with pytest.raises(ValueError):
        SimpleCNN((1, 28, 28), 10, depth=-1)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(name="resnet"), ValueError, "name"),
    (dict(activation="swish"), ValueError, "swish"),
    (dict(in_shape=(28, 28)), ValueError, "in_shape"),
    (dict(in_shape=None), ValueError, "in_shape"),
    (dict(in_shape=(1, 0, 28)), ValueError, "in_shape"),
    (dict(in_shape=(True, 28, 28)), ValueError, "in_shape"),
    (dict(num_classes=1), ValueError, "num_classes"),
    (dict(num_classes=2.0), TypeError, "num_classes"),
    (dict(width=0), ValueError, "width"),
    (dict(width="a"), TypeError, "width"),
    (dict(fc=0), ValueError, "fc"),
    (dict(pool="min"), ValueError, "pool"),
    (dict(colour="red"), TypeError, "colour"),
])
def test_build_model_rejects_bad_arguments(kwargs, exc, match):
    args = dict(name="simple_cnn", activation="relu", in_shape=(1, 28, 28), num_classes=10)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        build_model(**args)


@pytest.mark.parametrize("skip,bn", [(False, False), (True, False), (False, True), (True, True)])
def test_skip_bn_cnn_is_bias_free_in_every_arm(skip, bn):
    """The authors' SK/BN CNN has bias-free convolutions whether or not it has batch norm, so that the BN arm is not
    confounded with conv biases; only the fully connected layers carry biases."""
    model = build_model("skip_bn_cnn", "relu", (1, 28, 28), 10, skip=skip, bn=bn)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.bias is None for c in convs)
    assert all(m.bias is not None for m in model.modules() if isinstance(m, nn.Linear))
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == bn


def _n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("mult", [0.25, 0.5, 1, 2, 4])
def test_width_multiplier_scales_the_parameter_count_as_the_formula_says(mult):
    """simple_cnn (depth 2, 1x28x28, 10 classes): conv1 9*w, conv2 9*w*2w (no biases), FC (2w*7*7)*f + f,
    classifier 10*f + 10, with w = round(16 m) and f = round(512 m)."""
    w, f = round(16 * mult), round(512 * mult)
    expected = 9 * w + 9 * w * 2 * w + (2 * w * 7 * 7) * f + f + 10 * f + 10
    assert _n_params(build_model("simple_cnn", "relu", (1, 28, 28), 10, depth=2, width_mult=mult)) == expected


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), "2", True])
def test_width_multiplier_must_be_positive(bad):
    with pytest.raises(ValueError, match="width_mult"):
        build_model("simple_cnn", "relu", (1, 28, 28), 10, width_mult=bad)


def test_mlp_parameter_count_and_shapes():
    """sum over layers of (inputs + 1) * outputs: 784 -> 256 -> 64 -> 10 with biases."""
    model = build_model("mlp", "sp:2", (1, 28, 28), 10, hidden=[256, 64])
    expected = (784 + 1) * 256 + (256 + 1) * 64 + (64 + 1) * 10
    assert sum(p.numel() for p in model.parameters()) == expected == 218_058
    assert _acts(model, SP) == 2 and _acts(model, nn.ReLU) == 0
    with torch.no_grad():
        assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    two = build_model("mlp", "relu", (3, 5, 4), 7)  # default hidden (256, 256), channels flattened in
    assert sum(p.numel() for p in two.parameters()) == (60 + 1) * 256 + (256 + 1) * 256 + (256 + 1) * 7
    for bad in ([], [0], "256", [2.5]):
        with pytest.raises((ValueError, TypeError), match="hidden"):
            build_model("mlp", "relu", (1, 8, 8), 10, hidden=bad)


def test_a_pixel_permutation_is_an_exact_symmetry_of_the_mlp():
    """An MLP has no notion of pixel neighbours: (1) the permuted copy of a network reads permuted inputs exactly as
    the network reads the originals; (2) trained on permuted pixels from the permuted initialisation (same batches,
    Adam, float64), the network stays the permuted network step after step; (3) its input gradient on permuted
    inputs is the permuted input gradient."""
    from spectral_lib.data import permute_pixels, pixel_permutation
    from spectral_lib.nn import permute_mlp_inputs

    in_shape = (2, 6, 5)
    perm = pixel_permutation(6, 5, seed=3)
    torch.manual_seed(0)
    net = build_model("mlp", "sp:1", in_shape, 4, hidden=[16, 8]).double()
    x, y = torch.randn(40, *in_shape, dtype=torch.float64), torch.randint(0, 4, (40,))
    twin = permute_mlp_inputs(net, perm, in_shape)
    assert torch.allclose(twin(permute_pixels(x, perm)), net(x), atol=1e-12, rtol=0)
    assert not torch.allclose(net(permute_pixels(x, perm)), net(x), atol=1e-3)  # the permutation does change inputs
    opts = [torch.optim.Adam(m.parameters(), lr=1e-2) for m in (net, twin)]
    for step in range(25):
        idx = torch.arange(step % 4 * 10, step % 4 * 10 + 10)
        for m, opt, inputs in ((net, opts[0], x), (twin, opts[1], permute_pixels(x, perm))):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(m(inputs[idx]), y[idx]).backward()
            opt.step()
    assert torch.allclose(permute_mlp_inputs(net, perm, in_shape).layers[1].weight, twin.layers[1].weight,
                          atol=1e-10, rtol=0)
    assert all(torch.allclose(a, b, atol=1e-10, rtol=0)
               for a, b in zip(list(net.parameters())[1:], list(twin.parameters())[1:]))
    xp = permute_pixels(x, perm).requires_grad_(True)
    x0 = x.clone().requires_grad_(True)
    (g_twin,) = torch.autograd.grad(twin(xp)[:, 0].sum(), xp)
    (g_net,) = torch.autograd.grad(net(x0)[:, 0].sum(), x0)
    assert torch.allclose(g_twin, permute_pixels(g_net, perm), atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="perm"):
        permute_mlp_inputs(net, torch.arange(29), in_shape)
    with pytest.raises(TypeError, match="MLP"):
        permute_mlp_inputs(build_model("simple_cnn", "relu", (1, 8, 8), 4, depth=1), torch.arange(64), (1, 8, 8))
