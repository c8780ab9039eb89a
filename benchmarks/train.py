"""Case ``train``: training throughput of SP(beta) against ReLU in the simple CNN on mnist5k-sized batches, and of our
SP module (:mod:`spectral_lib.nn.softplus_cpu` on the CPU) against torch's ``nn.Softplus`` kernel in the same network.
Target for the latter: >= 1.3x (torch's CPU softplus evaluates log1p element by element)."""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ._harness import Row, Section, median, paired_ratio

ACTIVATIONS = ("sp:0.5", "spc:0.5")


TORCH_SP = "torch-sp:0.5"  # SP(0.5) with torch's own nn.Softplus modules in place of ours


def _trainer(activation: str, steps: int, batch: int = 256):
    """A closure running ``steps`` Adam steps (the loop of spectral_lib.training.train) on fixed random batches."""
    from torch import nn

    from spectral_lib.nn import SP, build_model

    torch.manual_seed(0)
    model = build_model("simple_cnn", activation.removeprefix("torch-"), (1, 28, 28), 10).train()
    if activation.startswith("torch-"):
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, SP):
                    setattr(parent, name, nn.Softplus(beta=child.beta, threshold=child.threshold))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(4, batch, 1, 28, 28, generator=g)
    ys = torch.randint(0, 10, (4, batch), generator=g)

    def run() -> None:
        for i in range(steps):
            loss = F.cross_entropy(model(xs[i % 4]), ys[i % 4])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def run(quick: bool = False) -> Section:
    sec = Section("train")
    steps, rounds, batch = (2, 2, 256) if quick else (5, 9, 256)
    fns = {a: _trainer(a, steps, batch) for a in ("relu", *ACTIVATIONS, TORCH_SP)}
    for f in fns.values():  # warm-up
        f()
    times: dict[str, list[float]] = {a: [] for a in fns}
    names = list(fns)
    for r in range(rounds):
        for a in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            fns[a]()
            times[a].append(time.perf_counter() - t0)
    ips = lambda a: steps * batch / median(times[a])  # noqa: E731
    for a in ACTIVATIONS:
        r, lo, hi = paired_ratio(times["relu"], times[a])  # throughput ratio SP / ReLU
        sec.rows.append(Row(f"train simple_cnn 1x28x28, batch {batch}: {a} vs relu (img/s ratio)",
                            f"{ips(a):.0f} img/s", f"{ips('relu'):.0f} img/s", r, None, (lo, hi)))
    r, lo, hi = paired_ratio(times[TORCH_SP], times["sp:0.5"])
    sec.rows.append(Row(f"train simple_cnn 1x28x28, batch {batch}: our SP(0.5) vs torch's nn.Softplus(0.5)",
                        f"{ips('sp:0.5'):.0f} img/s", f"{ips(TORCH_SP):.0f} img/s", r, 1.3, (lo, hi)))
    return sec
