"""Training with the paper's accuracy cap, seeded and resumable, with a configuration-keyed checkpoint cache.

The accuracy cap: every activation (every beta) must be compared at the *same* accuracy, otherwise a ReLU network
that simply trained further would look different for the wrong reason. Two cap rules:

* ``cap_rule="authors"`` (the default, the authors' public code): test accuracy is checked at the end of each epoch,
  from epoch ``cap_min_epoch`` (2) on, with a strict ``accuracy > accuracy_cap``; training stops at the first such
  epoch and that checkpoint is used. A run that never passes the cap is *uncapped*: the authors drop it from their
  figures (:func:`spectral_lib.experiments.split_capped` does the same for our records).
* ``cap_rule="steps"`` (our earlier, finer rule): ``accuracy >= accuracy_cap`` checked every ``eval_every``
  optimisation steps and at every epoch end, from the first step on, so networks stop closer to the cap.

The learning rate decays exponentially by ``lr_gamma`` once per epoch (``lr_decay_per="epoch"``, the authors' rule)
or once per optimisation step (``"step"``). :class:`TrainResult` records whether and when the cap was reached. (Like
the paper, the cap is checked on the test split; ``cap_split="train"`` checks it on the training split instead.)
"""
from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import cache
from ..data import Splits, apply_input_condition, gaussian_smooth, load
from ..nn.layout import fast_layout, pooling_first
from ..nn.models import build_model
from ..paths import default_cache_dir
from .batches import _batches, accuracy
from .config import TrainConfig, resolve_device
from .penalty import penalized_loss

__all__ = ["TrainResult", "EpochInfo", "cap_passed", "load_for", "train", "train_or_load", "train_along",
           "shares_prefix", "accuracy", "checkpoint_path"]

def load_for(config: TrainConfig) -> Splits:
    """The data a configuration trains and is evaluated on: ``config.dataset`` at ``config.image_size`` (augmented
    training split if ``config.augment``), with the input condition (pixel permutation, smoothing) applied."""
    splits = load(config.dataset, image_size=config.image_size, augment=config.augment, n_train=config.n_train)
    return apply_input_condition(splits, config.pixel_permutation, config.input_smoothing_sigma)


@dataclass
class TrainResult:
    """How training went: whether the cap was reached, where, with which accuracies, how long it took."""

    cap_reached: bool
    epochs: float  # epochs done (fractional when stopped mid-epoch)
    steps: int
    test_accuracy: float
    train_accuracy: float
    seconds: float
    history: list = field(default_factory=list)  # (step, epoch, accuracy on cap_split)
    epoch_log: list = field(default_factory=list)  # what train(on_epoch=...) returned after each epoch (else [])

    def as_dict(self) -> dict:
        return asdict(self)


class EpochInfo(NamedTuple):
    """What :func:`train` tells its ``on_epoch`` callback at the end of an epoch."""

    epoch: int  # epochs done (1-based)
    step: int  # optimisation steps done
    accuracy: float  # accuracy on the cap split just measured (test split by default)
    seconds: float  # training time so far
    history: list  # the cap checks so far: (step, epoch, accuracy), as in TrainResult.history


def _call_quietly(fn: Callable, model: nn.Module, info: EpochInfo) -> Any:
    """``fn(model, info)`` in eval mode, leaving no trace: the model's mode, its parameters' ``.grad`` and torch's
    global random state are as before the call."""
    was, rng = model.training, torch.get_rng_state()
    grads = {n: (None if p.grad is None else p.grad.clone()) for n, p in model.named_parameters()}
    model.eval()
    try:
        return fn(model, info)
    finally:
        for n, p in model.named_parameters():
            p.grad = grads[n]
        torch.set_rng_state(rng)
        model.train(was)


def _perturb(x: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    if cfg.train_blur_sigma > 0:
        x = gaussian_smooth(x, cfg.train_blur_sigma)
    if cfg.train_noise_std > 0:
        x = x + cfg.train_noise_std * torch.randn(x.shape, generator=gen).to(x.device)
    return x


def cap_passed(config: TrainConfig, accuracy: float, epoch: float) -> bool:
    """Whether a cap check at ``epoch`` (epochs done, fractional mid-epoch) with ``accuracy`` stops training.

    ``cap_rule="authors"``: only at whole epochs ``>= cap_min_epoch`` and only if ``accuracy > accuracy_cap``
    (strict), as the authors' ``training_and_val.py`` (``epoch > warmup_epochs and test_acc > min_test_acc``, with
    0-based epochs and no warm-up). ``"steps"``: ``accuracy >= accuracy_cap`` at any check. No cap: never.
    """
    if config.accuracy_cap is None:
        return False
    if config.cap_rule == "authors":
        return float(epoch).is_integer() and epoch >= config.cap_min_epoch and accuracy > config.accuracy_cap
    return accuracy >= config.accuracy_cap


def train(
    config: TrainConfig,
    splits: Splits | None = None,
    *,
    progress: bool = True,
    checkpoint_path: str | Path | None = None,
    on_epoch: Callable[[nn.Module, EpochInfo], Any] | None = None,
) -> tuple[nn.Module, TrainResult]:
    """Train ``config``'s network with Adam and cross-entropy until the accuracy cap or ``max_epochs``.

    ``on_epoch(model, info)``, if given, is called at the end of every completed epoch, after the cap check, with
    an :class:`EpochInfo`; what it returns is appended to ``result.epoch_log`` (kept in the resumable checkpoint).
    It cannot change the trained weights: the model is in eval mode during the call and its mode, the parameters'
    gradients and torch's global random state are restored afterwards (``tests/test_training_length.py``).

    If ``checkpoint_path`` is given, the full training state (weights, optimiser, scheduler, RNG, history) is saved
    atomically after every epoch and training resumes from it when it exists: an interrupted run continues where it
    stopped and ends with the same weights as an uninterrupted one. Returns the model (eval mode, on the resolved
    device) and a :class:`TrainResult`.
    """
    from tqdm import tqdm

    config.validate()
    device = resolve_device(config.device)
    splits = splits or load_for(config)
    torch.manual_seed(config.seed)
    model = build_model(config.model, config.activation, splits.info.in_shape, splits.info.num_classes,
                        **config.model_options).to(device)
    layout = fast_layout(device)  # channels-last on the CPU (spectral_lib.nn.layout)
    model = model.to(memory_format=layout)  # back to the standard layout before it is returned
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=config.lr_gamma)
    gen = torch.Generator().manual_seed(config.seed)
    state = {"epoch": 0, "step": 0, "history": [], "seconds": 0.0, "cap_reached": False, "epoch_log": []}
    if checkpoint_path is not None and Path(checkpoint_path).exists():
        try:
            ck = cache.load(checkpoint_path)
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["optimizer"])
            sched.load_state_dict(ck["scheduler"])
            gen.set_state(ck["generator"])
            if "torch_rng" in ck:  # the global generator draws the augmentations (flips, crops)
                torch.set_rng_state(ck["torch_rng"])
            state = ck["state"]
        except cache.CorruptCacheError:
            Path(checkpoint_path).unlink(missing_ok=True)  # start over from scratch
    cap_set = splits.test if config.cap_split == "test" else splits.train
    n_train = len(splits.train)
    steps_per_epoch = math.ceil(n_train / config.batch_size)
    t0 = time.perf_counter() - state["seconds"]
    bar = tqdm(total=config.max_epochs, initial=state["epoch"], disable=not progress, leave=False,
               desc=f"{config.model} {config.activation} seed {config.seed}", unit="epoch")

    def check_cap(epoch_float: float) -> bool:
        acc = accuracy(model, cap_set, device=device)
        state["history"].append((state["step"], epoch_float, acc))
        bar.set_postfix(acc=f"{acc:.3f}")
        return cap_passed(config, acc, epoch_float)

    with pooling_first(model):  # max-pool before a monotone activation: the same network (spectral_lib.nn.layout)
        while not state["cap_reached"] and state["epoch"] < config.max_epochs:
            model.train()
            for i, (x, y) in enumerate(_batches(splits.train, config.batch_size, shuffle=True, generator=gen)):
                x, y = _perturb(x, config, gen).to(device), y.to(device)
                if x.ndim == 4:
                    x = x.contiguous(memory_format=layout)
                if config.penalty_strength > 0:
                    loss = penalized_loss(model, x, y, config.penalty_strength, kind=config.penalty_kind,
                                          cutoff=config.penalty_cutoff, subsample=config.penalty_subsample)
                else:
                    loss = F.cross_entropy(model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if config.lr_decay_per == "step":
                    sched.step()
                state["step"] += 1
                last = i == steps_per_epoch - 1
                if (config.cap_rule == "steps" and config.eval_every and state["step"] % config.eval_every == 0
                        and not last):
                    if check_cap(state["epoch"] + (i + 1) / steps_per_epoch):
                        state["cap_reached"] = True
                        state["epoch"] += (i + 1) / steps_per_epoch
                        break
            else:
                state["epoch"] += 1
                if config.lr_decay_per == "epoch":
                    sched.step()
                state["cap_reached"] = check_cap(float(state["epoch"]))
                if on_epoch is not None:
                    info = EpochInfo(int(state["epoch"]), int(state["step"]), float(state["history"][-1][2]),
                                     time.perf_counter() - t0, [tuple(h) for h in state["history"]])
                    state.setdefault("epoch_log", []).append(_call_quietly(on_epoch, model, info))
            bar.update(1)
            state["seconds"] = time.perf_counter() - t0
            if checkpoint_path is not None:
                cache.save(checkpoint_path, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                             "scheduler": sched.state_dict(), "generator": gen.get_state(),
                                             "torch_rng": torch.get_rng_state(), "state": state})
    bar.close()
    model = model.to(memory_format=torch.contiguous_format).eval()
    result = TrainResult(
        cap_reached=bool(state["cap_reached"]),
        epochs=float(state["epoch"]),
        steps=int(state["step"]),
        test_accuracy=accuracy(model, splits.test, device=device),
        train_accuracy=accuracy(model, splits.train, device=device),
        seconds=float(state["seconds"]),
        history=[tuple(h) for h in state["history"]],
        epoch_log=list(state.get("epoch_log", [])),
    )
    return model, result


def train_or_load(
    config: TrainConfig,
    cache_dir: str | Path | None = None,
    *,
    splits: Splits | None = None,
    progress: bool = True,
) -> tuple[nn.Module, TrainResult]:
    """Return the trained network for ``config`` from ``cache_dir/models/<key>.pt``, training it if absent.

    Checkpoints are written atomically with a checksum; a corrupt file is reported, removed and retrained. While
    training, ``<key>.partial.pt`` holds per-epoch state so that a killed run resumes. ``cache_dir=None`` uses
    :func:`spectral_lib.paths.default_cache_dir`.
    """
    config.validate()
    path = _network_path(config, cache_dir)
    if path.exists():  # a hit needs no lock (checkpoints are written atomically)
        try:
            return _load_network(config, path)
        except cache.CorruptCacheError:
            pass  # retrained under the lock below
    with cache.computing(path):  # another process training the same network: wait for it, then load its result
        return _load_or_train(config, path, splits, progress)


def _load_network(config: TrainConfig, path: Path) -> tuple[nn.Module, TrainResult]:
    """The network saved at ``path`` for ``config`` (eval mode, on the config's device); CorruptCacheError if the
    file is damaged."""
    blob = cache.load(path)
    info = blob["in_shape"], blob["num_classes"]
    torch.manual_seed(config.seed)
    model = build_model(config.model, config.activation, tuple(info[0]), info[1], **config.model_options)
    model.load_state_dict(blob["model"])
    result = TrainResult(**blob["result"])
    result.history = [tuple(h) for h in result.history]
    return model.to(resolve_device(config.device)).eval(), result


def _load_or_train(config: TrainConfig, path: Path, splits: Splits | None, progress: bool
                   ) -> tuple[nn.Module, TrainResult]:
    if path.exists():
        try:
            return _load_network(config, path)
        except cache.CorruptCacheError as e:
            warnings.warn(f"retraining: {e}", stacklevel=3)
            path.unlink(missing_ok=True)
    partial = _partial_of(path)
    splits = splits or load_for(config)
    model, result = train(config, splits, progress=progress, checkpoint_path=partial)
    _save_network(path, config, model, result, splits)
    partial.unlink(missing_ok=True)
    return model, result


def _network_path(config: TrainConfig, cache_dir: str | Path | None) -> Path:
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "models" / f"{config.key()}.pt"


def checkpoint_path(config: TrainConfig, cache_dir: str | Path | None = None) -> Path:
    """Where ``train_or_load`` / ``train_along`` keep ``config``'s per-epoch checkpoint while it trains
    (``<cache_dir>/models/<key>.partial.pt``; removed once the network is stored). ``cache_dir=None``: the default
    cache. A sweep job reads it to tell a resumed run from a fresh one."""
    return _partial_of(_network_path(config, cache_dir))


def _partial_of(path: Path) -> Path:
    return path.with_name(path.stem + ".partial.pt")  # <key>.pt -> <key>.partial.pt


# Where this process notes each network it trains and stores (one file name a line), when set: the book build sets it
# per chapter, so a chapter's "networks trained" counts its own kernel's training, not another lane's.
TRAINED_LOG_ENV = "SPECTRAL_LIB_TRAINED_LOG"


def _save_network(path: Path, config: TrainConfig, model: nn.Module, result: TrainResult, splits: Splits) -> None:
    cache.save(path, {"model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
                      "result": result.as_dict(), "config": asdict(config), "in_shape": list(splits.info.in_shape),
                      "num_classes": splits.info.num_classes})
    log = os.environ.get(TRAINED_LOG_ENV)
    if log:
        with open(log, "a") as f:  # one short line per write: appends from one process do not interleave
            f.write(path.name + "\n")


_STOP_FIELDS = ("accuracy_cap", "max_epochs")  # the fields by which a run and its stopped prefix may differ


def shares_prefix(run: TrainConfig, stopped: TrainConfig) -> bool:
    """Whether training ``stopped`` gives the network that the uncapped ``run`` has at the epoch where ``stopped``
    ends: the two differ at most in ``accuracy_cap`` and ``max_epochs``, ``run`` has no cap (so nothing stops it
    early) and cap checks happen at epoch ends only (``eval_every`` None). Same seed, data order, learning-rate
    schedule and random state then give identical weights epoch by epoch (tested)."""
    a, b = asdict(run), asdict(stopped)
    return (run.accuracy_cap is None and run.eval_every is None and stopped.eval_every is None
            and all(a[k] == b[k] for k in a if k not in _STOP_FIELDS))


def train_along(
    config: TrainConfig,
    cache_dir: str | Path | None = None,
    *,
    stopped: Sequence[TrainConfig] = (),
    on_epoch: Callable[[nn.Module, EpochInfo], Any] | None = None,
    splits: Splits | None = None,
    progress: bool = True,
) -> tuple[nn.Module, TrainResult]:
    """Train the uncapped ``config`` for all its ``max_epochs`` (no cache lookup: ``on_epoch`` sees every epoch,
    see :func:`train`) and store it in the cache like :func:`train_or_load`; on the way, store every config of
    ``stopped`` that :func:`shares_prefix` with it and is not cached yet, at the epoch where its own training would
    end (first epoch end past its cap by :func:`cap_passed`, else its ``max_epochs``). The networks of capped runs
    thus come free with a longer uncapped run. (Their recorded ``seconds`` include the callbacks' time.) A config of
    ``stopped`` that does not share the prefix raises ValueError; one that ends after ``config.max_epochs`` is left
    for :func:`train_or_load`. Returns the uncapped network and its result (``epoch_log``: ``on_epoch``'s values)."""
    config.validate()
    if config.accuracy_cap is not None:
        raise ValueError(f"train_along needs an uncapped config (accuracy_cap=None), got {config.accuracy_cap}")
    for c in stopped:
        if not shares_prefix(config, c.validate()):
            raise ValueError(f"train_along: {c} does not train a prefix of {config} (they may differ only in "
                             f"{_STOP_FIELDS})")
    splits = splits or load_for(config)
    device = resolve_device(config.device)
    pending = {c.key(): c for c in stopped if not _network_path(c, cache_dir).exists()}

    def hook(model: nn.Module, info: EpochInfo) -> Any:
        out = on_epoch(model, info) if on_epoch is not None else None
        for key, c in list(pending.items()):
            passed = cap_passed(c, info.accuracy, float(info.epoch))
            if passed or info.epoch >= c.max_epochs:
                result = TrainResult(cap_reached=passed, epochs=float(info.epoch), steps=info.step,
                                     test_accuracy=accuracy(model, splits.test, device=device),
                                     train_accuracy=accuracy(model, splits.train, device=device),
                                     seconds=info.seconds, history=list(info.history))
                if not _network_path(c, cache_dir).exists():  # another job may have trained it meanwhile
                    _save_network(_network_path(c, cache_dir), c, model, result, splits)
                del pending[key]
        return out

    path = _network_path(config, cache_dir)
    partial = _partial_of(path)
    model, result = train(config, splits, progress=progress, checkpoint_path=partial, on_epoch=hook)
    # the cached network keeps no epoch log: a later train_or_load of it returns what plain training would
    _save_network(path, config, model, TrainResult(**{**result.as_dict(), "epoch_log": []}), splits)
    partial.unlink(missing_ok=True)
    return model, result
