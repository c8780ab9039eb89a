"""The sweep's jobs: train (or resume) and evaluate one grid point (:class:`PointJob`) or several, one after another
(:class:`PointsJob`, one SLURM array task for ``sweep.slurm.points_per_task`` points), and return small summaries.
A point whose spec is a :class:`~spectral_lib.experiments.training_length.TrajectorySpec` is one of chapter 4's
uncapped training trajectories (:func:`~spectral_lib.experiments.training_length.run_trajectory`)."""
from __future__ import annotations

import os
import time
from typing import Any

from .. import cache
from ..experiments import EvalSpec, point_key, run_point
from ..experiments.training_length import TrajectorySpec, run_trajectory, trajectory_key
from ..training import TrainConfig, checkpoint_path

__all__ = ["summarize", "summarize_trajectory", "run_job", "PointJob", "PointsJob", "job_threads", "record_key"]


def summarize(rec: dict, key: str) -> dict:
    """The small summary of a point's record that jobs return and the status table shows: key, activation, seed,
    test_accuracy, cap_reached, epochs and ef (method -> mean EF over the images)."""
    return {"key": key, "activation": rec["activation"], "seed": rec["seed"],
            "test_accuracy": float(rec["train"]["test_accuracy"]), "cap_reached": bool(rec["train"]["cap_reached"]),
            "epochs": float(rec["train"]["epochs"]), "ef": {m: float(v.double().mean()) for m, v in rec["ef"].items()}}


def summarize_trajectory(rec: dict, key: str) -> dict:
    """:func:`summarize` for a trajectory record (:func:`~spectral_lib.experiments.training_length.run_trajectory`):
    the uncapped run's final test accuracy and epochs, ``cap_reached`` False (it has no cap), and ``ef`` its
    VanillaGrad EF after the last epoch (mean over the images)."""
    return {"key": key, "activation": rec["activation"], "seed": rec["seed"],
            "test_accuracy": float(rec["train"]["test_accuracy"]), "cap_reached": False,
            "epochs": float(rec["train"]["epochs"]), "ef": {"vanilla_grad": float(rec["ef"][-1].double().mean())},
            "trajectory": True}


def record_key(config: TrainConfig, spec: EvalSpec | TrajectorySpec) -> str:
    """The cache key (file stem) of the record a job for (``config``, ``spec``) writes."""
    if isinstance(spec, TrajectorySpec):
        return cache.config_key(trajectory_key(config, spec.n_images))
    return cache.config_key(point_key(config, spec))


def job_threads(env: dict | None = None) -> int | None:
    """The torch thread count for a job: inside a SLURM job, the CPUs it was given (``SLURM_CPUS_PER_TASK``), or
    fewer if ``OMP_NUM_THREADS`` asks for fewer (the submitting shell's OMP_NUM_THREADS is inherited by the job, and
    more threads than allocated CPUs would oversubscribe the node); None outside SLURM or without that variable."""
    env = os.environ if env is None else env
    cpus = env.get("SLURM_CPUS_PER_TASK", "")
    if not cpus.isdigit() or int(cpus) < 1:
        return None
    omp = env.get("OMP_NUM_THREADS", "")
    return min(int(cpus), int(omp)) if omp.isdigit() and int(omp) >= 1 else int(cpus)


def run_job(config: TrainConfig, spec: EvalSpec | TrajectorySpec, cache_dir: str) -> dict:
    """One sweep job: :func:`~spectral_lib.experiments.run_point` (train or resume, evaluate, cache) and return its
    :func:`summarize` with the wall time in ``seconds`` and ``resumed`` (whether training continued from a
    checkpoint of an earlier, interrupted job)."""
    threads = job_threads()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    from ..experiments.memory_plan import check_gpu

    as_eval = EvalSpec(n_images=spec.n_images, methods=("vanilla_grad",)) if isinstance(spec, TrajectorySpec) else spec
    check_gpu([(config, as_eval)], "sweep job")  # on the GPU this job found: fail now, not out of memory hours later
    t0 = time.perf_counter()
    resumed = checkpoint_path(config, cache_dir).exists()  # an interrupted job left its per-epoch checkpoint
    if isinstance(spec, TrajectorySpec):
        rec = run_trajectory(config, spec.n_images, cache_dir, stopped=[spec.capped], progress=False)
        out = summarize_trajectory(rec, record_key(config, spec))
    else:
        rec = run_point(config, spec, cache_dir, progress=False)
        out = summarize(rec, record_key(config, spec))
    out["seconds"] = round(time.perf_counter() - t0, 2)
    out["resumed"] = resumed
    return out


class PointJob:
    """The callable submitted to submitit. Checkpointable: on a SLURM time-out or pre-emption signal submitit
    requeues it, and training resumes from the last per-epoch checkpoint."""

    def __call__(self, config: TrainConfig, spec: EvalSpec, cache_dir: str) -> dict:
        return run_job(config, spec, cache_dir)

    def checkpoint(self, *args: Any, **kwargs: Any):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


class PointsJob:
    """Several grid points run one after another in one job (one SLURM array task), so that the start-up of a job
    (Python, torch, the dataset) is paid once for ``sweep.slurm.points_per_task`` points. A point that raises is
    reported and the next one runs; every finished point's record is in the cache whatever happens to the others.
    Returns ``{"points": {key: summary or {"key": key, "error": "Type: message"}}}``. Checkpointable like
    :class:`PointJob`: a requeued task skips the finished points (their records are cached) and resumes the one it
    was training."""

    def __call__(self, points: list[tuple[TrainConfig, EvalSpec]], cache_dir: str) -> dict:
        out = {}
        for config, spec in points:
            try:
                summary = run_job(config, spec, cache_dir)
                out[summary["key"]] = summary
            except Exception as e:  # noqa: BLE001 - reported per point; the task goes on with the next one
                key = record_key(config, spec)
                out[key] = {"key": key, "error": f"{type(e).__name__}: {e}"}
        return {"points": out}

    def checkpoint(self, *args: Any, **kwargs: Any):
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)
