"""Training-length controls: is it the activation that lowers EF, or the longer training smooth activations need to
reach the cap?

Under the authors' cap rule (stop at the first epoch end strictly above the cap), smooth activations train longer:
on the quick profile ReLU passes the cap after 2-3 epochs, SP(0.3) after 17-21. Three controls separate the two:

* **slow ReLU**: ReLU trained at lower learning rates (``slow_relu_lrs``), under the same cap and seeds, so that it
  needs about as many epochs as the smoothest SP network (:func:`slow_relu_param_sets`, ordinary grid points);
* **equal epochs**: every activation of ``trajectory_specs`` (and ReLU at each slow learning rate) trained for
  ``equal_epochs`` epochs with no cap;
* **trajectories**: the VanillaGrad EF of the chapter's fixed test images (its first ``n_images``) after every epoch
  of those uncapped runs (:func:`run_trajectory`). With the authors' rule the capped network is the uncapped run's
  network at the first epoch end past the cap, so each trajectory also holds the capped network's EF
  (:func:`capped_epoch`; the identity is tested, not assumed) and, through
  :func:`~spectral_lib.training.loop.train_along`, the capped network itself is stored in the cache on the way:
  run before the chapter's main grid, the trajectories train its networks for free.

:func:`control_table` gathers one row per network (``training_length_control.csv``); the statements are in
:mod:`.verdicts_ef_beta`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .. import cache
from ..checks import ParameterError
from ..data import take
from ..explain import explain, predict
from ..nn.activations import activation_beta, activation_name, make_activation
from ..spectral import expected_frequency, to_map
from ..training import TrainConfig, cap_passed, load_for
from ..training.loop import EpochInfo, shares_prefix, train_along
from .points import points_from_params

__all__ = ["CONTROL_PARAMS", "check_control_params", "slow_relu_param_sets", "trajectory_plan", "run_trajectory",
           "run_trajectories", "trajectory_key", "TrajectorySpec", "trajectory_runs", "trajectory_path", "capped_epoch",
           "trajectory_point", "control_table", "trajectory_table", "CONTROL_COLUMNS", "TRAJECTORIES", "EF_SCALE"]

CONTROL_PARAMS = ("slow_relu_lrs", "trajectory_specs", "trajectory_seeds", "equal_epochs")
TRAJECTORIES = "trajectories"  # cache namespace of run_trajectory's records
EF_SCALE = 1e5  # ef_paper columns are the paper's EF times 1e5, as its tables print it
CONTROL_COLUMNS = ["arm", "activation", "beta", "lr", "seed", "epochs", "test_accuracy", "cap_reached", "ef_paper",
                   "ef_nyquist"]


def _err(name: str, value: Any, expected: str) -> ParameterError:
    return ParameterError(f"parameter {name!r} = {value!r} is invalid: expected {expected}")


def check_control_params(params: dict[str, Any]) -> dict[str, Any]:
    """Check the controls' parameters before any work and return them: ``slow_relu_lrs`` (a list of positive finite
    learning rates, may be empty), ``trajectory_specs`` (activation specs, may be empty), ``trajectory_seeds``
    (non-negative integer seeds, non-empty when there is a trajectory to run), ``equal_epochs`` (a positive
    integer). Raises :class:`~spectral_lib.checks.ParameterError` naming the parameter."""
    out = {}
    lrs = params.get("slow_relu_lrs", [])
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, (list, tuple)):
        raise _err("slow_relu_lrs", lrs, "a list of positive learning rates")
    for i, v in enumerate(lrs):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0):
            raise _err(f"slow_relu_lrs[{i}]", v, "a positive finite learning rate")
    out["slow_relu_lrs"] = [float(v) for v in lrs]
    specs = params.get("trajectory_specs", [])
    if isinstance(specs, (str, bytes)) or not isinstance(specs, (list, tuple)):
        raise _err("trajectory_specs", specs, "a list of activation specs")
    for i, s in enumerate(specs):
        try:
            make_activation(s)
        except (ValueError, TypeError) as e:
            raise ParameterError(f"parameter 'trajectory_specs[{i}]' = {s!r} is invalid: {e}") from None
    out["trajectory_specs"] = list(specs)
    seeds = params.get("trajectory_seeds", [0])
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (list, tuple)):
        raise _err("trajectory_seeds", seeds, "a list of non-negative integer seeds")
    for i, s in enumerate(seeds):
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise _err(f"trajectory_seeds[{i}]", s, "a non-negative integer seed")
    if (specs or lrs) and not seeds:
        raise _err("trajectory_seeds", seeds, "a non-empty list of seeds (there are trajectories to run)")
    out["trajectory_seeds"] = list(seeds)
    e = params.get("equal_epochs", 20)
    if isinstance(e, bool) or not isinstance(e, int) or e < 1:
        raise _err("equal_epochs", e, "a positive integer number of epochs")
    out["equal_epochs"] = e
    return out


def _vanilla_only(params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "methods": ["vanilla_grad"]}


def slow_relu_param_sets(params: dict[str, Any]) -> list[dict[str, Any]]:
    """One parameter dict per learning rate of ``slow_relu_lrs``, for :func:`points_from_params`: ReLU at that
    learning rate under the chapter's cap, seeds and every other training setting, explained by VanillaGrad."""
    ctl = check_control_params(params)
    return [{**_vanilla_only(params), "grid": "slow_relu", "activations": ["relu"], "lr_by_activation": {"relu": lr}}
            for lr in ctl["slow_relu_lrs"]]


def trajectory_plan(params: dict[str, Any]) -> list[tuple[TrainConfig, TrainConfig, str]]:
    """The uncapped runs as ``(uncapped config, capped config, role)``: for every seed of ``trajectory_seeds``, each
    activation of ``trajectory_specs`` at its chapter learning rate (``lr`` / ``lr_by_activation``; role
    ``"chapter"``) and ReLU at each of ``slow_relu_lrs`` (role ``"slow_relu"``). The capped config is the chapter's
    grid point (same key: the main grid's or the slow ReLU grid's network); the uncapped one differs only in
    ``accuracy_cap=None`` and ``max_epochs=equal_epochs``. A run listed twice is planned once (first role wins).
    Validated; raises ParameterError naming a bad parameter."""
    ctl = check_control_params(params)
    runs = [(a, None) for a in ctl["trajectory_specs"]] + [("relu", lr) for lr in ctl["slow_relu_lrs"]]
    plan = []
    for act, lr in runs:
        by_act = {**(params.get("lr_by_activation") or {}), **({act: lr} if lr is not None else {})}
        p = {**_vanilla_only(params), "activations": [act], "seeds": ctl["trajectory_seeds"],
             "lr_by_activation": by_act}
        for capped, _ in points_from_params(p):
            uncapped = replace(capped, accuracy_cap=None, max_epochs=ctl["equal_epochs"]).validate()
            plan.append((uncapped, capped, "chapter" if lr is None else "slow_relu"))
    unique: dict[str, tuple] = {}
    for u, c, role in plan:
        unique.setdefault(u.key(), (u, c, role))
    return list(unique.values())


def trajectory_key(config: TrainConfig, n_images: int) -> dict:
    """The cache key of :func:`run_trajectory`'s record."""
    return {"train": config.key(), "n_images": int(n_images), "method": "vanilla_grad", "version": 1}


@dataclass(frozen=True, eq=False)
class TrajectorySpec:
    """What a sweep needs to run one trajectory of :func:`trajectory_plan` as a job of its own (the uncapped
    config is the job's config): the chapter's ``n_images`` and the ``capped`` grid point stored on the way."""

    n_images: int
    capped: TrainConfig

    def record_path(self, config: TrainConfig, cache_dir: str | Path) -> Path:
        """Where :func:`run_trajectory` stores the record of the uncapped ``config``."""
        return trajectory_path(config, self.n_images, cache_dir)


def trajectory_runs(params: dict[str, Any]) -> list[tuple[TrainConfig, TrajectorySpec]]:
    """The chapter's trajectories as ``(uncapped config, TrajectorySpec)``, in :func:`trajectory_plan` order: what
    :func:`run_trajectories` runs, listed for a sweep (:mod:`spectral_lib.sweep` runs each as a job, so that a book
    built on the sweep's cache trains nothing). Validated like :func:`trajectory_plan`."""
    n = params.get("n_images", 200)
    return [(u, TrajectorySpec(int(n), c)) for u, c, _ in trajectory_plan(params)]


def trajectory_path(config: TrainConfig, n_images: int, cache_dir: str | Path) -> Path:
    """``cache_dir/trajectories/<key>.pt``: the record :func:`run_trajectory` writes for the uncapped ``config``."""
    return Path(cache_dir) / TRAJECTORIES / f"{cache.config_key(trajectory_key(config, n_images))}.pt"


def run_trajectory(config: TrainConfig, n_images: int, cache_dir: str | Path | None,
                   stopped: Sequence[TrainConfig] = (), progress: bool = True) -> dict:
    """Train the uncapped ``config`` and measure, after every epoch, the VanillaGrad EF (both definitions) of its
    test split's first ``n_images`` images (the images :func:`~spectral_lib.experiments.run_point` explains), with
    the target predicted at that epoch. Cached under ``cache_dir/trajectories``; the networks of ``stopped``
    (capped configs sharing the run's prefix) are stored in the network cache on the way
    (:func:`~spectral_lib.training.loop.train_along`).

    Returns a dict: ``config`` (dict), ``activation`` (name), ``beta`` (inf for ReLU), ``seed``, ``lr``,
    ``epochs`` (E,) list 1..E, ``test_accuracy`` (E,) list (accuracy on the cap split, the test split by default),
    ``ef`` and ``ef_nyquist``: (E, n_images) float tensors, ``train`` (the run's TrainResult as a dict, without its
    epoch log)."""
    config.validate()
    if config.accuracy_cap is not None:
        raise ValueError(f"run_trajectory needs an uncapped config (accuracy_cap=None), got {config.accuracy_cap}")
    n_images = int(n_images)
    if n_images < 1:
        raise ValueError(f"n_images must be a positive integer, got {n_images}")

    def compute() -> dict:
        x, _ = take(load_for(replace(config, augment=False)).test, n_images)

        def measure(model: torch.nn.Module, info: EpochInfo) -> dict:
            xd = x.to(next(model.parameters()).device)
            maps = to_map(explain("vanilla_grad", model, xd, target=predict(model, xd)))
            return {"epoch": info.epoch, "accuracy": info.accuracy, "ef": expected_frequency(maps).cpu(),
                    "ef_nyquist": expected_frequency(maps, "nyquist").cpu()}

        _, result = train_along(config, cache_dir, stopped=list(stopped), on_epoch=measure, progress=progress)
        log = result.epoch_log
        train = {k: v for k, v in result.as_dict().items() if k != "epoch_log"}
        return {"config": asdict(config), "activation": activation_name(config.activation),
                "beta": activation_beta(config.activation), "seed": config.seed, "lr": config.lr,
                "epochs": [int(e["epoch"]) for e in log], "test_accuracy": [float(e["accuracy"]) for e in log],
                "ef": torch.stack([e["ef"] for e in log]), "ef_nyquist": torch.stack([e["ef_nyquist"] for e in log]),
                "train": train}

    return cache.memoize(cache_dir, TRAJECTORIES, trajectory_key(config, n_images), compute)


def run_trajectories(params: dict[str, Any], cache_dir: str | Path | None, progress: bool = True) -> list[dict]:
    """:func:`run_trajectory` for every run of :func:`trajectory_plan` on the chapter's ``n_images``, each storing
    its capped network on the way. Each record gets ``capped_config`` (the capped grid point, as a dict) and
    ``role`` (``"chapter"`` or ``"slow_relu"``, from :func:`trajectory_plan`)."""
    from tqdm import tqdm

    plan = trajectory_plan(params)
    out = []
    for uncapped, capped, role in tqdm(plan, desc="trajectories", disable=not progress):
        rec = run_trajectory(uncapped, params.get("n_images", 200), cache_dir, stopped=[capped], progress=progress)
        out.append({**rec, "capped_config": asdict(capped), "role": role})
    return out


def capped_epoch(trajectory: dict, capped: TrainConfig | dict) -> int | None:
    """The epoch at which the capped run ``capped`` stops, read off an uncapped trajectory of the same network
    (:func:`~spectral_lib.training.loop.shares_prefix`): the first epoch end past its cap (:func:`cap_passed`), else
    its ``max_epochs``; None when that lies beyond the trajectory. Raises ValueError when the two runs do not share
    their prefix."""
    capped = TrainConfig(**capped) if isinstance(capped, dict) else capped
    run = TrainConfig(**trajectory["config"])
    if not shares_prefix(run, capped):
        raise ValueError("capped_epoch: the capped config does not train a prefix of the trajectory's run")
    for e, acc in zip(trajectory["epochs"], trajectory["test_accuracy"]):
        if cap_passed(capped, acc, float(e)) or e >= capped.max_epochs:
            return int(e)
    return None


def trajectory_point(trajectory: dict, epoch: int) -> dict:
    """The trajectory's measurements after ``epoch`` epochs: ``{"epoch", "test_accuracy", "ef", "ef_nyquist"}``
    ((n_images,) tensors). Raises ValueError for an epoch the trajectory does not hold."""
    if epoch not in trajectory["epochs"]:
        raise ValueError(f"epoch {epoch} is not in the trajectory (epochs {trajectory['epochs'][:1]}.."
                         f"{trajectory['epochs'][-1:]})")
    i = trajectory["epochs"].index(epoch)
    return {"epoch": epoch, "test_accuracy": trajectory["test_accuracy"][i], "ef": trajectory["ef"][i],
            "ef_nyquist": trajectory["ef_nyquist"][i]}


def _mean(values) -> float:
    v = np.asarray(values, dtype=float)
    return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan


def control_table(capped: Sequence[dict], slow: Sequence[dict], trajectories: Sequence[dict]):
    """One row per network (``training_length_control.csv``), columns :data:`CONTROL_COLUMNS`:

    * ``arm="capped"``: the chapter's capped networks (``capped``, run_point records, dropped ones included with
      ``cap_reached`` False); ``arm="slow_relu"``: the slow-ReLU records; ``arm="equal_epochs"``: each
      trajectory's network after its last epoch (no cap: ``cap_reached`` is None), ``"equal_epochs_slow_relu"`` for
      the slow-ReLU trajectories (record ``role``);
    * ``beta`` inf for ReLU (NaN for a non-SP activation), ``epochs`` trained, ``test_accuracy`` at the end,
      ``ef_paper`` the mean over the images of the paper's VanillaGrad EF times :data:`EF_SCALE` (1e5) and
      ``ef_nyquist`` that of the Nyquist EF (cycles per pixel); NaN images are skipped (all NaN: NaN).
    """
    import pandas as pd

    rows = []
    for arm, recs in (("capped", capped), ("slow_relu", slow)):
        for r in recs:
            rows.append({"arm": arm, "activation": r["activation"], "beta": float(r["beta"]),
                         "lr": float(r["config"]["lr"]), "seed": int(r["seed"]),
                         "epochs": float(r["train"]["epochs"]), "test_accuracy": float(r["train"]["test_accuracy"]),
                         "cap_reached": bool(r["train"]["cap_reached"]),
                         "ef_paper": _mean(r["ef"]["vanilla_grad"]) * EF_SCALE,
                         "ef_nyquist": _mean(r["ef_nyquist"]["vanilla_grad"])})
    for t in trajectories:
        if not t["epochs"]:
            continue
        arm = "equal_epochs_slow_relu" if t.get("role") == "slow_relu" else "equal_epochs"
        rows.append({"arm": arm, "activation": t["activation"], "beta": float(t["beta"]),
                     "lr": float(t["lr"]), "seed": int(t["seed"]), "epochs": float(t["epochs"][-1]),
                     "test_accuracy": float(t["test_accuracy"][-1]), "cap_reached": None,
                     "ef_paper": _mean(t["ef"][-1]) * EF_SCALE, "ef_nyquist": _mean(t["ef_nyquist"][-1])})
    return pd.DataFrame(rows, columns=CONTROL_COLUMNS)


def trajectory_table(trajectories: Sequence[dict]):
    """One row per (trajectory, epoch): role, activation, beta, lr, seed, epoch, test_accuracy, ``ef_paper`` (x1e5) and
    ``ef_nyquist`` (means over the images) and ``capped_here`` (True at the epoch where the capped run of the same
    network stops, :func:`capped_epoch`; all False when the record carries no ``capped_config``)."""
    import pandas as pd

    rows = []
    for t in trajectories:
        stop = capped_epoch(t, t["capped_config"]) if t.get("capped_config") else None
        for i, e in enumerate(t["epochs"]):
            rows.append({"role": t.get("role", "chapter"), "activation": t["activation"], "beta": float(t["beta"]),
                         "lr": float(t["lr"]),
                         "seed": int(t["seed"]), "epoch": int(e), "test_accuracy": float(t["test_accuracy"][i]),
                         "ef_paper": _mean(t["ef"][i]) * EF_SCALE, "ef_nyquist": _mean(t["ef_nyquist"][i]),
                         "capped_here": stop == e})
    return pd.DataFrame(rows, columns=["role", "activation", "beta", "lr", "seed", "epoch", "test_accuracy",
                                       "ef_paper", "ef_nyquist", "capped_here"])
