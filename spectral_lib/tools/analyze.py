"""Practitioner entry point: the paper's spectral measurements on *your* model and images, as a tidy table.

:func:`analyze` explains a batch of images with several methods of :data:`spectral_lib.explain.METHODS` and returns
one row per (image, method) with the Expected Frequency (EF) of the paper's map (channel sum, rank-normalised,
:func:`spectral_lib.spectral.to_map`) under both EF definitions of :func:`spectral_lib.spectral.expected_frequency`,
and the per-image explanation gap ``|EF(method) - EF(vanilla_grad)|``. :func:`summarize` averages per method and
applies the paper's gap arithmetic ``|mean EF(method) - mean EF(vanilla_grad)|``. :func:`plot_analysis` draws example
maps and the mean radial power spectra per method. The command line (``python -m spectral_lib analyze``) wraps all
three; see :mod:`spectral_lib.tools.cli`.

Everything is validated before the first explanation is computed, and every problem raises a ``ValueError`` that
names it (unknown method, n_images <= 0, a model that does not output (N, K >= 2) class scores, ...).
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..explain import METHODS, predict
from ..spectral import expected_frequency, radial_profile, to_map

__all__ = ["analyze", "analyze_details", "summarize", "plot_analysis", "AnalysisResult", "check_methods",
           "check_class_scores", "table_records", "DEFAULT_METHODS", "TABLE_COLUMNS", "SUMMARY_COLUMNS",
           "REFERENCE_METHOD"]

REFERENCE_METHOD = "vanilla_grad"
DEFAULT_METHODS: tuple[str, ...] = ("vanilla_grad", "smooth_grad", "integrated_gradients", "guided_backprop",
                                    "grad_cam")
TABLE_COLUMNS = ("image", "method", "target", "ef_paper", "ef_nyquist", "gap_ef_paper", "gap_ef_nyquist")
SUMMARY_COLUMNS = ("method", "n_images", "ef_paper", "ef_nyquist", "gap_ef_paper", "gap_ef_nyquist",
                   "mean_gap_ef_paper", "mean_gap_ef_nyquist")
_CHUNKED = ("smooth_grad", "integrated_gradients")  # methods whose chunk_size defaults to the batch size here
_N_EXAMPLES = 4  # images whose maps are kept for the figure


@dataclass
class AnalysisResult:
    """What :func:`analyze` measured, with what the figure needs.

    table: the tidy per-(image, method) table (:data:`TABLE_COLUMNS`).
    mean_spectra: method -> (R,) mean radial power spectrum of its rank-normalised maps (over all images).
    example_maps: method -> (k, H, W) maps of the first k <= 4 images.
    example_images: (k, H, W, C) the first k images scaled to [0, 1] for display.
    """

    table: pd.DataFrame
    mean_spectra: dict[str, np.ndarray] = field(default_factory=dict)
    example_maps: dict[str, np.ndarray] = field(default_factory=dict)
    example_images: np.ndarray | None = None


def check_methods(methods: Sequence[str] | str) -> list[str]:
    """The methods to run, ``vanilla_grad`` (the gap's reference) first, duplicates dropped; ValueError listing the
    valid names for an unknown one."""
    if isinstance(methods, str):
        methods = [methods]
    methods = list(methods)
    if not methods:
        raise ValueError(f"methods must name at least one method; valid methods: {', '.join(METHODS)}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {', '.join(map(repr, unknown))}; valid methods: {', '.join(METHODS)}")
    return list(dict.fromkeys([REFERENCE_METHOD, *methods]))


def _check_n_images(n_images: Any, n_available: int) -> int:
    if n_images is None:
        return n_available
    if isinstance(n_images, bool) or not isinstance(n_images, (int, np.integer)):
        raise ValueError(f"n_images must be a positive integer or None, got {n_images!r}")
    if n_images <= 0:
        raise ValueError(f"n_images must be a positive integer, got {n_images}")
    return min(int(n_images), n_available)


def _channel_stats(name: str, values: Sequence[float] | None, channels: int) -> torch.Tensor | None:
    if values is None:
        return None
    v = torch.as_tensor(values, dtype=torch.float32).flatten()
    if v.numel() not in (1, channels):
        raise ValueError(f"{name} must have one value per channel ({channels}) or a single value, got {v.numel()}")
    if not bool(torch.isfinite(v).all()) or (name == "std" and bool((v <= 0).any())):
        raise ValueError(f"{name} must be finite{' and positive' if name == 'std' else ''}, got {v.tolist()}")
    return v.view(1, -1, 1, 1)


def check_class_scores(model: nn.Module, x: torch.Tensor) -> int:
    """Run ``model`` (eval mode, no grad) on ``x`` (1, C, H, W); return K if it outputs (1, K) scores with K >= 2,
    else raise a ValueError saying what came out."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:  # noqa: BLE001: any failure here means the model cannot take these images
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"the model cannot run on images of shape {tuple(x.shape)}: {first}") from e
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"the model must output class scores, a tensor of shape (N, K) with K >= 2; it returned a "
                         f"{type(out).__name__}")
    if out.ndim != 2 or out.shape[1] < 2:
        raise ValueError(f"the model must output class scores of shape (N, K) with K >= 2; got shape "
                         f"{tuple(out.shape)} for an input of shape {tuple(x.shape)}")
    return int(out.shape[1])


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _prepare(images: torch.Tensor, mean, std) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"images must be a torch.Tensor of shape (N, C, H, W), got {type(images).__name__}")
    if images.ndim != 4 or images.numel() == 0:
        raise ValueError(f"images must have shape (N, C, H, W) with N, C, H, W >= 1, got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ValueError(f"images must be a floating-point tensor, got dtype {images.dtype} (scale uint8 by 1/255)")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images contain NaN or infinite values")
    if (mean is None) != (std is None):
        raise ValueError("give both mean and std (to normalise images in [0, 1]) or neither (already normalised)")
    m = _channel_stats("mean", mean, images.shape[1])
    s = _channel_stats("std", std, images.shape[1])
    if m is not None and (float(images.min()) < -1e-6 or float(images.max()) > 1 + 1e-6):
        raise ValueError(f"with mean/std, images must be in [0, 1] (they are normalised here), got values in "
                         f"[{float(images.min()):.3g}, {float(images.max()):.3g}]")
    return images, m, s


def _check_options(method_options: Mapping[str, Mapping[str, Any]] | None, methods: list[str]) -> dict:
    opts = dict(method_options or {})
    for name, o in opts.items():
        if name not in methods:
            raise ValueError(f"method_options names {name!r}, which is not among the methods run: {methods}")
        if not isinstance(o, Mapping):
            raise ValueError(f"method_options[{name!r}] must be a dict of keyword arguments, got {type(o).__name__}")
        params = inspect.signature(METHODS[name]).parameters
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            valid = [k for k in list(params)[2:] if k != "target"]
            bad = [k for k in o if k not in valid]
            if bad:
                raise ValueError(f"method_options[{name!r}]: unknown option(s) {bad}; {name} takes {valid}")
    return {m: dict(opts.get(m, {})) for m in methods}


def _check_target(target, n: int, n_total: int, n_classes: int) -> torch.Tensor | None:
    if target is None:
        return None
    t = torch.as_tensor(target)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise ValueError(f"target must be integer class indices, got dtype {t.dtype}")
    t = t.long().flatten() if t.ndim else t.long().expand(n)
    if len(t) not in (n, n_total):
        raise ValueError(f"target must be an int or have one entry per image ({n_total}), got {len(t)} entries")
    t = t[:n]
    if bool((t < 0).any()) or bool((t >= n_classes).any()):
        raise ValueError(f"target must be in [0, {n_classes}), got values in [{int(t.min())}, {int(t.max())}]")
    return t


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
) -> AnalysisResult:
    """:func:`analyze`, also returning the mean radial spectra and example maps (an :class:`AnalysisResult`)."""
    methods = check_methods(methods)
    images, m, s = _prepare(images, mean, std)
    n = _check_n_images(n_images, len(images))
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    options = _check_options(method_options, methods)
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    device = _model_device(model)
    n_total = len(images)
    images = images[:n]

    def normalised(sl: slice) -> torch.Tensor:
        x = images[sl].to(device=device, dtype=torch.float32)
        if m is not None:
            x = (x - m.to(device)) / s.to(device)
        return x

    n_classes = check_class_scores(model, normalised(slice(0, 1)))
    targets = _check_target(target, n, n_total, n_classes)
    gen = None
    if seed is not None:
        gen = torch.Generator(device=device)
        gen.manual_seed(int(seed))
    for name in _CHUNKED:
        if name in options:
            options[name].setdefault("chunk_size", batch_size)  # peak memory ~ one batch, whatever n_samples is
    if "smooth_grad" in options and gen is not None:
        options["smooth_grad"].setdefault("generator", gen)

    from tqdm.auto import tqdm

    efs = {k: {"paper": [], "nyquist": []} for k in methods}
    spectra: dict[str, torch.Tensor] = {}
    examples: dict[str, list[np.ndarray]] = {k: [] for k in methods}
    all_targets: list[torch.Tensor] = []
    starts = range(0, n, batch_size)
    for i in tqdm(starts, desc="analyze", unit="batch", disable=not progress, total=len(starts)):
        sl = slice(i, min(i + batch_size, n))
        x = normalised(sl)
        t = targets[sl].to(device) if targets is not None else predict(model, x)
        all_targets.append(t.cpu())
        for name in methods:
            try:
                attr = METHODS[name](model, x, target=t, **options[name])
            except (TypeError, ValueError) as e:
                raise ValueError(f"method {name!r} failed: {e}") from e
            maps = to_map(attr.detach().float())
            efs[name]["paper"].append(expected_frequency(maps, "paper").cpu())
            efs[name]["nyquist"].append(expected_frequency(maps, "nyquist").cpu())
            prof = radial_profile(maps).double().sum(0).cpu()
            spectra[name] = spectra[name] + prof if name in spectra else prof
            have = sum(len(e) for e in examples[name])
            if have < _N_EXAMPLES:
                examples[name].append(maps[: _N_EXAMPLES - have].cpu().numpy())

    tgt = torch.cat(all_targets).numpy()
    ref = {d: torch.cat(efs[REFERENCE_METHOD][d]).double().numpy() for d in ("paper", "nyquist")}
    frames = []
    for name in methods:
        ef = {d: torch.cat(efs[name][d]).double().numpy() for d in ("paper", "nyquist")}
        frames.append(pd.DataFrame({
            "image": np.arange(n), "method": name, "target": tgt,
            "ef_paper": ef["paper"], "ef_nyquist": ef["nyquist"],
            "gap_ef_paper": np.abs(ef["paper"] - ref["paper"]),
            "gap_ef_nyquist": np.abs(ef["nyquist"] - ref["nyquist"]),
        }))
    # frames are in run order: a stable sort by image keeps that order within each image
    table = pd.concat(frames, ignore_index=True).sort_values("image", kind="stable").reset_index(drop=True)
    k = min(_N_EXAMPLES, n)
    shown = images[:k].detach().float().cpu()
    if m is None:  # already normalised: min-max per image, for display only
        lo = shown.amin(dim=(1, 2, 3), keepdim=True)
        hi = shown.amax(dim=(1, 2, 3), keepdim=True)
        shown = (shown - lo) / (hi - lo).clamp(min=1e-12)
    return AnalysisResult(
        table=table,
        mean_spectra={k_: (v / n).numpy() for k_, v in spectra.items()},
        example_maps={k_: np.concatenate(v) for k_, v in examples.items()},
        example_images=shown.permute(0, 2, 3, 1).numpy(),
    )


def analyze(
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
) -> pd.DataFrame:
    """EF and explanation gap of each method on each image: the paper's measurement on your model.

    Args:
        model: a classifier, (N, C, H, W) -> (N, K) class scores (logits), K >= 2. Computation happens on the device
            of its parameters; it is put in eval mode for the calls and restored afterwards.
        images: (N, C, H, W) float tensor: in [0, 1] if ``mean``/``std`` are given (they normalise it per channel),
            else already normalised (fed to the model as is).
        methods: names from :data:`spectral_lib.explain.METHODS`; ``vanilla_grad`` (the gap's reference) is always
            added, first.
        n_images: analyse the first ``n_images`` images (all when None); must be > 0.
        batch_size: images explained at a time; also the default ``chunk_size`` of ``smooth_grad`` and
            ``integrated_gradients`` here (bounds their memory; the result does not depend on it).
        mean, std: per-channel statistics (1 or C values each), both or neither.
        target: class to explain per image: None (the class predicted on the clean image, the paper's protocol),
            an int, or one class per image (N,).
        progress: show a tqdm progress bar over batches.
        method_options: method name -> keyword arguments for it, e.g. ``{"smooth_grad": {"n_samples": 16}}``.
        seed: seeds SmoothGrad's noise (a generator on the model's device) unless ``method_options`` gives one.
    Returns:
        A DataFrame with one row per (image, method), sorted by image then method (in run order), columns
        :data:`TABLE_COLUMNS`: ``image`` (index into ``images``), ``method``, ``target`` (class explained),
        ``ef_paper`` / ``ef_nyquist`` (:func:`~spectral_lib.spectral.expected_frequency` of the channel-summed,
        rank-normalised map; ``ef_nyquist`` is NaN for a constant map), ``gap_ef_paper`` / ``gap_ef_nyquist``
        (``|EF(method) - EF(vanilla_grad)|`` on the same image; 0 for vanilla_grad).
    Raises:
        ValueError: unknown method, n_images <= 0, bad images / mean / std / target, or a model that does not output
            (N, K >= 2) class scores: all checked before any explanation is computed.
    """
    return analyze_details(model, images, methods, n_images=n_images, batch_size=batch_size, mean=mean, std=std,
                           target=target, progress=progress, method_options=method_options, seed=seed).table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per-method means of an :func:`analyze` table, with the paper's gap arithmetic.

    Columns (:data:`SUMMARY_COLUMNS`): ``n_images``; ``ef_paper`` / ``ef_nyquist``: mean EF over images (NaNs of
    constant maps skipped); ``gap_ef_paper`` / ``gap_ef_nyquist``: ``|mean EF(method) - mean EF(vanilla_grad)|``, the
    gap as the paper's tables compute it; ``mean_gap_ef_*``: the mean of the per-image gaps (>= the former).
    One row per method, in the table's order.
    """
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; pass the DataFrame returned by analyze()")
    if REFERENCE_METHOD not in set(table["method"]):
        raise ValueError(f"table has no {REFERENCE_METHOD!r} rows, the gap's reference")
    order = list(dict.fromkeys(table["method"]))
    g = table.groupby("method", sort=False)
    out = pd.DataFrame({
        "method": order,
        "n_images": g["image"].nunique().reindex(order).to_numpy(),
        "ef_paper": g["ef_paper"].mean().reindex(order).to_numpy(),
        "ef_nyquist": g["ef_nyquist"].mean().reindex(order).to_numpy(),
        "mean_gap_ef_paper": g["gap_ef_paper"].mean().reindex(order).to_numpy(),
        "mean_gap_ef_nyquist": g["gap_ef_nyquist"].mean().reindex(order).to_numpy(),
    })
    ref = out.set_index("method").loc[REFERENCE_METHOD]
    out["gap_ef_paper"] = (out["ef_paper"] - ref["ef_paper"]).abs()
    out["gap_ef_nyquist"] = (out["ef_nyquist"] - ref["ef_nyquist"]).abs()
    return out[list(SUMMARY_COLUMNS)]


def plot_analysis(result: AnalysisResult, path: str | None = None):
    """Figure of an :class:`AnalysisResult`: the example images and their maps per method (one row per image), and
    the mean radial power spectra per method on log-log axes (frequency in cycles per pixel, bin 0 left out).
    Saved to ``path`` (PNG, Agg backend) when given; returns the matplotlib Figure."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, works headless

    methods = list(result.example_maps)
    k = 0 if result.example_images is None else len(result.example_images)
    cols = 1 + len(methods)
    fig = Figure(figsize=(1.8 * cols + 0.5, 1.8 * k + 3.6), layout="constrained")
    grid = fig.add_gridspec(k + 1, cols, height_ratios=[1] * k + [1.8])
    for r in range(k):
        ax = fig.add_subplot(grid[r, 0])
        img = result.example_images[r]
        rgb = img.shape[-1] == 3
        ax.imshow(np.clip(img, 0, 1) if rgb else img[..., 0], cmap=None if rgb else "gray", vmin=0, vmax=1)
        ax.set_axis_off()
        if r == 0:
            ax.set_title("image", fontsize=8)
        for c, name in enumerate(methods, start=1):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(result.example_maps[name][r], cmap="inferno", vmin=0, vmax=1)
            ax.set_axis_off()
            if r == 0:
                ax.set_title(name, fontsize=8)
    ax = fig.add_subplot(grid[k, :])
    for name, prof in result.mean_spectra.items():
        size = min(result.example_maps[name].shape[-2:])
        f = np.arange(1, len(prof)) / size
        ax.loglog(f, prof[1:], label=name)
    ax.set_xlabel("frequency (cycles / pixel)")
    ax.set_ylabel("mean radial power")
    ax.set_title("mean radial power spectrum of the rank-normalised maps", fontsize=9)
    ax.legend(fontsize=7, ncols=2)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def table_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as JSON-ready dicts (NaN -> None, numpy scalars -> Python)."""
    out = []
    for rec in frame.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and math.isnan(v) else
                        v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()})
    return out
