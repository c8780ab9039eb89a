"""The sweep's job: train (or resume) and evaluate one grid point, and return a small summary of its record."""
from __future__ import annotations

import os
import time
from typing import Any

from .. import cache
from ..experiments import EvalSpec, point_key, run_point
from ..training import TrainConfig

__all__ = ["summarize", "run_job", "PointJob"]


def summarize(rec: dict, key: str) -> dict:
    """The small summary of a point's record that jobs return and the status table shows: key, activation, seed,
    test_accuracy, cap_reached, epochs and ef (method -> mean EF over the images)."""
    return {"key": key, "activation": rec["activation"], "seed": rec["seed"],
            "test_accuracy": float(rec["train"]["test_accuracy"]), "cap_reached": bool(rec["train"]["cap_reached"]),
            "epochs": float(rec["train"]["epochs"]), "ef": {m: float(v.double().mean()) for m, v in rec["ef"].items()}}


def run_job(config: TrainConfig, spec: EvalSpec, cache_dir: str) -> dict:
    """One sweep job: :func:`~spectral_lib.experiments.run_point` (train or resume, evaluate, cache) and return its
    :func:`summarize` with the wall time in ``seconds``."""
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
