"""The sweep's own settings: the profile's ``sweep`` section (executor, device, slurm, submitit-local), validated
against submitit before anything is submitted."""
from __future__ import annotations

import math
from typing import Any

from ..checks import ConfigError

__all__ = ["SweepError", "EXECUTORS", "sweep_settings", "slurm_parameters", "slurm_has_gpus", "sbatch_error",
           "SLURM_OWN", "signal_delay_s"]

EXECUTORS = ("local", "submitit-local", "slurm")
SWEEP_KEYS = ("executor", "device", "slurm", "submitit-local")
# slurm keys with a meaning of their own here; any other key must be a parameter of submitit's SlurmExecutor
SLURM_RENAMES = {"timeout_min": "time", "mem_gb": "mem"}
LOCAL_KEYS = {"parallel": 1, "timeout_min": 24 * 60}
# slurm keys read by the sweep itself (not SlurmExecutor.update_parameters), with their defaults: grid points run one
# after another in each array task; how often submitit requeues a task that reaches its time limit
SLURM_OWN = {"points_per_task": 1, "max_num_timeout": 3}


class SweepError(ConfigError):
    """Bad input (profile, executor, parameters, cluster settings): reported as one line, before any job runs."""


def _slurm_parameter_names() -> set[str]:
    from submitit.slurm import slurm

    return set(slurm._get_default_parameters())


def _mem(gb: float) -> str:
    return f"{int(gb)}GB" if gb == int(gb) else f"{int(gb * 1024)}MB"


def _check_int(where: str, v: Any, minimum: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum:
        raise SweepError(f"{where} must be an integer >= {minimum}, got {v!r}")


def _check_slurm(slurm: Any) -> dict:
    if not isinstance(slurm, dict):
        raise SweepError(f"sweep.slurm must be a mapping, got {slurm!r}")
    if "gpus_per_node" in slurm:
        _check_int("sweep.slurm.gpus_per_node", slurm["gpus_per_node"], 0)
    for k in ("cpus_per_task", "timeout_min", "array_parallelism", "points_per_task"):
        if k in slurm:
            _check_int(f"sweep.slurm.{k}", slurm[k], 1)
    if "max_num_timeout" in slurm:
        _check_int("sweep.slurm.max_num_timeout", slurm["max_num_timeout"], 0)
    if "mem_gb" in slurm:
        v = slurm["mem_gb"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise SweepError(f"sweep.slurm.mem_gb must be a positive number, got {v!r}")
    if "additional_parameters" in slurm and not isinstance(slurm["additional_parameters"], dict):
        raise SweepError("sweep.slurm.additional_parameters must be a mapping of extra #SBATCH options")
    if "partition" in slurm and not (isinstance(slurm["partition"], str) and slurm["partition"]):
        raise SweepError(f"sweep.slurm.partition must be a non-empty string, got {slurm['partition']!r}")
    return dict(slurm)


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
    slurm = _check_slurm(sec.get("slurm") or {})
    local = sec.get("submitit-local") or {}
    if not isinstance(local, dict):
        raise SweepError(f"sweep.submitit-local must be a mapping, got {local!r}")
    bad = sorted(set(local) - set(LOCAL_KEYS))
    if bad:
        raise SweepError(f"sweep.submitit-local: unknown key(s) {bad}; known: {sorted(LOCAL_KEYS)}")
    local = {**LOCAL_KEYS, **local}
    for k, v in local.items():
        _check_int(f"sweep.submitit-local.{k}", v, 1)
    return {"executor": ex, "device": device, "slurm": slurm, "submitit-local": local}


def slurm_has_gpus(slurm: dict) -> bool:
    """Whether the ``sweep.slurm`` section asks for GPUs (gpus_per_node, gpus_per_task, or a gpu gres/gpus option)."""
    if any(isinstance(slurm.get(k), int) and slurm[k] > 0 for k in ("gpus_per_node", "gpus_per_task")):
        return True
    extra = {**slurm, **(slurm.get("additional_parameters") or {})}
    return any("gpu" in str(extra.get(k, "")).lower() for k in ("gres", "gpus", "gpus_per_node", "constraint"))


def slurm_parameters(slurm: dict, profile: str) -> dict:
    """SlurmExecutor.update_parameters keywords from the profile's ``sweep.slurm`` (validated against submitit)."""
    try:
        valid = _slurm_parameter_names()
    except ImportError:
        raise SweepError("the slurm executor needs submitit: pip install 'submitit>=1.5'") from None
    out = {"job_name": f"spectral-{profile}"}
    for k, v in slurm.items():
        if k in SLURM_OWN:
            continue
        k2 = SLURM_RENAMES.get(k, k)
        if k2 not in valid:
            raise SweepError(f"sweep.slurm.{k}: not a submitit SlurmExecutor parameter; known: "
                             f"{sorted(valid | set(SLURM_RENAMES) | set(SLURM_OWN))} (anything else goes in "
                             "additional_parameters)")
        out[k2] = _mem(v) if k == "mem_gb" else v
    if "time" in out and "signal_delay_s" not in out:
        out["signal_delay_s"] = signal_delay_s(out["time"])
    return out


SLURM_CHECK_S = 30  # how often slurmctld checks time limits (and sends warning signals that are due)
SUBMITIT_DELAY_S = 90  # submitit's default warning time (signal_delay_s)


def signal_delay_s(timeout_min: int) -> int:
    """How long before a job's time limit SLURM is asked to send submitit's warning signal (USR2), for a limit of
    ``timeout_min`` minutes: submitit's 90 s where the limit leaves room for it, ``(limit - 30 s) / 2`` (at least
    5 s) for limits under 3.5 minutes.

    slurmctld sends the warning at one of its periodic time-limit checks (every :data:`SLURM_CHECK_S` s), so it can
    come a check period early (the sbatch manual says up to 60 s). With submitit's 90 s and a 1-minute limit it is
    due at once: on this project's one-node SLURM it reached a job within its first 2 s, while Python was still
    unpickling the job, before submitit had installed its handler, and USR2's default action killed the job without
    a checkpoint or a requeue (state FAILED). Half of what is left after one check period keeps the warning well
    after start-up and still before the limit."""
    limit_s = 60 * int(timeout_min)
    return int(max(5, min(SUBMITIT_DELAY_S, (limit_s - SLURM_CHECK_S) // 2)))


# sbatch's refusals (its stderr) -> the sweep.slurm setting that causes them
_SBATCH_CAUSES = (
    ("More processors requested than permitted", "cpus_per_task",
     "more CPUs per task than any node of the partition has"),
    ("Invalid generic resource", "gpus_per_node", "GPUs that no node of the partition has (no such gres)"),
    ("Invalid gres", "gpus_per_node", "GPUs that no node of the partition has (no such gres)"),
    ("Memory specification can not be satisfied", "mem_gb", "more memory than any node of the partition has"),
    ("Requested time limit is invalid", "timeout_min", "a time limit above the partition's MaxTime"),
    ("invalid partition", "partition", "a partition that does not exist"),
    ("Invalid account", "additional_parameters.account", "an account that does not exist or is not yours"),
    ("Invalid qos", "qos", "a QOS that does not exist or is not allowed"),
)
_GPU_KEYS = ("gpus_per_node", "gpus_per_task", "gres")


def sbatch_error(message: str, slurm: dict) -> SweepError:
    """A one-line SweepError for sbatch refusing the array (``message``: submitit's FailedJobError text, sbatch's
    stderr), naming the ``sweep.slurm`` setting that caused it and its value."""
    lines = [ln.strip() for ln in str(message).splitlines() if ln.strip()]
    said = "; ".join(ln.removeprefix("sbatch: error: ") for ln in lines if "error" in ln.lower()) or " ".join(lines)
    for needle, key, why in _SBATCH_CAUSES:
        if needle.lower() in str(message).lower():
            if key == "gpus_per_node":  # name the GPU key the profile actually sets
                key = next((k for k in _GPU_KEYS if k in slurm), key)
            if key == "mem_gb" and "mem_gb" not in slurm:
                key = next((k for k in ("mem_per_cpu", "mem_per_gpu") if k in slurm), key)
            root, _, sub = key.partition(".")
            value = (slurm.get(root) or {}).get(sub) if sub else slurm.get(key, "unset")
            return SweepError(f"sbatch refused the job array: sweep.slurm.{key} = {value!r} asks for {why} "
                              f"(sbatch: {said})")
    return SweepError(f"sbatch refused the job array (sbatch: {said}); check the profile's sweep.slurm settings "
                      f"{ {k: v for k, v in slurm.items()} }")
