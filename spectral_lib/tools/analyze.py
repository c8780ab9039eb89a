"""Practitioner entry point: the paper's spectral measurements on *your* model and images, as a tidy table.

:func:`analyze` explains a batch of images with several methods of :data:`spectral_lib.explain.METHODS` and returns
one row per (image, method) with the Expected Frequency (EF) of the paper's map (channel sum, rank-normalised,
:func:`spectral_lib.spectral.to_map`) under both EF definitions of :func:`spectral_lib.spectral.expected_frequency`,
the per-image explanation gap ``|EF(method) - EF(vanilla_grad)|`` and a ``flag`` saying why a map was not measured.
:func:`summarize` averages per method and applies the paper's gap arithmetic ``|mean EF(method) - mean
EF(vanilla_grad)|``; :func:`~spectral_lib.tools.figure.plot_analysis` draws example maps and mean spectra.

Order of work: (1) every argument is checked (:mod:`.validate`); (2) the model runs once on one image to learn its
structure (:mod:`.inspection`) and once, without gradients, on every image (its predicted classes; constant logits,
e.g. ViT's zero-initialised head, refuse every method); (3) each method is accepted or refused with a one-line
reason, hook-based ones after a one-image trial (:mod:`.plan`); (4) the memory bound fixes the inputs per pass
(:mod:`.memory`); (5) only then the run, one progress bar over images x methods. A method that fails during the
run is named in :attr:`AnalysisResult.failed` and left out; the others' results are kept. A map that is constant,
all zero, non-finite or more than ``max_tie_fraction`` tied (:func:`spectral_lib.spectral.degenerate_reason`) gets
EF = NaN and its reason in ``flag``: it cannot be ranked, and its "EF" would be the plateau's, not the
explanation's. Inputs are given to the model in the dtype of its parameters, on their device.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from .figure import plot_analysis
from .inspection import probe_model
from .memory import ChunkPlan, choose_chunk
from .plan import MethodPlan, MethodRefused, error_text, plan_methods, refusal_line
from .run import TABLE_COLUMNS, run_methods
from .validate import (DEFAULT_METHODS, REFERENCE_METHOD, check_class_scores, check_images, check_methods,
                       check_n_images, check_options, check_target, model_device, model_dtype)

__all__ = ["analyze", "analyze_details", "summarize", "plot_analysis", "AnalysisResult", "AnalysisWarning",
           "MethodRefused", "check_methods", "check_class_scores", "table_records", "DEFAULT_METHODS",
           "TABLE_COLUMNS", "SUMMARY_COLUMNS", "REFERENCE_METHOD"]

SUMMARY_COLUMNS = ("method", "n_images", "n_measured", "ef_paper", "ef_nyquist", "gap_ef_paper", "gap_ef_nyquist",
                   "mean_gap_ef_paper", "mean_gap_ef_nyquist")
_N_EXAMPLES = 4  # images whose maps are kept for the figure (as in .run)


class AnalysisWarning(UserWarning):
    """Degenerate maps and method notes of :func:`analyze` (Python API; the command line prints them)."""


@dataclass
class AnalysisResult:
    """What :func:`analyze_details` measured, with what the figure and the report need.

    table: the tidy per-(image, method) table (:data:`TABLE_COLUMNS`, plus ``target_name`` with class names).
    mean_spectra: method -> (R,) mean radial power spectrum of its measured (unflagged) maps, None if none.
    example_maps / example_flags: method -> (k, H, W) maps / k flags of the first k <= 4 images.
    example_images: (k, H, W, C) those images in [0, 1] for display; example_targets: (k,) their classes.
    plans: method -> :class:`~spectral_lib.tools.plan.MethodPlan` (notes, options used, refusal).
    refused / failed: method -> reason (refused up front / failed during the run, left out of the table).
    notes: remarks on the model as a whole; flag_counts: method -> {reason: number of maps}.
    chunk: the memory plan; interrupted: the run was stopped (Ctrl-C), the table holds the finished batches.
    """

    table: pd.DataFrame
    mean_spectra: dict[str, np.ndarray | None] = field(default_factory=dict)
    example_maps: dict[str, np.ndarray] = field(default_factory=dict)
    example_flags: dict[str, list] = field(default_factory=dict)
    example_images: np.ndarray | None = None
    example_targets: np.ndarray | None = None
    class_names: list[str] | None = None
    model_name: str = "model"
    plans: dict[str, MethodPlan] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    flag_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    chunk: ChunkPlan | None = None
    interrupted: bool = False

    def note_lines(self) -> list[str]:
        """One line per model note, refusal (skipped) and method note: what is known before the run."""
        name = self.model_name
        lines = [f"{name}: {n}" for n in self.notes]
        lines += [refusal_line(name, m, why) for m, why in self.refused.items()]
        for m, p in self.plans.items():
            if m not in self.refused:
                lines += [f"{name}: {m}: {n}" for n in p.notes]
        return lines

    def flag_lines(self) -> list[str]:
        """One line per method with degenerate maps (how many, why) and per failed method."""
        name = self.model_name
        n = self.table["image"].nunique() if len(self.table) else 0
        lines = []
        for m, counts in self.flag_counts.items():
            k = sum(counts.values())
            why = ", ".join(f"{why} x{c}" for why, c in counts.items())
            lines.append(f"{name}: {m}: {k} of {n} maps degenerate ({why}): EF not measured (NaN)")
        lines += [f"{name}: {m}: failed: {why}" for m, why in self.failed.items()]
        return lines

    def warning_lines(self) -> list[str]:
        """:meth:`note_lines` then :meth:`flag_lines`."""
        return self.note_lines() + self.flag_lines()


def _logits(model: nn.Module, batches) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return torch.cat([model(x).detach().float().cpu() for x in batches])
    finally:
        model.train(was_training)


def _model_notes(logits: torch.Tensor, model_name: str) -> tuple[list[str], str | None]:
    """Notes on the logits (n, K) and the reason to refuse everything (constant logits), or None."""
    spread = logits.max(1).values - logits.min(1).values
    if bool((spread == 0).all()):
        hint = " (torchvision initialises the heads of vit_* models to zero)" if "vit" in model_name.lower() else ""
        return [], (f"the logits are identical for every class on all {len(logits)} images: a zero or "
                    f"untrained head{hint}; every gradient is exactly zero, so every map would be constant")
    notes = []
    saturated = int((torch.log_softmax(logits.double(), 1).max(1).values == 0).sum())
    if saturated:
        notes.append(f"the softmax is saturated (p = 1 in float64) on {saturated} of {len(logits)} images: the "
                     "log-softmax gradients of the non-captum methods vanish there (maps flagged)")
    return notes, None


def analyze_details(
    model: nn.Module,
    images: torch.Tensor,
    methods: Sequence[str] = DEFAULT_METHODS,
    *,
    n_images: int | None = None,
    batch_size: int = 32,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    target: int | Sequence[int] | torch.Tensor | None = None,
    progress: bool = True,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int | None = 0,
    model_name: str | None = None,
    class_names: Sequence[str] | None = None,
    on_refused: str = "raise",
    max_memory: int | str | None = None,
    max_tie_fraction: float = 0.9,
    warn: bool = True,
    report: Callable[[str], None] | None = None,
) -> AnalysisResult:
    """:func:`analyze`, returning an :class:`AnalysisResult` (spectra, example maps, plans, refusals, failures)."""
    methods = check_methods(methods)
    images, m, s = check_images(images, mean, std)
    n = check_n_images(n_images, len(images))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    options = check_options(method_options, methods)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if on_refused not in ("raise", "skip"):
        raise ValueError(f"on_refused must be 'raise' or 'skip', got {on_refused!r}")
    if not (isinstance(max_tie_fraction, (int, float)) and 0 <= max_tie_fraction <= 1):
        raise ValueError(f"max_tie_fraction must be a number in [0, 1], got {max_tie_fraction!r}")
    name = model_name or type(model).__name__
    device, dtype = model_device(model), model_dtype(model)
    n_total = len(images)
    images = images[:n]
    work = torch.promote_types(images.dtype, dtype)  # normalise in float32 at least, as torchvision does

    def normalised(sl: slice) -> torch.Tensor:
        x = images[sl].to(device=device, dtype=work)
        if m is not None:
            x = (x - m.to(device, work)) / s.to(device, work)
        return x.to(dtype)

    x1 = normalised(slice(0, 1))
    try:
        probe = probe_model(model, x1)
    except Exception as e:  # noqa: BLE001: the model cannot take these images
        first = error_text(e) or type(e).__name__
        raise ValueError(f"the model cannot run on images of shape {tuple(x1.shape)} (dtype {dtype}): {first}") from e
    if probe.output_shape is None or len(probe.output_shape) != 2 or probe.output_shape[1] < 2:
        got = "not a tensor" if probe.output_shape is None else f"shape {probe.output_shape}"
        raise ValueError(f"the model must output class scores of shape (N, K) with K >= 2; got {got} for an input "
                         f"of shape {tuple(x1.shape)}")
    n_classes = probe.output_shape[1]
    if class_names is not None and len(class_names) != n_classes:
        raise ValueError(f"class_names has {len(class_names)} names but the model outputs {n_classes} classes")
    targets = check_target(target, n, n_total, n_classes)
    logits = _logits(model, (normalised(slice(i, i + batch_size)) for i in range(0, n, batch_size)))
    notes, everything = _model_notes(logits, name)
    if everything is not None:
        raise MethodRefused([refusal_line(name, "all methods", everything)])
    if targets is None:
        targets = logits.argmax(1)
    chunk = choose_chunk(model, x1, max_memory, batch_size)
    for meth in ("smooth_grad", "integrated_gradients"):
        if meth in options:
            options[meth].setdefault("chunk_size", chunk.chunk)
    if "captum_integrated_gradients" in options:
        options["captum_integrated_gradients"].setdefault("internal_batch_size", chunk.chunk)
    if "smooth_grad" in options and seed is not None and "generator" not in options["smooth_grad"]:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(seed))
        options["smooth_grad"]["generator"] = gen
    plans = plan_methods(model, x1, methods, options, probe, target=targets[:1].to(device))
    refused = {k: p.refused for k, p in plans.items() if p.refused is not None}
    if REFERENCE_METHOD in refused or (refused and on_refused == "raise"):
        raise MethodRefused([refusal_line(name, k, why) for k, why in refused.items()])
    run = [k for k in methods if k not in refused]
    result = AnalysisResult(table=pd.DataFrame(columns=list(TABLE_COLUMNS)), model_name=name, plans=plans,
                            refused=refused, notes=notes, chunk=chunk,
                            class_names=list(class_names) if class_names is not None else None)
    if report is not None:  # what is known before the run: notes, refusals skipped, the memory plan
        for line in result.note_lines():
            report(line)
        report(chunk.describe())
    run_methods(model, normalised, n, targets, run, plans, chunk, progress, max_tie_fraction, result)
    if warn:
        for line in result.warning_lines():
            warnings.warn(line, AnalysisWarning, stacklevel=2)
    shown = images[: min(_N_EXAMPLES, n)].detach().float().cpu()
    if m is None:  # already normalised: min-max per image, for display only
        lo = shown.amin(dim=(1, 2, 3), keepdim=True)
        hi = shown.amax(dim=(1, 2, 3), keepdim=True)
        shown = (shown - lo) / (hi - lo).clamp(min=1e-12)
    result.example_images = shown.permute(0, 2, 3, 1).numpy()
    result.example_targets = targets[: len(shown)].numpy()
    return result


def analyze(model: nn.Module, images: torch.Tensor, methods: Sequence[str] = DEFAULT_METHODS, **kwargs) -> pd.DataFrame:
    """EF and explanation gap of each method on each image: the paper's measurement on your model.

    Args:
        model: a classifier, (N, C, H, W) -> (N, K) class scores (logits), K >= 2. Computation happens on the device
            of its parameters, inputs are cast to their dtype (float64, bfloat16, ... work where the method can);
            it is put in eval mode for the calls and restored afterwards, and never modified (hook-based methods
            run on a copy with distinct activation modules).
        images: (N, C, H, W) float tensor: in [0, 1] if ``mean``/``std`` are given (they normalise it per channel),
            else already normalised (fed to the model as is).
        methods: names from :data:`spectral_lib.explain.METHODS`; ``vanilla_grad`` (the gap's reference) is always
            added, first.
    Keyword Args:
        n_images: analyse the first ``n_images`` images (all when None); must be > 0.
        batch_size: images explained at a time, at most (the memory bound may lower it).
        mean, std: per-channel statistics (1 or C values each), both or neither.
        target: class to explain per image: None (the class predicted on the clean image, the paper's protocol),
            an int, or one class per image (N,).
        progress: one tqdm progress bar over images x methods, with an ETA.
        method_options: method name -> keyword arguments for it, e.g. ``{"smooth_grad": {"n_samples": 16}}``.
        seed: seeds SmoothGrad's noise (a generator on the model's device) unless ``method_options`` gives one.
        model_name: the model's name in messages (default: its class name). class_names: K names (a
            ``target_name`` column, the figure's titles).
        on_refused: "raise" (default: :class:`~spectral_lib.tools.plan.MethodRefused`, one line per refused
            method, before any work) or "skip" (run the others; the refusals are in :attr:`AnalysisResult.refused`).
            A refused ``vanilla_grad`` or constant logits always raise.
        max_memory: bound on a gradient pass's memory ("4GiB", bytes; None: a quarter of the free memory), which
            fixes SmoothGrad's and Integrated Gradients' inputs per pass and the batch (:mod:`.memory`).
        max_tie_fraction: maps with more tied pixels than this are flagged (default 0.9).
        warn: emit an :class:`AnalysisWarning` per note, refusal and degenerate-map count.
        report: called with one line per note, skipped refusal and the memory plan, before the run starts.
    Returns:
        A DataFrame with one row per (image, method), sorted by image then method (in run order), columns
        :data:`TABLE_COLUMNS`: ``image`` (index into ``images``), ``method``, ``target`` (class explained),
        ``ef_paper`` / ``ef_nyquist`` (:func:`~spectral_lib.spectral.expected_frequency` of the channel-summed,
        rank-normalised map), ``gap_ef_paper`` / ``gap_ef_nyquist`` (``|EF(method) - EF(vanilla_grad)|`` on the
        same image; 0 for vanilla_grad), ``flag`` (None, or why the map is degenerate: its EF and gaps are NaN).
        Methods that failed during the run are left out (see :func:`analyze_details`).
    Raises:
        ValueError: unknown method, n_images <= 0, bad images / mean / std / target / options, or a model that does
            not output (N, K >= 2) class scores; MethodRefused (a ValueError): refused methods. All before any work.
    """
    return analyze_details(model, images, methods, **kwargs).table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per-method means of an :func:`analyze` table, with the paper's gap arithmetic.

    Columns (:data:`SUMMARY_COLUMNS`): ``n_images``; ``n_measured``: maps not flagged; ``ef_paper`` /
    ``ef_nyquist``: mean EF over the measured maps; ``gap_ef_paper`` / ``gap_ef_nyquist``: ``|mean EF(method) -
    mean EF(vanilla_grad)|``, the gap as the paper's tables compute it, both means over the images where both maps
    are measured (all images when nothing is flagged); ``mean_gap_ef_*``: the mean of the per-image gaps over the
    same images (>= the former). NaN where nothing is measured. One row per method, in the table's order.
    """
    missing = [c for c in TABLE_COLUMNS if c not in table.columns and c != "flag"]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; pass the DataFrame returned by analyze()")
    if REFERENCE_METHOD not in set(table["method"]):
        raise ValueError(f"table has no {REFERENCE_METHOD!r} rows, the gap's reference")
    order = list(dict.fromkeys(table["method"]))
    ref = table[table["method"] == REFERENCE_METHOD].set_index("image")
    rows = []
    for meth in order:
        t = table[table["method"] == meth].set_index("image")
        row: dict[str, Any] = {"method": meth, "n_images": int(t.index.nunique()),
                               "n_measured": int(t["ef_paper"].notna().sum())}
        for d in ("paper", "nyquist"):
            col = f"ef_{d}"
            row[col] = float(t[col].mean()) if t[col].notna().any() else math.nan
            both = t[col].notna() & ref[col].reindex(t.index).notna()
            mine, theirs = t.loc[both, col], ref[col].reindex(t.index)[both]
            row[f"gap_ef_{d}"] = abs(float(mine.mean()) - float(theirs.mean())) if both.any() else math.nan
            row[f"mean_gap_ef_{d}"] = float((mine - theirs).abs().mean()) if both.any() else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def table_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts (NaN -> None, numpy scalars -> Python)."""
    out = []
    for rec in frame.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else
                        v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
    return out
