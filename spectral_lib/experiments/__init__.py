"""Experiments: the paper's experiments as cached, configuration-keyed grid points (:mod:`.points`) that the
chapters and the sweep share, each chapter's grids (:mod:`.grids`), what the chapters compute from the records
(:mod:`.records`, :mod:`.stats`, :mod:`.tables`, :mod:`.tradeoff`, :mod:`.spatial`) and the sentences that state the
outcome (:mod:`.verdicts`, tested).

May import every subpackage below it: the root infrastructure, :mod:`~spectral_lib.nn`, :mod:`~spectral_lib.data`,
:mod:`~spectral_lib.spectral`, :mod:`~spectral_lib.explain`, :mod:`~spectral_lib.training`,
:mod:`~spectral_lib.theory` and :mod:`~spectral_lib.metrics`."""
from .points import (EVAL_PARAMS, EVALS, TRAIN_PARAMS, EvalSpec, lr_for, missing_points, point_key, point_path,
                     points_from_params, run_grid, run_point, run_points)
from .records import dedupe, method_means, nan_count, network_means, paper_gap_table, records_to_frame, split_capped

__all__ = ["EvalSpec", "run_point", "run_grid", "run_points", "points_from_params", "point_key", "point_path",
           "missing_points", "lr_for", "EVALS", "TRAIN_PARAMS", "EVAL_PARAMS", "records_to_frame", "method_means",
           "paper_gap_table", "split_capped", "network_means", "nan_count", "dedupe"]
