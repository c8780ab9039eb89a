"""The figure of :func:`spectral_lib.tools.analyze_details`: example images with their maps per method, and the mean
radial power spectra of the measured maps; degenerate maps, refused and failed methods are noted, not drawn."""
from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

__all__ = ["plot_analysis"]


def _image_title(result: Any, r: int) -> str:
    targets = getattr(result, "example_targets", None)
    if targets is None or r >= len(targets):
        return "image"
    t = int(targets[r])
    names = getattr(result, "class_names", None)
    if names is not None and 0 <= t < len(names):
        name = str(names[t])
        return f"{name[:18]}{'…' if len(name) > 18 else ''} ({t})"
    return f"class {t}"


def _footnote(result: Any) -> str:
    parts = []
    flags = getattr(result, "flag_counts", {}) or {}
    for method, counts in flags.items():
        parts.append(f"{method}: " + ", ".join(f"{n} map{'s' * (n > 1)} {why}" for why, n in counts.items())
                     + " (EF not measured)")
    for method, why in (getattr(result, "refused", {}) or {}).items():
        parts.append(f"{method} refused: {why}")
    for method, why in (getattr(result, "failed", {}) or {}).items():
        parts.append(f"{method} failed: {why}")
    text = "; ".join(parts)
    return "\n".join(textwrap.wrap(text, 150)[:6]) if text else ""


def plot_analysis(result: Any, path: str | None = None):
    """Figure of an :class:`~spectral_lib.tools.analyze.AnalysisResult`: the example images (titled by class name
    when ``result.class_names`` is known) and their maps per method (one row per image; a degenerate map is left
    blank with its reason), and the mean radial power spectra per method over the measured maps on log-log axes
    (frequency in cycles per pixel, bin 0 left out). Flags, refusals and failures are listed under the figure.
    Saved to ``path`` (PNG, Agg backend) when given; returns the matplotlib Figure."""
    from matplotlib.figure import Figure  # no pyplot: no global backend state, works headless

    methods = list(result.example_maps)
    k = 0 if result.example_images is None else len(result.example_images)
    cols = 1 + len(methods)
    note = _footnote(result)
    fig = Figure(figsize=(1.8 * cols + 0.5, 1.8 * k + 3.6 + 0.25 * note.count("\n") + (0.4 if note else 0)),
                 layout="constrained")
    grid = fig.add_gridspec(k + 1, cols, height_ratios=[1] * k + [1.8])
    example_flags = getattr(result, "example_flags", {}) or {}
    for r in range(k):
        ax = fig.add_subplot(grid[r, 0])
        img = result.example_images[r]
        rgb = img.shape[-1] == 3
        ax.imshow(np.clip(img, 0, 1) if rgb else img[..., 0], cmap=None if rgb else "gray", vmin=0, vmax=1)
        ax.set_axis_off()
        ax.set_title(_image_title(result, r), fontsize=7)
        for c, name in enumerate(methods, start=1):
            ax = fig.add_subplot(grid[r, c])
            flags = example_flags.get(name, [])
            flag = flags[r] if r < len(flags) else None
            if flag:
                ax.text(0.5, 0.5, f"not measured:\n{flag}", ha="center", va="center", fontsize=7,
                        transform=ax.transAxes, wrap=True)
                ax.set_xticks([])
                ax.set_yticks([])
            else:
                ax.imshow(result.example_maps[name][r], cmap="inferno", vmin=0, vmax=1)
                ax.set_axis_off()
            if r == 0:
                ax.set_title(name, fontsize=8)
    ax = fig.add_subplot(grid[k, :])
    drawn = 0
    for name, prof in result.mean_spectra.items():
        if prof is None or not np.all(np.isfinite(prof)):
            continue
        size = min(result.example_maps[name].shape[-2:])
        f = np.arange(1, len(prof)) / size
        ax.loglog(f, prof[1:], label=name)
        drawn += 1
    ax.set_xlabel("frequency (cycles / pixel)")
    ax.set_ylabel("mean radial power")
    ax.set_title("mean radial power spectrum of the rank-normalised maps (measured maps only)", fontsize=9)
    if drawn:
        ax.legend(fontsize=7, ncols=2)
    else:
        ax.text(0.5, 0.5, "no measured map", ha="center", va="center", transform=ax.transAxes)
    if note:
        fig.supxlabel(note, fontsize=7, ha="center")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
