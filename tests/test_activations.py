"""SP(beta), GaussianReLU and activation swapping, against closed forms, quadrature and known limits."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import nn

from spectral_lib.nn import (GaussianReLU, SP, activation_name, beta_to_sigma, make_activation, sigma_to_beta, swap_activations)

BETAS = [0.1, 0.5, 1.0, 5.0, 50.0, 1e3]


def _grad(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(module(x).sum(), x)
    return g


# --------------------------------------------------------------------------------------------- SP

# --------------------------------------------------------------- SP's CPU kernel (spectral_lib.nn.softplus_cpu)


@pytest.mark.parametrize("beta", [0.3, 1.0, 10.0, 1e3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_softplus_equals_torchs_values_and_gradients(beta, dtype):
    """Our CPU SoftPlus against torch's kernel, on values spanning both sides of torch's threshold (beta x = 20) and
    far into the tails: values within 3 eps relative (plus, past the threshold, the 2.1e-9 / beta torch drops), gradients equal, on a channels-last (non-contiguous) tensor too."""
    from spectral_lib.nn.softplus_cpu import fast_path, softplus

    eps = torch.finfo(dtype).eps
    x = torch.cat([torch.linspace(-60, 60, 24000, dtype=dtype) / beta, torch.randn(4000, dtype=dtype) * 3 / beta])
    assert fast_path(x)
    for inp in (x, x.reshape(25, 4, 14, 20).contiguous(memory_format=torch.channels_last)):
        a, b = inp.clone().requires_grad_(), inp.clone().requires_grad_()
        ours, theirs = softplus(a, beta), torch.nn.functional.softplus(b, beta)
        assert ours.shape == theirs.shape and ours.dtype == dtype
        tol = 3 * eps * torch.maximum(theirs.abs(), torch.tensor(1e-30, dtype=dtype)) + 2.1e-9 / beta * (
            beta * inp > 20)
        assert bool(((ours - theirs).abs() <= tol).all()), float(((ours - theirs).abs() / tol).max())
        w = torch.randn_like(inp)
        (ga,) = torch.autograd.grad((ours * w).sum(), a)
        (gb,) = torch.autograd.grad((theirs * w).sum(), b)
        assert torch.equal(ga, gb)  # torch's derivative kernel, bit for bit


def test_cpu_softplus_second_derivative_is_autograds():
    """The spectral penalty differentiates the input gradient (double backward): gradgradcheck in float64, and the
    second derivative beta * s (1 - s), s = sigmoid(beta x), equals torch's."""
    from spectral_lib.nn.softplus_cpu import softplus

    x = torch.randn(40, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: softplus(t, 0.7), (x,))
    assert torch.autograd.gradgradcheck(lambda t: softplus(t, 0.7), (x,))
    (g,) = torch.autograd.grad(softplus(x, 0.7).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    s = torch.sigmoid(0.7 * x.detach())
    assert torch.allclose(h, 0.7 * s * (1 - s), rtol=1e-12, atol=0)


def test_cpu_softplus_leaves_other_tensors_to_torch():
    from spectral_lib.nn.softplus_cpu import fast_path, softplus

    half = torch.linspace(-3, 3, 7, dtype=torch.bfloat16)
    assert not fast_path(half) and not fast_path(torch.empty(3, device="meta"))
    assert torch.equal(softplus(half, 2.0), torch.nn.functional.softplus(half, 2.0))
    assert softplus(torch.empty(2, 3, device="meta"), 2.0).shape == (2, 3)  # the memory plan's meta tensors
    assert SP(2.0)(torch.empty(5, device="meta")).device.type == "meta"



@pytest.mark.parametrize("beta", BETAS)
def test_sp_converges_to_relu_within_log2_over_beta(beta):
    x = torch.cat([torch.linspace(-50 / beta, 50 / beta, 20001, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)])
    err = SP(beta)(x) - torch.relu(x)
    assert float(err.min()) >= 0.0  # SP lies above ReLU everywhere
    bound = math.log(2.0) / beta
    assert float(err.max()) <= bound * (1 + 1e-12)
    assert float(err[-1]) == pytest.approx(bound, rel=1e-12)  # attained at 0
    assert int(err.argmax()) in (10000, 20001)  # the grid's 0 (or the appended 0)


def test_sp_error_bound_shrinks_with_beta():
    x = torch.linspace(-5, 5, 1001, dtype=torch.float64)
    errs = [float((SP(b)(x) - torch.relu(x)).abs().max()) for b in (1, 10, 100, 1000, 10000)]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    assert errs[-1] < 1e-4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("beta", [1e-3, 0.1, 1.0, 100.0, 1e4])
def test_sp_is_numerically_stable(beta, dtype):
    x = torch.cat([torch.linspace(-1e4, 1e4, 4001, dtype=dtype), torch.tensor([-1e4, -1.0, 0.0, 1.0, 1e4], dtype=dtype)])
    for centered in (False, True):
        m = SP(beta, centered=centered)
        y = m(x)
        assert bool(torch.isfinite(y).all())
        g = _grad(m, x)
        assert bool(torch.isfinite(g).all()) and bool(((g >= 0) & (g <= 1)).all())
    y = SP(beta)(x)
    slack = 1e-6 * x.abs().clamp(min=1)  # float32 rounding of large values
    assert bool((y >= torch.relu(x) - slack).all())
    assert bool((y <= torch.relu(x) + math.log(2) / beta + slack).all())


@pytest.mark.parametrize("beta", BETAS)
def test_sp_gradient_is_sigmoid(beta):
    x = torch.linspace(-40 / beta, 40 / beta, 2001, dtype=torch.float64)
    torch.testing.assert_close(_grad(SP(beta), x), torch.sigmoid(beta * x), rtol=0, atol=1e-8)
    # the closed form itself, well inside the non-thresholded region
    xs = x[(beta * x).abs() < 15]
    torch.testing.assert_close(SP(beta)(xs), torch.log1p(torch.exp(beta * xs)) / beta, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------------- GaussianReLU


def _relu_conv_gauss(x: float, sigma: float) -> float:
    """(ReLU * N(0, sigma^2))(x) = int relu(x - t) phi_sigma(t) dt = int_{-inf}^{x} (x - t) phi_sigma(t) dt."""
    val, err = integrate.quad(lambda t: (x - t) * stats.norm.pdf(t, scale=sigma), -np.inf, x,
                              epsabs=1e-12, epsrel=1e-12, limit=200)
    return val


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.0, 2.5])
def test_gaussian_relu_is_relu_convolved_with_gaussian(sigma):
    xs = np.concatenate([np.linspace(-6 * sigma, 6 * sigma, 25), [0.0, 10 * sigma]])
    ref = torch.tensor([_relu_conv_gauss(float(x), sigma) for x in xs], dtype=torch.float64)
    ours = GaussianReLU(sigma)(torch.tensor(xs, dtype=torch.float64))
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("sigma", [0.05, 0.3, 1.0, 2.5])
def test_gaussian_relu_derivative_is_normal_cdf(sigma):
    x = torch.linspace(-8 * sigma, 8 * sigma, 801, dtype=torch.float64)
    ref = torch.from_numpy(stats.norm.cdf(x.numpy() / sigma))
    torch.testing.assert_close(_grad(GaussianReLU(sigma), x), ref, rtol=0, atol=1e-12)


def test_gaussian_relu_converges_to_relu_and_is_stable():
    x = torch.linspace(-1e4, 1e4, 4001)
    for sigma in (1e-6, 1e-2, 1.0, 1e3):
        m = GaussianReLU(sigma)
        y, g = m(x), _grad(m, x)
        assert bool(torch.isfinite(y).all()) and bool(torch.isfinite(g).all())
    xd = torch.linspace(-3, 3, 601, dtype=torch.float64)
    errs = [float((GaussianReLU(s)(xd) - torch.relu(xd)).abs().max()) for s in (1.0, 0.1, 0.01)]
    # the largest deviation is the value at 0, sigma / sqrt(2 pi)
    for s, e in zip((1.0, 0.1, 0.01), errs):
        assert e == pytest.approx(s / math.sqrt(2 * math.pi), rel=1e-9)


@pytest.mark.parametrize("module_pair", [(SP(0.3), SP(0.3, centered=True)), (SP(5.0), SP(5.0, centered=True)),
                                         (GaussianReLU(0.7), GaussianReLU(0.7, centered=True))])
def test_centered_variants_map_zero_to_zero_with_same_derivative(module_pair):
    plain, centred = module_pair
    zero = torch.zeros(1, dtype=torch.float64)
    assert float(centred(zero)) == pytest.approx(0.0, abs=1e-12)
    x = torch.linspace(-10, 10, 401, dtype=torch.float64)
    torch.testing.assert_close(_grad(centred, x), _grad(plain, x), rtol=0, atol=0)
    torch.testing.assert_close(plain(x) - centred(x), plain(zero).expand_as(x), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------- beta <-> sigma


@pytest.mark.parametrize("beta", [0.1, 0.37, 1.0, 4.0, 123.0])
def test_beta_sigma_inverse_and_variance_match(beta):
    sigma = beta_to_sigma(beta)
    assert sigma_to_beta(sigma) == pytest.approx(beta, rel=1e-14)
    assert beta_to_sigma(sigma_to_beta(beta)) == pytest.approx(beta, rel=1e-14)
    # the correspondence matches variances: SP's derivative is the CDF of a logistic density; its variance is sigma^2
    density = lambda t: beta * stats.logistic.pdf(beta * t)  # d/dx sigmoid(beta x)
    var, _ = integrate.quad(lambda t: t * t * density(t), -np.inf, np.inf, epsabs=1e-14, epsrel=1e-12)
    assert var == pytest.approx(sigma**2, rel=1e-7)


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), float("nan")])
def test_beta_sigma_reject_bad_values(bad):
    with pytest.raises(ValueError, match="beta"):
        beta_to_sigma(bad)
    with pytest.raises(ValueError, match="sigma"):
        sigma_to_beta(bad)
    with pytest.raises(ValueError, match="beta"):
        SP(bad)
    with pytest.raises(ValueError, match="sigma"):
        GaussianReLU(bad)


# --------------------------------------------------------------------------------------------- make_activation


def _reference(spec):
    """What each documented spec must compute (closed forms), on float64 inputs."""
    return {
        "relu": torch.relu,
        "gelu": lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2))),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "elu": lambda x: torch.where(x > 0, x, torch.expm1(x)),
        "silu": lambda x: x * torch.sigmoid(x),
        "leaky_relu": lambda x: torch.where(x > 0, x, 0.01 * x),
        "leaky_relu:0.2": lambda x: torch.where(x > 0, x, 0.2 * x),
        "sp:0.5": lambda x: torch.log1p(torch.exp(0.5 * x)) / 0.5,
        "softplus:2": lambda x: torch.log1p(torch.exp(2 * x)) / 2,
        "spc:0.5": lambda x: torch.log1p(torch.exp(0.5 * x)) / 0.5 - math.log(2) / 0.5,
        "gaussian:0.3": lambda x: x * torch.special.ndtr(x / 0.3) + 0.3 * torch.exp(-0.5 * (x / 0.3) ** 2) / math.sqrt(2 * math.pi),
        "gaussianc:0.3": lambda x: x * torch.special.ndtr(x / 0.3) + 0.3 * torch.exp(-0.5 * (x / 0.3) ** 2) / math.sqrt(2 * math.pi) - 0.3 / math.sqrt(2 * math.pi),
        " ReLU ": torch.relu,
        "SP:0.5": lambda x: torch.log1p(torch.exp(0.5 * x)) / 0.5,
        0.7: lambda x: torch.log1p(torch.exp(0.7 * x)) / 0.7,
        3: lambda x: torch.log1p(torch.exp(3 * x)) / 3,
    }[spec]


@pytest.mark.parametrize("spec", ["relu", "gelu", "sigmoid", "tanh", "elu", "silu", "leaky_relu", "leaky_relu:0.2",
                                  "sp:0.5", "softplus:2", "spc:0.5", "gaussian:0.3", "gaussianc:0.3", " ReLU ",
                                  "SP:0.5", 0.7, 3])
def test_make_activation_parses_documented_specs(spec):
    m = make_activation(spec)
    assert isinstance(m, nn.Module)
    assert make_activation(spec) is not m  # a fresh module every call
    x = torch.linspace(-6, 6, 241, dtype=torch.float64)
    torch.testing.assert_close(m(x), _reference(spec)(x), rtol=1e-10, atol=1e-10)
    assert isinstance(activation_name(spec), str)


def test_make_activation_accepts_a_factory():
    m = make_activation(lambda: nn.Hardtanh())
    assert isinstance(m, nn.Hardtanh)
    with pytest.raises(TypeError, match="nn.Module"):
        make_activation(lambda: 3)


@pytest.mark.parametrize("spec", ["", "foo", "sp", "sp:", "sp:abc", "sp:-1", "sp:0", "sp:inf", "sp:nan",
                                  "softplus:-2", "spc:0", "gaussian:-0.3", "gaussian:inf", "gaussianc:nan", "relu:3",
                                  "gelu:1", "leaky_relu:nan", "leaky_relu:inf", "leaky_relu:x", "sp:1:2"])
def test_make_activation_rejects_bad_specs_naming_them(spec):
    with pytest.raises(ValueError) as info:
        make_activation(spec)
    assert repr(spec) in str(info.value)


@pytest.mark.parametrize("spec", [None, True, [0.5], {"beta": 1}])
def test_make_activation_rejects_wrong_types(spec):
    with pytest.raises(TypeError):
        make_activation(spec)


@pytest.mark.parametrize("spec", [0, -1.0, float("nan"), float("inf")])
def test_make_activation_rejects_bad_numbers(spec):
    with pytest.raises(ValueError, match="beta"):
        make_activation(spec)


# --------------------------------------------------------------------------------------------- swapping


def _count(model: nn.Module, cls) -> int:
    return sum(isinstance(m, cls) for m in model.modules())


def test_swap_activations_resnet18():
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=7).eval()
    n_relu = _count(model, nn.ReLU)
    assert n_relu > 0
    replaced = swap_activations(model, "sp:2")
    assert replaced == n_relu
    assert _count(model, nn.ReLU) == 0
    assert _count(model, SP) == n_relu
    assert all(m.beta == 2.0 for m in model.modules() if isinstance(m, SP))
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    # a second swap finds nothing left to replace
    assert swap_activations(model, "sp:2") == 0


def test_swap_activations_small_vit_with_and_without_gelu():
    from torchvision.models import VisionTransformer

    torch.manual_seed(0)
    vit = VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                            num_classes=5).eval()
    n_gelu = _count(vit, nn.GELU)
    assert n_gelu == 2  # one per encoder block's MLP
    assert swap_activations(vit, "spc:1") == 0  # no ReLU in a ViT; GELU only with include_gelu
    assert _count(vit, nn.GELU) == n_gelu
    assert swap_activations(vit, "spc:1", include_gelu=True) == n_gelu
    assert _count(vit, nn.GELU) == 0 and _count(vit, nn.ReLU) == 0 and _count(vit, SP) == n_gelu
    with torch.no_grad():
        assert vit(torch.randn(3, 3, 32, 32)).shape == (3, 5)


def test_swap_activations_types_override_and_validation():
    model = nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 4), nn.ReLU(), nn.Sequential(nn.Tanh()))
    assert swap_activations(model, "relu", types=(nn.Tanh,)) == 2
    assert _count(model, nn.Tanh) == 0 and _count(model, nn.ReLU) == 3
    # replacements are distinct instances (captum's hooks need one module per call site)
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    assert len({id(m) for m in relus}) == 3
    with pytest.raises(ValueError, match="bogus"):
        swap_activations(model, "bogus")
    assert _count(model, nn.ReLU) == 3  # a bad spec leaves the model untouched
    with pytest.raises(TypeError, match="model"):
        swap_activations("not a model", "relu")
