"""The CPU's faster memory layout changes no result beyond float rounding: training in channels-last
(:func:`spectral_lib.nn.layout.fast_layout`, used by :func:`spectral_lib.training.train`) and our gradient methods run in it
(``spectral_lib.experiments.points._explain_in_chunks``), against the standard layout."""
from __future__ import annotations

import torch

from spectral_lib.experiments import points as pts
from spectral_lib.nn import build_model, fast_layout
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
