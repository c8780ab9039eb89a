"""What the spectral-penalty chapter (chapter 12) measures besides the records: the penalty's own target on the
trained networks (the tail share of the *raw* VanillaGrad spectrum, as the penalty computes it, not of the
rank-normalised maps the records' spectra are taken from), the frequency of each radial bin derived from the maps'
size, and a fair training cost per epoch (a warm-up, then the median of several epochs, the settings in rotating
order so that none is always first; one representative per *cost class*, since beta and the penalty's strength do
not change the operations of a training step)."""
from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .. import cache
from ..checks import check_nonnegative_finite, check_positive_int
from ..data import take
from ..nn.activations import activation_family
from ..training import TrainConfig, load_for, train, train_or_load
from ..training.penalty import gradient_spectral_penalty

__all__ = ["raw_tail_share", "raw_tail_shares", "bin_frequency_note", "map_tail_share", "cost_class",
           "benchmark_settings", "RAW_TAIL"]

RAW_TAIL = "raw_tail"  # cache namespace


def raw_tail_share(model: torch.nn.Module, x: torch.Tensor, cutoff: float) -> float:
    """The penalty's target on a trained network: the mean over the (N, C, H, W) inputs ``x`` of the share of the
    radially averaged power of the raw, mean-removed VanillaGrad map (log-softmax of the predicted class, summed over
    channels) above ``cutoff`` cycles/pixel (bin r at r / min(H, W)), zero frequency left out; a number in [0, 1].
    This is :func:`spectral_lib.training.penalty.gradient_spectral_penalty` with ``kind="tail_share"``, evaluated."""
    cutoff = check_nonnegative_finite("cutoff", cutoff)
    with torch.no_grad():
        return float(gradient_spectral_penalty(model.eval(), x, None, kind="tail_share", cutoff=cutoff))


def raw_tail_shares(records: Sequence[dict], n_images: int, cutoff: float, cache_dir: str | Path | None
                    ) -> list[float]:
    """:func:`raw_tail_share` of every record's network on its first ``n_images`` test inputs, cached under
    ``cache_dir/raw_tail`` by (network key, ``n_images``, ``cutoff``)."""
    n_images = check_positive_int("n_images", n_images)
    out = []
    for r in records:
        cfg = TrainConfig(**r["config"])

        def compute(cfg: TrainConfig = cfg) -> float:
            model, _ = train_or_load(cfg, cache_dir, progress=False)
            x, _ = take(load_for(replace(cfg, augment=False)).test, n_images)
            return raw_tail_share(model, x.to(next(model.parameters()).device), cutoff)

        key = {"train": cfg.key(), "n_images": n_images, "cutoff": float(cutoff), "version": 1}
        out.append(float(cache.memoize(cache_dir, RAW_TAIL, key, compute)))
    return out


def bin_frequency_note(height: int, width: int) -> str:
    """How the radial bins map to frequencies for (H, W) maps, for prose: bin r at r / min(H, W) cycles per pixel
    (the penalty's and the Nyquist EF's convention), with the numbers of this size."""
    side = min(check_positive_int("height", height), check_positive_int("width", width))
    return (f"bin $r$ at $r/{side}$ cycles per pixel for these {height}x{width} maps ($r/\\min(H, W)$ in general; "
            f"the highest full bin, $r = {side // 2}$, is the Nyquist frequency 0.5)")


def map_tail_share(profile, height: int, width: int, cutoff: float) -> float:
    """Share of a mean radial power spectrum (bin 0 = the zero frequency) above ``cutoff`` cycles/pixel, bin 0 left
    out, the bins at r / min(``height``, ``width``) (derived from the maps, not assumed); NaN with no power outside
    bin 0."""
    p = np.asarray(profile, dtype=float)[1:]
    side = min(check_positive_int("height", height), check_positive_int("width", width))
    cutoff = check_nonnegative_finite("cutoff", cutoff)
    f = np.arange(1, len(p) + 1) / side
    total = p.sum()
    return float(p[f > cutoff].sum() / total) if total > 0 else math.nan


def cost_class(config: TrainConfig) -> tuple:
    """What decides a training step's cost: the model and its options, the activation family (ReLU, SP, ...: beta
    does not change the operations), the penalty (on or off, its kind and subsample; not its strength), the data
    (dataset, image size, batch size, input condition) and the device."""
    penalised = float(config.penalty_strength or 0.0) > 0
    return (config.model, repr(sorted(config.model_options.items())), activation_family(config.activation),
            penalised, config.penalty_kind if penalised else None, config.penalty_subsample if penalised else None,
            config.dataset, config.image_size, config.batch_size, config.pixel_permutation,
            config.input_smoothing_sigma, config.device)


def _epoch_seconds(config: TrainConfig, epochs: int, splits) -> float:
    """Seconds per epoch of the training loop (its own clock: model construction excluded)."""
    cfg = replace(config, max_epochs=epochs, accuracy_cap=None).validate()
    _, result = train(cfg, splits, progress=False)
    return float(result.seconds / result.epochs)


def benchmark_settings(configs: dict[str, TrainConfig], epochs: int = 1, repeats: int = 3, splits=None,
                       warmup: bool = True):
    """Seconds per training epoch of each configuration, measured now and fairly: one representative per
    :func:`cost_class` (the first of ``configs`` in it), an untimed warm-up epoch of every representative, then
    ``repeats`` rounds of ``epochs`` epochs each (the real training loop with its end-of-epoch accuracy check, no
    cap, not cached), round k starting at representative k so that no setting is always first. Returns a DataFrame
    indexed by the labels of ``configs``: ``s/epoch`` (the median over rounds), ``min``, ``max``, ``rounds``,
    ``timed as`` (the label of the representative whose times it got)."""
    import pandas as pd

    epochs = check_positive_int("epochs", epochs)
    repeats = check_positive_int("repeats", repeats)
    if not configs:
        return pd.DataFrame(columns=["s/epoch", "min", "max", "rounds", "timed as"])
    reps: dict[tuple, str] = {}
    for label, cfg in configs.items():
        reps.setdefault(cost_class(cfg), label)
    labels = list(reps.values())
    splits = splits if splits is not None else load_for(configs[labels[0]])
    if warmup:
        for lab in labels:
            _epoch_seconds(configs[lab], 1, splits)
    times: dict[str, list[float]] = {lab: [] for lab in labels}
    for k in range(repeats):
        for lab in labels[k % len(labels):] + labels[: k % len(labels)]:
            times[lab].append(_epoch_seconds(configs[lab], epochs, splits))
    rows = {}
    for label, cfg in configs.items():
        rep = reps[cost_class(cfg)]
        t = times[rep]
        rows[label] = {"s/epoch": float(np.median(t)), "min": min(t), "max": max(t), "rounds": len(t),
                       "timed as": rep}
    return pd.DataFrame.from_dict(rows, orient="index")
