"""The faster ways of running a network change no result beyond float rounding (:mod:`spectral_lib.nn.layout`):
max-pooling before a monotone activation (bit-identical for ReLU) and the CPU's channels-last layout, in training
(:func:`spectral_lib.training.train`) and in our gradient methods (``spectral_lib.experiments.points._explain_in_chunks``),
against the standard order and layout."""
from __future__ import annotations

import torch

from spectral_lib.experiments import points as pts
from spectral_lib.nn import build_model, fast_layout, pooling_first, swap_activations
from spectral_lib.nn.models import commutes_with_max_pool
from spectral_lib.training import TrainConfig, loop, train


def _standard(t: torch.Tensor) -> bool:
    return t.is_contiguous()


def test_training_in_channels_last_gives_the_standard_layouts_network(monkeypatch):
    """Same config trained in both layouts: the same cap epoch and history, weights equal to float rounding, and the
    returned network in the standard layout either way."""
    cfg = TrainConfig(dataset="digits", activation="sp:2", seed=0, max_epochs=3, accuracy_cap=None, batch_size=64)
    assert fast_layout(torch.device("cpu")) == torch.channels_last
    fast, fast_res = train(cfg, progress=False)
    monkeypatch.setattr(loop, "fast_layout", lambda device: torch.contiguous_format)
    std, std_res = train(cfg, progress=False)
    assert fast_res.steps == std_res.steps and fast_res.epochs == std_res.epochs
    for (name, a), (_, b) in zip(fast.state_dict().items(), std.state_dict().items()):
        assert _standard(a), name
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), (name, float((a - b).abs().max()))
    assert abs(fast_res.test_accuracy - std_res.test_accuracy) <= 0.01


def test_gradient_methods_in_channels_last_equal_the_standard_layout():
    """VanillaGrad and SmoothGrad through the point pipeline (channels-last) against explaining the same network
    in the standard layout; an average-pooled SP network has no max-pool branch to flip, so the maps agree to float
    rounding; the network is back in the standard layout afterwards."""
    torch.manual_seed(0)
    model = build_model("simple_cnn", "sp:1", (3, 16, 16), 10, depth=2, pool="avg").eval()
    x = torch.randn(6, 3, 16, 16)
    target = torch.arange(6) % 10
    for name, options in (("vanilla_grad", {}), ("smooth_grad", {"noise_std": 0.1, "n_samples": 4})):
        gen = lambda: {"generator": torch.Generator().manual_seed(1)} if name == "smooth_grad" else {}  # noqa: E731
        ours = pts._explain_in_chunks(name, model, x, target, {**options, **gen()})
        assert all(_standard(p) for p in model.parameters())
        ref = pts._explain_chunks(name, model, x, target, {**options, **gen()})  # the standard layout
        assert ours.shape == ref.shape == x.shape
        assert torch.allclose(ours, ref, rtol=1e-4, atol=1e-6 * float(ref.abs().max())), name


def _input_grad(model, x):
    x = x.clone().requires_grad_(True)
    out = model(x)
    (g,) = torch.autograd.grad((out * torch.linspace(-1, 1, out.shape[1])).sum(), x)
    return out.detach(), g


def test_pooling_first_is_the_same_function_and_gradient():
    """max_pool(act(x)) = act(max_pool(x)) for ReLU, SoftPlus (plain and centred) and the Gaussian-smoothed ReLU:
    outputs and input gradients bit-identical for ReLU, equal to float rounding for the smooth ones, in both
    architectures with max-pooling; GELU and SiLU (not monotone), average pooling, and an activation swapped in
    after construction keep the standard order (bit-identical results); the flags are restored afterwards."""
    torch.manual_seed(0)
    x = torch.randn(5, 1, 16, 16)
    cases = [("simple_cnn", {"depth": 2}), ("skip_bn_cnn", {"skip": True, "bn": True})]
    for arch, opts in cases:
        for act in ("relu", "sp:2", "spc:1", "gaussian:0.5", "gelu", "silu"):
            model = build_model(arch, act, (1, 16, 16), 10, **opts).eval()
            ref = _input_grad(model, x)
            with pooling_first(model):
                assert all(m.pool_first for m in model.modules() if hasattr(type(m), "pool_first"))
                got = _input_grad(model, x)
            assert not any(m.pool_first for m in model.modules() if hasattr(type(m), "pool_first"))
            exact = act in ("relu", "gelu", "silu")
            for a, b in zip(got, ref):
                assert torch.equal(a, b) if exact else torch.allclose(a, b, rtol=1e-5, atol=1e-7), (arch, act)
    assert not commutes_with_max_pool(torch.nn.ReLU(), torch.nn.AvgPool2d(2))
    assert not commutes_with_max_pool(torch.nn.Softplus(beta=-1.0), torch.nn.MaxPool2d(2))
    assert not commutes_with_max_pool(torch.nn.GELU(), torch.nn.MaxPool2d(2))
    # the order follows the activation the block holds now, not the one it was built with
    model = build_model("simple_cnn", "relu", (1, 16, 16), 10, depth=2).eval()
    assert swap_activations(model, "gelu") == 3
    ref = _input_grad(model, x)
    with pooling_first(model):
        got = _input_grad(model, x)
    assert all(torch.equal(a, b) for a, b in zip(got, ref))


def test_pooling_first_is_where_it_pays():
    """It changes what is computed where it is on: a ReLU network's activation sees a quarter of the values."""
    model = build_model("simple_cnn", "relu", (1, 16, 16), 10, depth=1).eval()
    seen = []
    model.features[1].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[-1]))
    model(torch.zeros(1, 1, 16, 16))
    with pooling_first(model):
        model(torch.zeros(1, 1, 16, 16))
    assert seen == [16, 8]


def test_training_with_pooling_first_gives_the_same_network(monkeypatch):
    """A ReLU network trained pooling first is bit for bit the one trained in the standard order (same layout);
    an SP network equal to float rounding, with the same steps and history."""
    import contextlib

    for act, exact in (("relu", True), ("sp:2", False)):
        cfg = TrainConfig(dataset="digits", activation=act, seed=0, max_epochs=2, accuracy_cap=None, batch_size=64)
        fast, fast_res = train(cfg, progress=False)
        with monkeypatch.context() as m:
            m.setattr(loop, "pooling_first", lambda model: contextlib.nullcontext(model))
            std, std_res = train(cfg, progress=False)
        assert fast_res.steps == std_res.steps and fast_res.history == std_res.history
        for (name, a), (_, b) in zip(fast.state_dict().items(), std.state_dict().items()):
            assert torch.equal(a, b) if exact else torch.allclose(a, b, rtol=1e-4, atol=1e-6), (act, name)
