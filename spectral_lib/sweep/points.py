"""One grid point of a sweep: the configuration the notebooks build, the one its cache key is computed for, the
evaluation spec, and the notebooks that share it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..experiments import EvalSpec, point_path
from ..training import TrainConfig

__all__ = ["Point"]


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
