"""One point of a sweep: the configuration the notebooks build, the one its cache key is computed for, the
evaluation spec (an :class:`~spectral_lib.experiments.EvalSpec` for a grid point, a
:class:`~spectral_lib.experiments.training_length.TrajectorySpec` for one of chapter 4's uncapped trajectories),
and the notebooks that share it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from ..experiments import EvalSpec, point_path
from ..experiments.training_length import TrajectorySpec
from ..training import TrainConfig

__all__ = ["Point"]


@dataclass
class Point:
    """One grid point: the config the notebooks build (``config``, passed to the job as is), the config its cache key
    is computed for (``device="auto"`` resolved to the jobs' device), the spec, and the notebooks that use it."""

    config: TrainConfig
    spec: Union[EvalSpec, TrajectorySpec]
    key_config: TrainConfig
    key: str  # file stem of the record under cache_dir/evals
    notebooks: list[str] = field(default_factory=list)

    @property
    def is_trajectory(self) -> bool:
        return isinstance(self.spec, TrajectorySpec)

    def path(self, cache_dir: str | Path) -> Path:
        """The record the point's job writes (its presence means the point is done)."""
        if self.is_trajectory:
            return self.spec.record_path(self.key_config, cache_dir)
        return point_path(self.key_config, self.spec, cache_dir)
