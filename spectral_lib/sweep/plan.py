"""The sweep's plan: a profile's grid points (exactly the notebooks' own, through
:mod:`spectral_lib.companion.profiles`), deduplicated across chapters, with the cache folder, the device the jobs
run on and the sweep's state."""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from ..checks import ConfigError
from ..companion import profiles as config
from ..companion.parameters import check_device
from ..experiments.training_length import TrajectorySpec
from ..paths import default_cache_dir
from ..training import TrainConfig, resolve_device
from .job import record_key
from .points import Point
from .settings import SweepError, slurm_has_gpus, sweep_settings
from .state import load_state, state_path

__all__ = ["Plan", "notebook_parameters", "param_sets", "grid_parameters", "grid_points", "plan",
           "check_devices"]

NOTEBOOKS_DIR = config.NOTEBOOKS_DIR
PROFILES_DIR = config.PROFILES_DIR


@dataclass
class Plan:
    """Everything a submission or status needs, validated."""

    profile: str
    settings: dict
    cache_dir: Path
    device: str
    points: list[Point]
    state_file: Path
    state: dict


def _sweep_error(e: ConfigError) -> SweepError:
    return e if isinstance(e, SweepError) else SweepError(str(e))


def notebook_parameters(stem: str, prof: dict, notebooks_dir: str | Path = NOTEBOOKS_DIR) -> dict:
    """The parameters notebook ``stem`` runs with under ``prof``
    (:func:`spectral_lib.companion.profiles.chapter_parameters`;
    without a notebook source, with a warning, ``defaults`` + entry). Raises SweepError."""
    try:
        return config.chapter_parameters(stem, prof, None, notebooks_dir, require_source=False).params
    except ConfigError as e:
        raise _sweep_error(e) from None


def param_sets(stem: str, params: dict) -> list[dict]:
    """The parameter dicts notebook ``stem`` passes to ``points_from_params`` (``[params]`` for most notebooks)."""
    return config.param_sets(stem, params)


def grid_parameters(prof: dict, only: Iterable[str] | None = None,
                    notebooks_dir: str | Path = NOTEBOOKS_DIR) -> dict[str, dict]:
    """notebook stem -> validated parameters, for the profile's grid notebooks (those with ``activations``), in
    profile order; ``only`` selects some of them. Every notebook of the profile is validated (values, networks on
    the meta device, offsets), and so are the profile's defaults."""
    try:
        config.check_defaults(prof, notebooks_dir)
    except ConfigError as e:
        raise _sweep_error(e) from None
    params = {s: notebook_parameters(s, prof, notebooks_dir) for s in prof["notebooks"]}
    for s, p in params.items():
        try:
            config.validate_chapter(s, p, devices=False)  # devices: checked where the jobs run, see check_devices
        except ConfigError as e:
            raise _sweep_error(e) from None
    grid = [s for s in params if "activations" in params[s]]
    if only:
        bad = [s for s in only if s not in grid]
        if bad:
            raise SweepError(f"--only: {bad} not grid notebooks of this profile; its grid notebooks: {grid or 'none'}")
        grid = [s for s in grid if s in set(only)]
    return {s: params[s] for s in grid}


def _keyed(cfg: TrainConfig, device: str) -> TrainConfig:
    return replace(cfg, device=device) if cfg.device == "auto" else cfg


def grid_points(prof: dict, only: Iterable[str] | None = None, device: str | None = None,
                notebooks_dir: str | Path = NOTEBOOKS_DIR, params: dict[str, dict] | None = None) -> list[Point]:
    """The profile's grid points, deduplicated by (TrainConfig.key(), EvalSpec), in notebook order, each chapter's
    uncapped trajectories (:func:`spectral_lib.companion.profiles.chapter_trajectories`) before its grid points.

    ``device``: what ``device="auto"`` resolves to where the jobs run (None: this machine); ``params``: the result of
    :func:`grid_parameters` if already computed. Raises SweepError on any invalid parameter, before anything runs."""
    device = device or resolve_device("auto").type
    params = params if params is not None else grid_parameters(prof, only, notebooks_dir)
    points: dict[tuple, Point] = {}
    for stem, p in params.items():
        try:  # a chapter's trajectories first: they store its capped networks on the way (train_along)
            runs = config.chapter_trajectories(stem, p)
            pts = config.chapter_points(stem, p)
        except ConfigError as e:
            raise _sweep_error(e) from None
        for cfg, spec in runs + pts:
            kc = _keyed(cfg, device)
            ident = ("trajectory", kc.key(), spec.n_images) if isinstance(spec, TrajectorySpec) else (kc.key(), spec)
            if ident not in points:
                points[ident] = Point(cfg, spec, kc, record_key(kc, spec))
            if stem not in points[ident].notebooks:
                points[ident].notebooks.append(stem)
    return list(points.values())


def _cache_root(cache_dir: str | Path | None, params: dict[str, dict]) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser().absolute()  # jobs may start elsewhere
    # where the notebooks will look: their cache_dir parameter, else the library default
    dirs = {str(Path(p["cache_dir"]).expanduser()) for p in params.values() if p.get("cache_dir")}
    if len(dirs) > 1:
        raise SweepError(f"the grid notebooks use different cache_dir values {sorted(dirs)}: pass --cache-dir "
                         "(or sweep them separately with --only)")
    root = Path(dirs.pop()) if dirs else default_cache_dir()
    if any(not p.get("cache_dir") for p in params.values()) and root != default_cache_dir():
        warnings.warn(f"some grid notebooks set cache_dir {root} and some do not; sweeping into {root}", stacklevel=3)
    return root


def plan(profile: str | os.PathLike, executor: str | None = None, cache_dir: str | Path | None = None,
         only: Iterable[str] | None = None, notebooks_dir: str | Path = NOTEBOOKS_DIR,
         profiles_dir: str | Path = PROFILES_DIR) -> Plan:
    """Load and validate the profile, its sweep section and its grid (SweepError on any problem)."""
    try:
        name, prof = config.load_profile(profile, profiles_dir)
    except ConfigError as e:
        raise _sweep_error(e) from None
    settings = sweep_settings(prof, executor)
    params = grid_parameters(prof, only, notebooks_dir)
    root = _cache_root(cache_dir, params)
    sfile = state_path(root, name)
    state = load_state(sfile)
    ex = settings["executor"]
    here = resolve_device("auto").type
    if settings["device"]:
        device = settings["device"]
    elif executor is None and state.get("device"):
        device = state["device"]  # status/resubmission: the device of the last submission
    elif ex == "slurm":
        device = "cuda" if slurm_has_gpus(settings["slurm"]) else "cpu"
    else:
        device = here
    points = grid_points(prof, only, device, notebooks_dir, params)
    if ex != "slurm" and device != here and any(p.config.device == "auto" for p in points):
        raise SweepError(f"this sweep's records are keyed for device {device!r} but {ex} jobs run 'auto' on {here!r} "
                         f"here; set sweep.device (or `device:` in the profile defaults)")
    return Plan(name, settings, root, device, points, sfile, state)


def check_devices(pl: Plan, todo: list[Point]) -> None:
    """Refuse to run points on CUDA where the jobs will have none: here for the local executors, on SLURM nodes when
    the slurm section asks for no GPU. Names the chapter and the parameter (``device`` or ``sweep.device``)."""
    for p in todo:
        if p.key_config.device != "cuda":
            continue
        name = "device" if p.config.device == "cuda" else "sweep.device"
        where = None
        if pl.settings["executor"] == "slurm":
            if slurm_has_gpus(pl.settings["slurm"]):
                continue
            where = "the slurm jobs: the profile's sweep.slurm asks for no GPU (set gpus_per_node)"
        try:
            check_device("cuda", name, where)
        except ConfigError as e:
            raise SweepError(f"{', '.join(p.notebooks)}: {e}") from None
