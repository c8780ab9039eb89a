"""Run a profile's grid points as jobs: in this process, as local subprocesses, or on a SLURM cluster (submitit).

The points are exactly the ones the notebooks compute, so the book later finds them in the cache: for every notebook
entry of the profile whose parameters have ``activations`` (the grid notebooks), the notebook's own parameters cell
(``notebooks/<stem>.py``) + the profile ``defaults`` it declares + its profile entry are merged (the same rule as
``scripts/build_book.py``), expanded with :func:`param_sets` and passed to
:func:`spectral_lib.experiments.points_from_params`. Points shared by several notebooks run once.

One job per point calls :func:`spectral_lib.experiments.run_point` and returns a small summary. Idempotent: a point
whose record is already in ``cache_dir/evals`` is skipped, and so is one whose job is still queued or running; failed,
pre-empted or never-submitted points are (re)submitted, and training resumes from the per-epoch checkpoints of
:func:`spectral_lib.train.train_or_load`. Submitted job ids and the outcome of every point are kept in
``cache_dir/sweeps/<profile>.json`` (written atomically); job logs go to ``cache_dir/sweeps/<profile>-jobs/``.
``cache_dir``: ``--cache-dir``, else the notebooks' ``cache_dir`` parameter if the profile sets one, else
``$SPECTRAL_LIB_CACHE`` or ``~/.cache/spectral_lib`` (:func:`spectral_lib.paths.default_cache_dir`).

Executors: ``local`` (default: sequential, in this process), ``submitit-local`` (submitit's LocalExecutor: one
subprocess per point, ``parallel`` at a time, waited for) and ``slurm`` (submitit's SlurmExecutor: one job array).
Profile section (optional)::

    sweep:
      executor: slurm                 # local | submitit-local | slurm
      device: cuda                    # what device "auto" means inside the jobs (default: cuda if the slurm
                                      # section asks for GPUs, cpu for slurm without GPUs, this machine otherwise)
      slurm: {partition: gpu, gpus_per_node: 1, cpus_per_task: 8, timeout_min: 240, mem_gb: 32,
              array_parallelism: 64, additional_parameters: {account: myproject}}
      submitit-local: {parallel: 2, timeout_min: 1440}

Command line::

    python -m spectral_lib.sweep --profile quick|paper|tiny|path.yaml [--executor local|submitit-local|slurm]
        [--status] [--dry-run] [--cache-dir DIR] [--only NOTEBOOK ...] [--wait] [--force]
"""
from __future__ import annotations

import argparse
import ast
import datetime as dt
import json
import math
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from . import cache
from .experiments import (EvalSpec, ablation_param_sets, point_key, point_path, points_from_params, run_point,
                          theorem1_param_sets)
from .params import ParameterError, check_params
from .train import TrainConfig, resolve_device

__all__ = ["SweepError", "Point", "EXECUTORS", "load_profile", "sweep_settings", "notebook_parameters", "param_sets",
           "grid_parameters", "grid_points", "run_job", "PointJob", "plan", "submit", "status", "format_table", "main"]

ROOT = Path(__file__).resolve().parent.parent
PROFILES_DIR = ROOT / "profiles"
NOTEBOOKS_DIR = ROOT / "notebooks"
EXECUTORS = ("local", "submitit-local", "slurm")
STATUSES = ("done", "running", "failed", "missing")
SWEEP_KEYS = ("executor", "device", "slurm", "submitit-local")
# slurm keys with a meaning of their own here; any other key must be a parameter of submitit's SlurmExecutor
SLURM_RENAMES = {"timeout_min": "time", "mem_gb": "mem"}
LOCAL_KEYS = {"parallel": 1, "timeout_min": 24 * 60}
_SLURM_ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
                 "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "UNKNOWN", "READY"}
_ABBREV = {"vanilla_grad": "VG", "smooth_grad": "SG", "integrated_gradients": "IG", "grad_cam": "GC",
           "guided_backprop": "GBP", "guided_grad_cam": "GGC", "deeplift": "DL"}


_ORDER = {m: i for i, m in enumerate(_ABBREV)}


class SweepError(ValueError):
    """Bad input (profile, executor, parameters, cluster settings): reported as one line, before any job runs."""


@dataclass
class Point:
    """One grid point: the config the notebooks build (``config``, passed to the job as is), the config its cache key
    is computed for (``device="auto"`` resolved to the jobs' device), the spec, and the notebooks that use it."""

    config: TrainConfig
    spec: EvalSpec
    key_config: TrainConfig
    key: str  # file stem of the record under cache_dir/evals
    notebooks: list[str] = field(default_factory=list)

    def path(self, cache_dir: str | Path) -> Path:
        return point_path(self.key_config, self.spec, cache_dir)


# --------------------------------------------------------------------------------------------------- profile
def load_profile(name: str | os.PathLike, profiles_dir: str | Path = PROFILES_DIR) -> tuple[str, dict]:
    """(name, mapping) of a profile: a name in ``profiles/`` or a path to a YAML file with keys ``defaults``,
    ``notebooks`` and optionally ``sweep`` (the rules of ``scripts/build_book.py``'s loader)."""
    import yaml

    name = str(name)
    path = Path(name)
    if not (name.endswith((".yaml", ".yml")) and path.is_file()):
        path = Path(profiles_dir) / f"{name}.yaml"
    if not path.is_file():
        avail = sorted(p.stem for p in Path(profiles_dir).glob("*.yaml"))
        raise SweepError(f"unknown profile {name!r} (neither a YAML file nor one of: {', '.join(avail) or 'none'})")
    try:
        prof = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SweepError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(prof, dict) or not set(prof) <= {"defaults", "notebooks", "sweep"}:
        raise SweepError(f"{path}: a profile is a mapping with keys 'defaults', 'notebooks' and optionally 'sweep'")
    prof["defaults"] = prof.get("defaults") or {}
    prof["notebooks"] = prof.get("notebooks") or {}
    if not isinstance(prof["defaults"], dict) or not isinstance(prof["notebooks"], dict):
        raise SweepError(f"{path}: 'defaults' and 'notebooks' must be mappings")
    for stem, entry in prof["notebooks"].items():
        if entry is not None and not isinstance(entry, dict):
            raise SweepError(f"{path}: notebooks.{stem} must be a mapping of parameters, got {entry!r}")
    return path.stem, prof


def _slurm_parameter_names() -> set[str]:
    from submitit.slurm import slurm

    return set(slurm._get_default_parameters())


def _mem(gb: float) -> str:
    return f"{int(gb)}GB" if gb == int(gb) else f"{int(gb * 1024)}MB"


def sweep_settings(prof: dict, executor: str | None = None) -> dict:
    """The profile's ``sweep`` section, validated and completed: executor (``executor`` overrides the profile's),
    device (or None), slurm (SlurmExecutor parameters), submitit-local (parallel, timeout_min)."""
    sec = prof.get("sweep") or {}
    if not isinstance(sec, dict):
        raise SweepError(f"the profile's 'sweep' section must be a mapping, got {sec!r}")
    unknown = sorted(set(sec) - set(SWEEP_KEYS))
    if unknown:
        raise SweepError(f"sweep: unknown key(s) {unknown}; known: {list(SWEEP_KEYS)}")
    for where, ex in (("sweep.executor", sec.get("executor", "local")), ("--executor", executor)):
        if ex is not None and ex not in EXECUTORS:
            raise SweepError(f"{where}: unknown executor {ex!r}; choose one of {list(EXECUTORS)}")
    ex = executor if executor is not None else sec.get("executor", "local")
    device = sec.get("device")
    if device not in (None, "cpu", "cuda"):
        raise SweepError(f"sweep.device must be 'cpu' or 'cuda', got {device!r}")

    slurm = sec.get("slurm") or {}
    if not isinstance(slurm, dict):
        raise SweepError(f"sweep.slurm must be a mapping, got {slurm!r}")
    for k in ("gpus_per_node",):
        if k in slurm and (isinstance(slurm[k], bool) or not isinstance(slurm[k], int) or slurm[k] < 0):
            raise SweepError(f"sweep.slurm.{k} must be an integer >= 0, got {slurm[k]!r}")
    for k in ("cpus_per_task", "timeout_min", "array_parallelism"):
        if k in slurm and (isinstance(slurm[k], bool) or not isinstance(slurm[k], int) or slurm[k] < 1):
            raise SweepError(f"sweep.slurm.{k} must be an integer >= 1, got {slurm[k]!r}")
    if "mem_gb" in slurm:
        v = slurm["mem_gb"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise SweepError(f"sweep.slurm.mem_gb must be a positive number, got {v!r}")
    if "additional_parameters" in slurm and not isinstance(slurm["additional_parameters"], dict):
        raise SweepError("sweep.slurm.additional_parameters must be a mapping of extra #SBATCH options")
    if "partition" in slurm and not (isinstance(slurm["partition"], str) and slurm["partition"]):
        raise SweepError(f"sweep.slurm.partition must be a non-empty string, got {slurm['partition']!r}")

    local = sec.get("submitit-local") or {}
    if not isinstance(local, dict):
        raise SweepError(f"sweep.submitit-local must be a mapping, got {local!r}")
    bad = sorted(set(local) - set(LOCAL_KEYS))
    if bad:
        raise SweepError(f"sweep.submitit-local: unknown key(s) {bad}; known: {sorted(LOCAL_KEYS)}")
    local = {**LOCAL_KEYS, **local}
    for k, v in local.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise SweepError(f"sweep.submitit-local.{k} must be an integer >= 1, got {v!r}")
    return {"executor": ex, "device": device, "slurm": dict(slurm), "submitit-local": local}


def slurm_parameters(slurm: dict, profile: str) -> dict:
    """SlurmExecutor.update_parameters keywords from the profile's ``sweep.slurm`` (validated against submitit)."""
    try:
        valid = _slurm_parameter_names()
    except ImportError:
        raise SweepError("the slurm executor needs submitit: pip install 'submitit>=1.5'") from None
    out = {"job_name": f"spectral-{profile}"}
    for k, v in slurm.items():
        k2 = SLURM_RENAMES.get(k, k)
        if k2 not in valid:
            raise SweepError(f"sweep.slurm.{k}: not a submitit SlurmExecutor parameter; known: "
                             f"{sorted(valid | set(SLURM_RENAMES))} (anything else goes in additional_parameters)")
        out[k2] = _mem(v) if k == "mem_gb" else v
    return out


# ------------------------------------------------------------------------------------------- notebook params
_CELL = re.compile(r"^# %%")
_PARAM_CELL = re.compile(r"""^# %%.*\btags\s*=\s*\[[^\]]*["']parameters["']""")


def notebook_defaults(stem: str, notebooks_dir: str | Path = NOTEBOOKS_DIR) -> tuple[dict, set[str]] | None:
    """(literal values, declared names) of the ``parameters``-tagged cell of ``notebooks/<stem>.py`` (jupytext
    percent format); None if there is no such file. A name assigned a non-literal expression is declared but has no
    value."""
    src = Path(notebooks_dir) / f"{stem}.py"
    if not src.is_file():
        return None
    lines = src.read_text().splitlines()
    start = next((i for i, line in enumerate(lines) if _PARAM_CELL.match(line)), None)
    if start is None:
        raise SweepError(f"{stem}: {src} has no cell tagged 'parameters'")
    end = next((j for j in range(start + 1, len(lines)) if _CELL.match(lines[j])), len(lines))
    try:
        tree = ast.parse("\n".join(lines[start + 1 : end]))
    except SyntaxError as e:
        raise SweepError(f"{stem}: cannot parse its parameters cell: {e}") from None
    values, declared = {}, set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Name):
                declared.add(t.id)
                try:
                    values[t.id] = ast.literal_eval(node.value) if node.value is not None else None
                except ValueError:
                    values.pop(t.id, None)
    return values, declared


def notebook_parameters(stem: str, prof: dict, notebooks_dir: str | Path = NOTEBOOKS_DIR) -> dict:
    """The parameters notebook ``stem`` runs with under ``prof``: its parameters cell, overridden by the profile
    ``defaults`` it declares, overridden by its profile entry (a name it does not declare is an error). Without a
    notebook source, ``defaults`` + entry. Validated with :func:`spectral_lib.params.check_params`."""
    own = prof["notebooks"].get(stem) or {}
    parsed = notebook_defaults(stem, notebooks_dir)
    if parsed is None:
        warnings.warn(f"{stem}: no notebooks/{stem}.py here; using the profile's defaults + entry only", stacklevel=2)
        params = {**prof["defaults"], **own}
    else:
        values, declared = parsed
        unknown = sorted(set(own) - declared)
        if unknown:
            raise SweepError(f"{stem}: unknown parameter(s) {unknown} in the profile; it accepts {sorted(declared)}")
        params = {**values, **{k: v for k, v in prof["defaults"].items() if k in declared}, **own}
        unresolved = sorted((declared - set(params)) & {"activations", "seeds", "methods", "model_options", "dataset",
                                                        "model", "pools", "theorem1_images"})
        if unresolved:
            raise SweepError(f"{stem}: parameter(s) {unresolved} are not literals in its parameters cell; "
                             "set them in the profile")
    try:
        return check_params(params)
    except ParameterError as e:
        raise SweepError(f"{stem}: {e}") from None


# Notebooks whose grid is not simply points_from_params(params): stem -> (params -> list of param dicts). The
# notebooks call the same library functions, so the sweep and the book cannot drift apart.
PARAM_SETS = {"03_theorem1": theorem1_param_sets, "06_ablations": lambda p: [d for _, _, d in ablation_param_sets(p)]}


def param_sets(stem: str, params: dict) -> list[dict]:
    """The parameter dicts notebook ``stem`` passes to ``points_from_params`` (``[params]`` for most notebooks)."""
    fn = PARAM_SETS.get(stem)
    return fn(params) if fn is not None else [params]


def _keyed(config: TrainConfig, device: str) -> TrainConfig:
    return replace(config, device=device) if config.device == "auto" else config


def grid_parameters(prof: dict, only: Iterable[str] | None = None,
                    notebooks_dir: str | Path = NOTEBOOKS_DIR) -> dict[str, dict]:
    """notebook stem -> validated parameters, for the profile's grid notebooks (those with ``activations``), in
    profile order; ``only`` selects some of them."""
    params = {s: notebook_parameters(s, prof, notebooks_dir) for s in prof["notebooks"]}
    grid = [s for s in params if "activations" in params[s]]
    if only:
        bad = [s for s in only if s not in grid]
        if bad:
            raise SweepError(f"--only: {bad} not grid notebooks of this profile; its grid notebooks: {grid or 'none'}")
        grid = [s for s in grid if s in set(only)]
    return {s: params[s] for s in grid}


def grid_points(prof: dict, only: Iterable[str] | None = None, device: str | None = None,
                notebooks_dir: str | Path = NOTEBOOKS_DIR, params: dict[str, dict] | None = None) -> list[Point]:
    """The profile's grid points, deduplicated by (TrainConfig.key(), EvalSpec), in notebook order.

    ``device``: what ``device="auto"`` resolves to where the jobs run (None: this machine); ``params``: the result of
    :func:`grid_parameters` if already computed. Raises SweepError on any invalid parameter, before anything runs."""
    device = device or resolve_device("auto").type
    params = params if params is not None else grid_parameters(prof, only, notebooks_dir)
    grid = list(params)
    points: dict[tuple, Point] = {}
    for stem in grid:
        for ps in param_sets(stem, params[stem]):
            try:
                pts = points_from_params(ps)
            except (ValueError, TypeError, KeyError) as e:
                raise SweepError(f"{stem}: invalid grid parameters: {e}") from None
            for config, spec in pts:
                kc = _keyed(config, device)
                ident = (kc.key(), spec)
                if ident not in points:
                    points[ident] = Point(config, spec, kc, cache.config_key(point_key(kc, spec)))
                if stem not in points[ident].notebooks:
                    points[ident].notebooks.append(stem)
    return list(points.values())


# --------------------------------------------------------------------------------------------------- the job
def summarize(rec: dict, key: str) -> dict:
    """The small summary of a point's record that jobs return and the status table shows."""
    return {"key": key, "activation": rec["activation"], "seed": rec["seed"],
            "test_accuracy": float(rec["train"]["test_accuracy"]), "cap_reached": bool(rec["train"]["cap_reached"]),
            "epochs": float(rec["train"]["epochs"]), "ef": {m: float(v.double().mean()) for m, v in rec["ef"].items()}}


def run_job(config: TrainConfig, spec: EvalSpec, cache_dir: str) -> dict:
    """One sweep job: :func:`run_point` (train or resume, evaluate, cache) and return its :func:`summarize`."""
    if "OMP_NUM_THREADS" not in os.environ and os.environ.get("SLURM_CPUS_PER_TASK", "").isdigit():
        import torch

        torch.set_num_threads(int(os.environ["SLURM_CPUS_PER_TASK"]))
    t0 = time.perf_counter()
    rec = run_point(config, spec, cache_dir, progress=False)
    out = summarize(rec, cache.config_key(point_key(config, spec)))
    out["seconds"] = round(time.perf_counter() - t0, 2)
    return out


class PointJob:
    """The callable submitted to submitit. Checkpointable: on a SLURM time-out or pre-emption signal submitit
    requeues it, and training resumes from the last per-epoch checkpoint."""

    def __call__(self, config: TrainConfig, spec: EvalSpec, cache_dir: str) -> dict:
        return run_job(config, spec, cache_dir)

    def checkpoint(self, *args: Any, **kwargs: Any):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


# ------------------------------------------------------------------------------------------------ state file
def state_path(cache_dir: str | Path, profile: str) -> Path:
    return Path(cache_dir) / "sweeps" / f"{profile}.json"


def jobs_folder(cache_dir: str | Path, profile: str) -> Path:
    return Path(cache_dir) / "sweeps" / f"{profile}-jobs"


def load_state(path: Path) -> dict:
    if not path.is_file():
        return {"version": 1, "points": {}}
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict) or not isinstance(state.get("points"), dict):
            raise ValueError("not a sweep state")
        return state
    except ValueError as e:
        warnings.warn(f"{path}: unreadable sweep state ({e}); starting a new one", stacklevel=2)
        return {"version": 1, "points": {}}


def save_state(path: Path, state: dict) -> None:
    """Write the state JSON atomically (temporary file in the same folder, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state["updated"] = _now()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(state, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip() and not set(ln.strip()) <= {"-"}]
    return lines[-1] if lines else str(text)


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    try:  # guard against pid reuse (Linux)
        return b"submitit" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def _job_outcome(entry: dict) -> tuple[str, Any]:
    """(status, detail) of a submitted job from its result file, process or SLURM state: ("finished", summary),
    ("failed", message) or ("running", message)."""
    from submitit.core import utils

    jid, folder, kind = entry["job_id"], entry["job_folder"], entry["executor"]
    paths = utils.JobPaths(folder, job_id=jid, task_id=0)
    if paths.result_pickle.exists():
        try:
            outcome, value = utils.pickle_load(paths.result_pickle)
        except Exception as e:  # noqa: BLE001 - a damaged result file is a failed job
            return "failed", f"job {jid}: unreadable result ({type(e).__name__}: {e})"
        if outcome == "success":
            return "finished", value
        return "failed", f"job {jid}: {_last_line(value)[:240]} (log: {paths.stderr})"
    if kind == "submitit-local":
        if _pid_alive(jid):
            return "running", f"pid {jid}"
        return "failed", f"job {jid}: process ended without a result (killed?) (log: {paths.stderr})"
    import submitit

    try:
        state = submitit.SlurmJob(folder=folder, job_id=jid).state.split()[0].upper()
    except Exception as e:  # noqa: BLE001 - sacct missing or failing
        return "running", f"job {jid}: state unknown ({type(e).__name__})"
    if state in _SLURM_ACTIVE:
        return "running", f"job {jid} {state}"
    return "failed", f"job {jid} {state} without a result (log: {paths.stderr})"


def refresh(points: list[Point], state: dict, cache_dir: Path) -> dict[str, tuple[str, str]]:
    """Current status of every point (key -> (status, detail)), updating ``state['points']`` in place.

    done: its record is in the cache; running: a submitted job is queued or running; failed: the last attempt failed
    (or its job ended without writing the record); missing: never run."""
    out = {}
    slurm_ids = [e["job_id"] for p in points if (e := state["points"].get(p.key))
                 and e.get("status") == "submitted" and e.get("executor") == "slurm"]
    if slurm_ids:  # one sacct call for all of them, not one per job
        try:
            import submitit

            for jid in slurm_ids:
                submitit.SlurmJob.watcher.register_job(jid)
        except Exception:  # noqa: BLE001 - the per-job query below reports it
            pass
    for p in points:
        e = state["points"].get(p.key)
        if p.path(cache_dir).exists():
            if e is None or e.get("status") != "done" or "summary" not in e:
                e = state["points"].setdefault(p.key, {})
                e.update(status="done", summary=_summary_from_cache(p, cache_dir), time=e.get("time") or _now())
            out[p.key] = ("done", e.get("job_id", "") and f"job {e['job_id']}")
            continue
        if e is None:
            out[p.key] = ("missing", "")
            continue
        if e.get("status") == "submitted":
            status, detail = _job_outcome(e)
            if status == "finished":
                got = detail.get("key") if isinstance(detail, dict) else None
                status, detail = "failed", (f"job {e['job_id']} finished but its record {got} is not the expected "
                                            f"{p.key} (device or cache_dir mismatch? see sweep.device)")
            if status == "failed":
                e.update(status="failed", error=detail, time=_now())
            out[p.key] = (status, detail)
        elif e.get("status") == "failed":
            out[p.key] = ("failed", e.get("error", ""))
        else:  # recorded as done but the record is gone (cache cleaned)
            out[p.key] = ("missing", "record no longer in the cache")
    return out


def _summary_from_cache(p: Point, cache_dir: Path) -> dict | None:
    try:
        return summarize(cache.load(p.path(cache_dir)), p.key)
    except Exception:  # noqa: BLE001 - a corrupt record shows as done without numbers; run_point recomputes it
        return None


# -------------------------------------------------------------------------------------------------- running
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


def plan(profile: str | os.PathLike, executor: str | None = None, cache_dir: str | Path | None = None,
         only: Iterable[str] | None = None, notebooks_dir: str | Path = NOTEBOOKS_DIR,
         profiles_dir: str | Path = PROFILES_DIR) -> Plan:
    """Load and validate the profile, its sweep section and its grid (SweepError on any problem)."""
    from .paths import default_cache_dir

    name, prof = load_profile(profile, profiles_dir)
    settings = sweep_settings(prof, executor)
    params = grid_parameters(prof, only, notebooks_dir)
    if cache_dir is not None:
        root = Path(cache_dir).expanduser().absolute()  # jobs may start elsewhere
    else:  # where the notebooks will look: their cache_dir parameter, else the library default
        dirs = {str(Path(p["cache_dir"]).expanduser()) for p in params.values() if p.get("cache_dir")}
        if len(dirs) > 1:
            raise SweepError(f"the grid notebooks use different cache_dir values {sorted(dirs)}: pass --cache-dir "
                             "(or sweep them separately with --only)")
        root = Path(dirs.pop()) if dirs else default_cache_dir()
        if any(not p.get("cache_dir") for p in params.values()) and root != default_cache_dir():
            warnings.warn(f"some grid notebooks set cache_dir {root} and some do not; sweeping into {root}",
                          stacklevel=2)
    sfile = state_path(root, name)
    state = load_state(sfile)
    ex = settings["executor"]
    here = resolve_device("auto").type
    if settings["device"]:
        device = settings["device"]
    elif executor is None and state.get("device"):
        device = state["device"]  # status/resubmission: the device of the last submission
    elif ex == "slurm":
        device = "cuda" if settings["slurm"].get("gpus_per_node", 0) > 0 else "cpu"
    else:
        device = here
    points = grid_points(prof, only, device, notebooks_dir, params)
    if ex != "slurm" and device != here and any(p.config.device == "auto" for p in points):
        raise SweepError(f"this sweep's records are keyed for device {device!r} but {ex} jobs run 'auto' on {here!r} "
                         f"here; set sweep.device (or `device:` in the profile defaults)")
    return Plan(name, settings, root, device, points, sfile, state)


def _record(pl: Plan, p: Point, **entry) -> None:
    pl.state["points"][p.key] = {"notebooks": p.notebooks, "activation": p.config.activation,
                                 "seed": p.config.seed, "time": _now(), **entry}
    save_state(pl.state_file, pl.state)


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _run_local(pl: Plan, todo: list[Point]) -> None:
    for i, p in enumerate(todo, 1):
        _log(f"[{i}/{len(todo)}] {p.config.model} {p.config.activation} seed {p.config.seed} ({p.key}) ...")
        try:
            summary = run_job(p.config, p.spec, str(pl.cache_dir))
        except Exception as e:  # noqa: BLE001 - recorded; the sweep goes on with the next point
            _record(pl, p, status="failed", executor="local", error=f"{type(e).__name__}: {e}")
            _log(f"    failed: {type(e).__name__}: {e}")
            continue
        _record(pl, p, status="done", executor="local", summary=summary)
        _log(f"    done in {summary['seconds']:.1f} s")


def _wait(pl: Plan, jobs: dict[str, tuple[Point, Any]], submit_more=None, max_poll_s: float = 0.5) -> None:
    """Poll submitted jobs until all are finished, recording done/failed (``submit_more`` tops up the queue).
    Polls every 0.5 s at first, then less and less often, up to every ``max_poll_s``."""
    poll_s = 0.5
    while jobs:
        time.sleep(poll_s)
        poll_s = min(max_poll_s, poll_s * 1.5)
        for jid, (p, job) in list(jobs.items()):
            if not job.done():
                continue
            del jobs[jid]
            entry = pl.state["points"][p.key]
            status, detail = _job_outcome(entry)
            if status == "finished" and p.path(pl.cache_dir).exists():
                _record(pl, p, status="done", executor=entry["executor"], job_id=jid,
                        job_folder=entry["job_folder"], summary=detail)
                _log(f"job {jid} ({p.config.activation} seed {p.config.seed}): done in {detail['seconds']:.1f} s")
            else:
                if status == "finished":
                    detail = f"job {jid} finished but record {p.key} is missing (device or cache_dir mismatch?)"
                elif status == "running":
                    detail = f"job {jid} ended without a result"
                _record(pl, p, status="failed", executor=entry["executor"], job_id=jid,
                        job_folder=entry["job_folder"], error=detail)
                _log(f"job {jid} ({p.config.activation} seed {p.config.seed}): failed: {detail}")
        if submit_more is not None:
            submit_more()


def _run_submitit_local(pl: Plan, todo: list[Point]) -> None:
    import submitit

    folder = jobs_folder(pl.cache_dir, pl.profile)  # files named <job id>_*
    ex = submitit.LocalExecutor(folder=folder)
    ex.update_parameters(timeout_min=pl.settings["submitit-local"]["timeout_min"])
    queue, running = list(todo), {}

    def submit_more():
        while queue and len(running) < pl.settings["submitit-local"]["parallel"]:
            p = queue.pop(0)
            job = ex.submit(PointJob(), p.config, p.spec, str(pl.cache_dir))
            _record(pl, p, status="submitted", executor="submitit-local", job_id=str(job.job_id),
                    job_folder=str(folder))
            _log(f"submitted {p.config.activation} seed {p.config.seed} ({p.key}) as local job {job.job_id}")
            running[str(job.job_id)] = (p, job)

    submit_more()
    try:
        _wait(pl, running, submit_more)
    except KeyboardInterrupt:
        _log(f"interrupted: {len(running)} local job(s) keep running; see --status")
        raise


def _slurm_executor(pl: Plan):
    import submitit

    params = slurm_parameters(pl.settings["slurm"], pl.profile)
    folder = jobs_folder(pl.cache_dir, pl.profile) / "%j"
    try:
        ex = submitit.SlurmExecutor(folder=folder)
    except RuntimeError as e:
        raise SweepError(f"slurm executor: {e}") from None
    try:
        ex.update_parameters(**params)
    except (ValueError, TypeError) as e:
        raise SweepError(f"sweep.slurm: {e}") from None
    return ex, folder


def sbatch_preview(pl: Plan, n_jobs: int) -> str:
    """The #SBATCH header submitit would write for an array of ``n_jobs`` (no cluster needed)."""
    from submitit.slurm import slurm

    params = slurm_parameters(pl.settings["slurm"], pl.profile)
    try:
        text = slurm._make_sbatch_string(command="<python -m submitit.core._submit ...>",
                                         folder=jobs_folder(pl.cache_dir, pl.profile) / "%j",
                                         map_count=n_jobs if n_jobs > 1 else None, **params)
    except (ValueError, TypeError) as e:
        raise SweepError(f"sweep.slurm: {e}") from None
    return "\n".join(ln for ln in text.splitlines() if ln.startswith("#SBATCH"))


def _run_slurm(pl: Plan, todo: list[Point], wait: bool, ex_folder=None) -> None:
    ex, folder = ex_folder
    with ex.batch():
        jobs = [(p, ex.submit(PointJob(), p.config, p.spec, str(pl.cache_dir))) for p in todo]
    for p, job in jobs:
        pl.state["points"][p.key] = {"notebooks": p.notebooks, "activation": p.config.activation,
                                     "seed": p.config.seed, "time": _now(), "status": "submitted",
                                     "executor": "slurm", "job_id": str(job.job_id), "job_folder": str(folder)}
    save_state(pl.state_file, pl.state)
    ids = sorted({str(j.job_id).split("_")[0] for _, j in jobs})
    _log(f"submitted {len(jobs)} job(s) to SLURM (job id {', '.join(ids)}); logs under {folder.parent}")
    if wait:
        _wait(pl, {str(j.job_id): (p, j) for p, j in jobs}, max_poll_s=30.0)


def submit(profile: str | os.PathLike, executor: str | None = None, cache_dir: str | Path | None = None,
           only: Iterable[str] | None = None, dry_run: bool = False, wait: bool = False, force: bool = False,
           notebooks_dir: str | Path = NOTEBOOKS_DIR, profiles_dir: str | Path = PROFILES_DIR) -> list[dict]:
    """Run (or, with ``dry_run``, list) the profile's points that are not done and not running; returns the status
    rows after the run (see :func:`status`). ``force``: also resubmit points whose job looks queued/running."""
    pl = plan(profile, executor, cache_dir, only, notebooks_dir, profiles_dir)
    statuses = refresh(pl.points, pl.state, pl.cache_dir)
    skip = ("done",) if force else ("done", "running")
    todo = [p for p in pl.points if statuses[p.key][0] not in skip]
    ex = pl.settings["executor"]
    if dry_run:
        rows = _rows(pl, statuses)
        for r in rows:
            r["action"] = "submit" if r["status"] not in skip else "skip"
        if ex == "slurm" and todo:
            _log(sbatch_preview(pl, len(todo)))
        return rows
    if todo and ex != "local":
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise SweepError(f"the {ex} executor needs submitit: pip install 'submitit>=1.5'") from None
    ex_folder = _slurm_executor(pl) if ex == "slurm" and todo else None  # fails here, before submitting, on bad input
    pl.state.update(profile=pl.profile, cache_dir=str(pl.cache_dir), device=pl.device)
    if not todo:
        _log(f"nothing to do: {sum(s == 'done' for s, _ in statuses.values())} done, "
             f"{sum(s == 'running' for s, _ in statuses.values())} running")
    elif ex == "local":
        _run_local(pl, todo)
    elif ex == "submitit-local":
        _run_submitit_local(pl, todo)
    else:
        _run_slurm(pl, todo, wait, ex_folder)
    save_state(pl.state_file, pl.state)
    return _rows(pl, refresh(pl.points, pl.state, pl.cache_dir))


def status(profile: str | os.PathLike, executor: str | None = None, cache_dir: str | Path | None = None,
           only: Iterable[str] | None = None, notebooks_dir: str | Path = NOTEBOOKS_DIR,
           profiles_dir: str | Path = PROFILES_DIR) -> list[dict]:
    """One row per point: key, notebooks, model, activation, seed, status (done/running/failed/missing), detail,
    and for done points the summary (test_accuracy, cap_reached, ef: method -> mean EF)."""
    pl = plan(profile, executor, cache_dir, only, notebooks_dir, profiles_dir)
    statuses = refresh(pl.points, pl.state, pl.cache_dir)
    if pl.state_file.exists() or any(s != "missing" for s, _ in statuses.values()):
        try:
            save_state(pl.state_file, pl.state)
        except OSError:
            pass
    return _rows(pl, statuses)


def _rows(pl: Plan, statuses: dict) -> list[dict]:
    rows = []
    for p in pl.points:
        st, detail = statuses[p.key]
        e = pl.state["points"].get(p.key, {})
        rows.append({"key": p.key, "notebooks": list(p.notebooks), "model": p.config.model,
                     "activation": p.config.activation, "seed": p.config.seed, "status": st,
                     "setting": {**asdict(p.config), **{f"eval.{k}": v for k, v in asdict(p.spec).items()}},
                     "detail": detail if isinstance(detail, str) else "",
                     "summary": e.get("summary") if st == "done" else None,
                     "profile": pl.profile, "cache_dir": str(pl.cache_dir), "device": pl.device,
                     "executor": pl.settings["executor"]})
    return rows


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _short(stem: str) -> str:
    head = stem.split("_")[0]
    return head if head.isdigit() else stem


def format_table(rows: list[dict]) -> str:
    """The rows of :func:`status`/:func:`submit` as a plain-text table with a one-line summary."""
    head = ["key", "notebooks", "model", "activation", "seed", "varies", "status", "test acc", "cap", "mean EF x1e5",
            "detail"]
    if any("action" in r for r in rows):
        head.insert(7, "action")
    # settings (other than the shown columns) that differ between points, e.g. the ablations' depth or image size
    shown = {"model", "activation", "seed", "eval.methods"}
    settings = [r.get("setting") or {} for r in rows]
    varying = sorted(k for k in set().union(*settings) - shown
                     if len({json.dumps(st.get(k), sort_keys=True, default=str) for st in settings}) > 1)
    table = []
    defaults = {**asdict(TrainConfig()), **{f"eval.{k}": v for k, v in asdict(EvalSpec()).items()}}
    for r, st in zip(rows, settings):
        varies = " ".join(f"{k.removeprefix('eval.')}={json.dumps(st.get(k), separators=(',', ':'))}"
                          for k in varying if st.get(k) != defaults.get(k))
        s = r.get("summary") or {}
        efs = sorted((s.get("ef") or {}).items(), key=lambda kv: _ORDER.get(kv[0], len(_ORDER)))
        ef = " ".join(f"{_ABBREV.get(m, m)} {v * 1e5:.2f}" for m, v in efs)
        line = [r["key"][:10], ",".join(_short(n) for n in r["notebooks"]), r["model"], r["activation"],
                str(r["seed"]), varies, r["status"], f"{s['test_accuracy']:.3f}" if s else "",
                ("yes" if s["cap_reached"] else "no") if s else "", ef, _clip(r["detail"], 100)]
        if "action" in head:
            line.insert(7, r.get("action", ""))
        table.append(line)
    widths = [max([len(h)] + [len(t[i]) for t in table]) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    out = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(t) for t in table]
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    if rows:
        r0 = rows[0]
        out.append(f"profile {r0['profile']}: {len(rows)} point(s): " + ", ".join(f"{n} {s}" for s, n in
                                                                                  counts.items())
                   + f"  (executor {r0['executor']}, device {r0['device']}, cache {r0['cache_dir']}; "
                   f"full details in {state_path(r0['cache_dir'], r0['profile'])})")
    else:
        out.append("no grid points: the profile lists no notebook with `activations`")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 some point failed, 2 bad input)."""
    ap = argparse.ArgumentParser(prog="python -m spectral_lib.sweep", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True, help="profile name in profiles/ (quick, paper, tiny) or a YAML path")
    ap.add_argument("--executor", help=f"one of {', '.join(EXECUTORS)} (default: the profile's sweep.executor, "
                                       "else local)")
    ap.add_argument("--status", action="store_true", help="only report done / running / failed / missing")
    ap.add_argument("--dry-run", action="store_true", help="validate and list what would be submitted")
    ap.add_argument("--cache-dir", help="cache root (default: the notebooks' cache_dir if the profile sets one, else "
                                        "$SPECTRAL_LIB_CACHE, else ~/.cache/spectral_lib)")
    ap.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="only these notebooks' points")
    ap.add_argument("--wait", action="store_true", help="slurm: wait for the jobs and record their outcome")
    ap.add_argument("--force", action="store_true", help="also resubmit points whose job looks queued or running")
    ap.add_argument("--notebooks-dir", default=str(NOTEBOOKS_DIR), help="notebook sources (default: %(default)s)")
    args = ap.parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = lambda msg, *a, **k: print(f"warning: {msg}", file=sys.stderr)
        try:
            if args.status:
                rows = status(args.profile, args.executor, args.cache_dir, args.only, args.notebooks_dir)
            else:
                rows = submit(args.profile, args.executor, args.cache_dir, args.only, dry_run=args.dry_run,
                              wait=args.wait, force=args.force, notebooks_dir=args.notebooks_dir)
        except SweepError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    print(format_table(rows))
    return 1 if not args.status and not args.dry_run and any(r["status"] == "failed" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
