"""The sweep: a profile's grid points run as jobs (in this process, as local subprocesses, or as a SLURM job array
through submitit), so that the book later finds them in the cache. ``python -m spectral_lib.sweep --help``.

Modules: :mod:`.settings` (the profile's ``sweep`` section), :mod:`.points` (one grid point), :mod:`.plan` (the
profile's points, deduplicated), :mod:`.state` (the state file, statuses), :mod:`.job` (the job), :mod:`.executors`
(running and polling), :mod:`.table` (the report), :mod:`.cli` (:func:`submit`, :func:`status`, the command line;
its docstring is the full description).

May import every subpackage below it (up to :mod:`spectral_lib.companion`), never :mod:`spectral_lib.tools`."""
from .cli import load_profile, main, status, submit
from .executors import sbatch_preview
from .job import PointJob, PointsJob, run_job, summarize
from .plan import Plan, check_devices, grid_parameters, grid_points, notebook_parameters, param_sets, plan
from .points import Point
from .settings import EXECUTORS, SweepError, sbatch_error, slurm_parameters, sweep_settings
from .state import STATUSES, jobs_folder, load_state, refresh, save_state, state_path
from .table import format_table

__all__ = ["SweepError", "Point", "Plan", "EXECUTORS", "STATUSES", "load_profile", "sweep_settings",
           "slurm_parameters", "notebook_parameters", "param_sets", "grid_parameters", "grid_points", "run_job",
           "summarize", "PointJob", "PointsJob", "sbatch_error", "plan", "submit", "status", "format_table",
           "state_path", "jobs_folder", "load_state", "save_state", "refresh", "sbatch_preview", "check_devices",
           "main"]
