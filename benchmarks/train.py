"""Case ``train``: training throughput of SP(beta) against ReLU in the simple CNN on mnist5k-sized batches."""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from ._harness import Row, Section, median, paired_ratio

ACTIVATIONS = ("sp:0.5", "spc:0.5")


def _trainer(activation: str, steps: int, batch: int = 256):
    """A closure running ``steps`` Adam steps (the loop of spectral_lib.training.train) on fixed random batches."""
    from spectral_lib.nn import build_model

    torch.manual_seed(0)
    model = build_model("simple_cnn", activation, (1, 28, 28), 10).train()
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
    steps, rounds, batch = (2, 2, 256) if quick else (5, 3, 256)
    fns = {a: _trainer(a, steps, batch) for a in ("relu", *ACTIVATIONS)}
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
    return sec
