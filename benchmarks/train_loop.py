"""Case ``train_loop``: our training loop (:func:`spectral_lib.training.train`) against a bare PyTorch loop, the
floor, on the same model, batch size and in-memory data.

For each input shape (the simple CNN on 1x28x28 / depth 2, 3x32x32 / depth 3, 3x224x224 / depth 7, batch 256):

* **ours**: ``train(config, splits)`` for one epoch over ``n`` training images, with the data as the book serves
  it (28x28: a ``TensorDataset`` of normalised floats, like mnist5k; 32x32 and 224x224: uint8 ``ImageTensors``
  normalised per batch, with random flips at 32x32 like cifar10_jpeg), the cap check at the epoch end on a 32-image
  test split, the final test and train accuracies, no checkpoint;
* **floor**: a fresh model of the same architecture and seed, Adam, one epoch of the same number of steps over
  the same images as pre-normalised float tensors indexed by a random permutation: ``loss.backward(); opt.step()``
  and nothing else.

The target row is the epoch loop (train()'s own clock: the optimisation steps and the end-of-epoch cap check on a
32-image test split) in training images per second over the floor's (target >= 0.9); a second row reports the
whole call, which adds the model's set-up and the final test and train accuracies (a forward pass over the
training split, once per training run, not per epoch)."""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from ._harness import Row, Section, fmt_time, median, paired_ratio

SHAPES = (((1, 28, 28), 2, "tensor"), ((3, 32, 32), 3, "uint8"), ((3, 224, 224), 7, "uint8"))


def _splits(shape, n: int, n_test: int, kind: str):
    from spectral_lib.data import DatasetInfo, ImageTensors, Splits

    g = torch.Generator().manual_seed(0)
    mean, std = (0.5,) * shape[0], (0.25,) * shape[0]
    u8 = torch.randint(0, 256, (n + n_test, *shape), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n + n_test,), generator=g)
    info = DatasetInfo("bench", tuple(shape), 10, mean, std)
    if kind == "tensor":
        x = (u8.float() / 255 - 0.5) / 0.25
        return Splits(TensorDataset(x[:n], y[:n]), TensorDataset(x[n:], y[n:]), info)
    flip = shape[1] == 32
    return Splits(ImageTensors(u8[:n], y[:n], mean, std, flip=flip), ImageTensors(u8[n:], y[n:], mean, std), info)


def _floor_fn(shape, depth: int, splits, batch: int):
    from spectral_lib.nn import build_model

    if isinstance(splits.train, TensorDataset):
        x, y = splits.train.tensors
    else:
        x, y = splits.train.batch(slice(0, len(splits.train)))

    def run() -> None:
        torch.manual_seed(0)
        model = build_model("simple_cnn", "relu", shape, 10, depth=depth).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        perm = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            j = perm[i : i + batch]
            loss = F.cross_entropy(model(x[j]), y[j])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return run


def _ours_fn(shape, depth: int, splits, batch: int, record: list):
    from spectral_lib.training import TrainConfig, train

    cfg = TrainConfig(dataset="mnist5k", model_options={"depth": depth}, batch_size=batch, max_epochs=1,
                      accuracy_cap=None, device="cpu")

    def run() -> None:
        _, result = train(cfg, splits, progress=False)
        record.append(result.seconds)

    return run


def run(quick: bool = False) -> Section:
    sec = Section("train_loop")
    rounds = 2 if quick else 3
    for shape, depth, kind in SHAPES:
        big = shape[1] >= 224
        n = (256 if quick else 1024) if big else (1024 if quick else 4096)
        batch = 256
        splits = _splits(shape, n, 32, kind)
        inner: list[float] = []
        fns = {"ours": _ours_fn(shape, depth, splits, batch, inner), "floor": _floor_fn(shape, depth, splits, batch)}
        fns["ours"](), fns["floor"]()  # warm-up
        inner.clear()
        times: dict[str, list[float]] = {k: [] for k in fns}
        names = list(fns)
        for r in range(rounds):
            for k in names[r % 2:] + names[: r % 2]:
                t0 = time.perf_counter()
                fns[k]()
                times[k].append(time.perf_counter() - t0)
        label = "x".join(map(str, shape))
        data = "float tensors" if kind == "tensor" else "uint8 ImageTensors" + (", flips" if shape[1] == 32 else "")
        loop, lo, hi = paired_ratio(times["floor"], inner)  # images/s of the epoch loop over the floor's
        sec.rows.append(Row(f"train() epoch loop vs bare loop, simple_cnn depth {depth}, {label}, batch {batch}, "
                            f"{n} images ({data})", f"{n / median(inner):.1f} img/s",
                            f"{n / median(times['floor']):.1f} img/s", loop, 0.9, (lo, hi)))
        whole, lo, hi = paired_ratio(times["floor"], times["ours"])
        sec.rows.append(Row(f"whole train() call (+ model set-up, final test and train accuracies), {label}",
                            f"{n / median(times['ours']):.1f} img/s", f"{n / median(times['floor']):.1f} img/s",
                            whole, None, (lo, hi)))
        sec.notes.append(f"{label}: one epoch of {n} images; ours {fmt_time(median(times['ours']))} per train() call, "
                         f"{fmt_time(median(inner))} of it in the epoch loop (the optimisation steps and the cap "
                         f"check on 32 test images); floor {fmt_time(median(times['floor']))}. The rest of a call is "
                         f"the final accuracies on the test and the whole training split, once per training run.")
    return sec
