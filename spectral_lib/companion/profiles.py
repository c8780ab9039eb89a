"""Profiles: load them, merge a chapter's parameters, validate every grid point cheaply, list the grid points.

The book command (``scripts/build_book.py``), the sweep (``python -m spectral_lib.sweep``) and the notebooks' first
cell (:func:`spectral_lib.companion.parameters`) all go through this module, so they cannot drift apart.

A profile (``profiles/<name>.yaml`` or a path to a YAML file) is a mapping with ``defaults`` (shared by every
chapter: each takes the ones its ``parameters`` cell declares), ``notebooks: {<stem>: {...}}`` (one chapter's
entries) and optionally ``sweep`` (read by the sweep only). A chapter runs with::

    its parameters cell  <-  profile defaults it declares  <-  its profile entry  <-  overrides it declares

(later wins). Refused before any work, with a message naming the chapter, the parameter and the value: a name in a
chapter's entry that its parameters cell does not declare, a default no notebook declares, an override no selected
chapter declares, any value :func:`spectral_lib.companion.parameters.check_params` rejects, a grid point
:func:`spectral_lib.experiments.points_from_params` rejects, a network that cannot be built for its dataset's shape
(built on the ``meta`` device), an offset past the test split, and ``device: cuda`` where CUDA is not available
(unless every grid point of the chapter is already cached, so that nothing will be trained).
"""
from __future__ import annotations

import ast
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from ..checks import ConfigError, ParameterError
from ..experiments import grids, natural_images, point_path, points_from_params, training_length
from ..training import check_networks
from .parameters import check_device, check_offsets, check_params

__all__ = ["ConfigError", "ParameterError", "Chapter", "load_profile", "parameters_cell", "parse_assignments",
           "notebook_declarations", "chapter_parameters", "check_defaults", "check_overrides", "param_sets",
           "chapter_points", "chapter_trajectories", "TRAJECTORY_RUNS", "validate_chapter", "prepare", "PROFILES_DIR",
           "NOTEBOOKS_DIR"]

ROOT = Path(__file__).resolve().parents[2]  # the repository (profiles/, notebooks/)
PROFILES_DIR = ROOT / "profiles"
NOTEBOOKS_DIR = ROOT / "notebooks"
PROFILE_KEYS = ("defaults", "notebooks", "sweep")
# names that must have a value for a grid to be listed without running the notebook
_GRID_NAMES = {"activations", "seeds", "methods", "model_options", "dataset", "model", "pools", "theorem1_images"}


class Chapter(NamedTuple):
    """One chapter under a profile: what its parameters cell declares, what the profile and the command line set
    (``given``: what papermill injects) and the merged, validated parameters (``params``)."""

    stem: str
    declared: frozenset[str]
    given: dict[str, Any]
    params: dict[str, Any]


# ----------------------------------------------------------------------------------------------------- profiles
def load_profile(name: str | os.PathLike, profiles_dir: str | Path = PROFILES_DIR) -> tuple[str, dict]:
    """``(name, mapping)`` of a profile: a name in ``profiles_dir`` or a path to a YAML file. The mapping always has
    ``defaults`` and ``notebooks`` (mappings) and may have ``sweep``. Raises ConfigError."""
    import yaml

    name = str(name)
    path = Path(name).expanduser()
    if not (name.endswith((".yaml", ".yml")) and path.is_file()):
        path = Path(profiles_dir) / f"{name}.yaml"
    if not path.is_file():
        avail = sorted(p.stem for p in Path(profiles_dir).glob("*.yaml"))
        raise ConfigError(f"unknown profile {name!r}: neither a YAML file nor one of the available profiles: "
                          f"{', '.join(avail) or '(none)'}")
    try:
        prof = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(prof, dict) or not set(prof) <= set(PROFILE_KEYS):
        raise ConfigError(f"{path}: a profile is a mapping with keys 'defaults', 'notebooks' and optionally 'sweep'")
    prof["defaults"] = prof.get("defaults") or {}
    prof["notebooks"] = prof.get("notebooks") or {}
    if not isinstance(prof["defaults"], dict) or not isinstance(prof["notebooks"], dict):
        raise ConfigError(f"{path}: 'defaults' and 'notebooks' must be mappings")
    for stem, entry in prof["notebooks"].items():
        if entry is not None and not isinstance(entry, dict):
            raise ConfigError(f"{path}: notebooks.{stem} must be a mapping of parameters, got {entry!r}")
    return path.stem, prof


# ------------------------------------------------------------------------------------------ parameters cells
_CELL = re.compile(r"^# %%")
_PARAM_CELL = re.compile(r"""^# %%.*\btags\s*=\s*\[[^\]]*["']parameters["']""")


def parameters_cell(path: str | Path) -> str | None:
    """Source of the ``parameters``-tagged cell of a notebook: a jupytext percent ``.py`` file or an ``.ipynb``;
    None if it has no such cell."""
    path = Path(path)
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text()).get("cells", [])
        for cell in cells:
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                src = cell.get("source", "")
                return "".join(src) if isinstance(src, list) else src
        return None
    lines = path.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if _PARAM_CELL.match(line)), None)
    if start is None:
        return None
    end = next((j for j in range(start + 1, len(lines)) if _CELL.match(lines[j])), len(lines))
    return "\n".join(lines[start + 1 : end])


def parse_assignments(source: str, where: str = "parameters cell") -> tuple[dict[str, Any], list[str]]:
    """``(literal values, declared names in order)`` of the top-level assignments in ``source``. A name assigned a
    non-literal expression is declared without a value. Raises ConfigError on a syntax error."""
    try:
        tree = ast.parse(source)
    except SyntaxError as e:
        raise ConfigError(f"{where}: cannot parse: {e}") from None
    values: dict[str, Any] = {}
    declared: list[str] = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name):
                if t.id not in declared:
                    declared.append(t.id)
                try:
                    values[t.id] = ast.literal_eval(node.value) if node.value is not None else None
                except ValueError:
                    values.pop(t.id, None)
    return values, declared


def notebook_declarations(stem: str, notebooks_dir: str | Path = NOTEBOOKS_DIR
                          ) -> tuple[dict[str, Any], set[str]] | None:
    """``(literal values, declared names)`` of ``notebooks_dir/<stem>.py``'s parameters cell; None if there is no
    such file. Raises ConfigError if it has no parameters cell."""
    src = Path(notebooks_dir) / f"{stem}.py"
    if not src.is_file():
        return None
    cell = parameters_cell(src)
    if cell is None:
        raise ConfigError(f"{stem}: {src} has no cell tagged 'parameters'")
    values, declared = parse_assignments(cell, f"{stem}: its parameters cell")
    return values, set(declared)


# ------------------------------------------------------------------------------------------------------ merging
def chapter_parameters(stem: str, prof: dict, overrides: Mapping[str, Any] | None = None,
                       notebooks_dir: str | Path = NOTEBOOKS_DIR, require_source: bool = True) -> Chapter:
    """Chapter ``stem``'s parameters under ``prof`` (+ ``overrides`` that it declares), checked with
    :func:`~spectral_lib.companion.parameters.check_params`. Without a notebook source: an error (``require_source``) or, with a
    warning, the profile's defaults + entry."""
    own = prof["notebooks"].get(stem) or {}
    overrides = dict(overrides or {})
    parsed = notebook_declarations(stem, notebooks_dir)
    if parsed is None:
        if require_source:
            raise ConfigError(f"{stem}: notebook source {Path(notebooks_dir) / (stem + '.py')} not found")
        warnings.warn(f"{stem}: no notebooks/{stem}.py here; using the profile's defaults + entry only", stacklevel=2)
        given = {**prof["defaults"], **own, **overrides}
        declared, values = frozenset(given), {}
    else:
        values, names = parsed
        declared = frozenset(names)
        unknown = sorted(set(own) - declared)
        if unknown:
            raise ParameterError(f"{stem}: unknown parameter(s) {unknown} in the profile; it accepts "
                                 f"{sorted(declared)}")
        given = {**{k: v for k, v in prof["defaults"].items() if k in declared}, **own,
                 **{k: v for k, v in overrides.items() if k in declared}}
    params = {**values, **given}
    try:
        params = check_params(params)
    except ParameterError as e:
        raise ParameterError(f"{stem}: {e}") from None
    unresolved = sorted((declared - set(params)) & _GRID_NAMES)
    if unresolved and "activations" in params:
        raise ConfigError(f"{stem}: parameter(s) {unresolved} are not literals in its parameters cell; set them in "
                          "the profile")
    return Chapter(stem, declared, given, params)


def _all_declared(notebooks_dir: str | Path, stems: Iterable[str]) -> set[str]:
    names: set[str] = set()
    for stem in {*stems, *(p.stem for p in Path(notebooks_dir).glob("*.py"))}:
        try:
            parsed = notebook_declarations(stem, notebooks_dir)
        except ConfigError:
            continue
        names |= parsed[1] if parsed else set()
    return names


def check_defaults(prof: dict, notebooks_dir: str | Path = NOTEBOOKS_DIR, stems: Iterable[str] = ()) -> None:
    """Refuse profile ``defaults`` that no notebook declares (in ``notebooks_dir`` or among ``stems``): a typo there
    would otherwise be silently ignored by every chapter."""
    declared = _all_declared(notebooks_dir, [*stems, *prof["notebooks"]])
    unknown = sorted(set(prof["defaults"]) - declared)
    if unknown and declared:
        raise ParameterError(f"profile defaults: unknown parameter(s) {unknown}: no notebook declares them in its "
                             "parameters cell")


def check_overrides(overrides: Mapping[str, Any], chapters: Iterable[Chapter]) -> None:
    """Refuse command-line overrides that no selected chapter declares."""
    declared = set().union(*(c.declared for c in chapters))
    unused = sorted(set(overrides) - declared)
    if unused:
        raise ParameterError(f"--param: no selected notebook accepts {unused}")


# ------------------------------------------------------------------------------------------------------- grids
def _ablations(params: dict) -> list[dict]:
    return [d for _, _, d in grids.ablation_param_sets(params)]


def _ef_vs_beta(params: dict) -> list[dict]:
    """Chapter 4: its grid, then the slow-ReLU control networks (``slow_relu_lrs``; the uncapped trajectory runs are
    cached per epoch by the chapter itself, not as grid points)."""
    return [params] + training_length.slow_relu_param_sets(params)


# Chapters whose grid is not simply points_from_params(params): stem -> params -> list of param dicts. A chapter not
# listed here is recognised by its parameters (pools -> Theorem 1 grids, depths + skip_bn -> ablation grids).
PARAM_SETS: dict[str, Callable[[dict], list[dict]]] = {"03_theorem1": grids.theorem1_param_sets,
                                                       "04_ef_vs_beta": _ef_vs_beta,
                                                       "05_explanation_gap": grids.gap_param_sets,
                                                       "06_ablations": _ablations,
                                                       "09_spatial_correlation": grids.spatial_param_sets,
                                                       "10_width_and_size": grids.width_size_param_sets,
                                                       "11_smooth_alternatives": grids.smooth_alternatives_param_sets,
                                                       "12_spectral_penalty": grids.spectral_penalty_param_sets,
                                                       "07_cifar10": natural_images.cifar10_param_sets,
                                                       "08_table_a": natural_images.table_a_param_sets}


def _extra_grids(params: dict) -> list[str]:
    """Names of a chapter's extra activation grids: list parameters ``*_activations`` (e.g. the EF chapter's
    ``centred_activations``), each run like ``activations``."""
    return [k for k, v in params.items() if k.endswith("_activations") and isinstance(v, (list, tuple)) and v]


def param_sets(stem: str | None, params: dict) -> list[dict]:
    """The parameter dicts chapter ``stem`` passes to ``points_from_params`` (``[params]`` for most chapters), plus
    one per extra grid (``{**params, "activations": params["centred_activations"]}``)."""
    fn = PARAM_SETS.get(stem or "")
    if fn is None and {"pools", "theorem1_images"} <= set(params):
        fn = grids.theorem1_param_sets
    elif fn is None and {"depths", "skip_bn", "image_sizes"} <= set(params):
        fn = _ablations
    fn = fn or (lambda p: [p])
    return [d for p in [params] + [{**params, "activations": params[k]} for k in _extra_grids(params)] for d in fn(p)]


def _check_lr_map(params: dict) -> None:
    """``lr_by_activation`` keys must be activations of the chapter's grids (a typo would silently be ignored)."""
    by_act = params.get("lr_by_activation") or {}
    acts = [a for k in ["activations", *_extra_grids(params)] for a in params.get(k) or []]
    unknown = sorted(set(by_act) - set(acts)) if isinstance(by_act, dict) and "activations" in params else []
    if unknown:
        raise ParameterError(f"parameter 'lr_by_activation' = {by_act!r} is invalid: {unknown} not among the "
                             f"chapter's activations {acts}")


def _prefix(stem: str | None) -> str:
    return f"{stem}: " if stem else ""


def chapter_points(stem: str | None, params: dict) -> list[tuple[Any, Any]]:
    """Every ``(TrainConfig, EvalSpec)`` of a grid chapter (one with ``activations``), in order; [] otherwise.
    Raises ParameterError naming the chapter."""
    if "activations" not in params:
        return []
    points = []
    try:
        for ps in param_sets(stem, params):
            points += points_from_params(ps)
    except (ValueError, TypeError, KeyError) as e:
        raise ParameterError(f"{_prefix(stem)}invalid grid parameters: {e}") from None
    return points


# Chapters that also run uncapped training trajectories (not grid points: their records are under
# cache_dir/trajectories): stem -> params -> [(uncapped TrainConfig, TrajectorySpec)]. The sweep runs each as a job.
TRAJECTORY_RUNS: dict[str, Callable[[dict], list]] = {"04_ef_vs_beta": training_length.trajectory_runs}


def chapter_trajectories(stem: str | None, params: dict) -> list[tuple[Any, Any]]:
    """Every ``(uncapped TrainConfig, TrajectorySpec)`` chapter ``stem`` runs besides its grid points (chapter 4's
    training-length trajectories), in order; [] for the other chapters. Raises ParameterError naming the chapter."""
    fn = TRAJECTORY_RUNS.get(stem or "")
    if fn is None or "activations" not in params:
        return []
    try:
        return fn(params)
    except (ValueError, TypeError, KeyError) as e:
        raise ParameterError(f"{_prefix(stem)}invalid trajectory parameters: {e}") from None


def validate_chapter(stem: str | None, params: dict, *, devices: bool = True,
                     cache_dir: str | Path | None = None) -> list[tuple[Any, Any]]:
    """The checks that need the library, for every grid point of a chapter; returns its points.

    Offsets within the test split; every distinct network built on the ``meta`` device for its dataset's shape; with
    ``devices``, ``device: cuda`` refused where CUDA is not available, unless every point is already cached under
    ``cache_dir`` (default: the chapter's ``cache_dir`` parameter, else the library default), so that nothing will
    be trained. Raises ParameterError naming the chapter, the parameter and the value; takes milliseconds."""
    try:
        check_offsets(params)
        _check_lr_map(params)
        points = chapter_points(stem, params)
        check_networks([config for config, _ in points])
        if devices:
            wanted = {params.get("device")} | {config.device for config, _ in points}
            if "cuda" in wanted and not (points and _all_cached(points, cache_dir or params.get("cache_dir"))):
                check_device("cuda")
    except ParameterError as e:
        msg = str(e)
        raise ParameterError(msg if stem and msg.startswith(f"{stem}: ") else f"{_prefix(stem)}{msg}") from None
    return points


def _all_cached(points: list[tuple[Any, Any]], cache_dir: str | Path | None) -> bool:
    root = Path(cache_dir).expanduser() if cache_dir else None
    return all(point_path(c, s, root).exists() for c, s in points)


def prepare(profile: str | os.PathLike, stems: Iterable[str], overrides: Mapping[str, Any] | None = None, *,
            notebooks_dir: str | Path = NOTEBOOKS_DIR, profiles_dir: str | Path = PROFILES_DIR,
            devices: bool = True) -> tuple[str, dict, dict[str, Chapter]]:
    """Load ``profile`` and validate every chapter of ``stems`` (with ``overrides``) before any work: the book
    command's one call. Returns ``(profile name, profile mapping, stem -> Chapter)``; raises ConfigError."""
    name, prof = load_profile(profile, profiles_dir)
    stems = list(stems)
    check_defaults(prof, notebooks_dir, stems)
    chapters = {s: chapter_parameters(s, prof, overrides, notebooks_dir) for s in stems}
    check_overrides(overrides or {}, chapters.values())
    for stem, ch in chapters.items():
        validate_chapter(stem, ch.params, devices=devices)
    return name, prof, chapters
