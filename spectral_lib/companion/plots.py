"""Figures shared by the book's chapters (matplotlib; each returns the Figure)."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

__all__ = ["show_maps", "plot_profiles", "plot_ef_vs_beta", "beta_label", "beta_colors"]


def beta_label(beta: float) -> str:
    """'ReLU' for beta = inf, else 'SP(beta)'."""
    return "ReLU" if math.isinf(beta) else f"SP({beta:g})"


def beta_colors(betas: Sequence[float]) -> dict[float, tuple]:
    """A colour per beta, from smooth (light) to ReLU (dark)."""
    import matplotlib.pyplot as plt

    order = sorted(set(betas), key=lambda b: (math.isinf(b), b))
    cmap = plt.get_cmap("viridis_r")
    return {b: cmap(0.15 + 0.8 * i / max(len(order) - 1, 1)) for i, b in enumerate(order)}


def show_maps(rows: Sequence[Sequence[torch.Tensor]], row_titles: Sequence[str], col_titles: Sequence[str],
              cmap: str = "inferno", size: float = 1.7):
    """Grid of (H, W) maps: rows[i][j] drawn at (i, j); first column drawn in grey (the input image)."""
    import matplotlib.pyplot as plt

    n_r, n_c = len(rows), len(rows[0])
    fig, axes = plt.subplots(n_r, n_c, figsize=(size * n_c, size * n_r), squeeze=False)
    for i, row in enumerate(rows):
        for j, m in enumerate(row):
            ax = axes[i][j]
            m = m.detach().cpu().float()
            if m.ndim == 3:
                m = m.permute(1, 2, 0).squeeze(-1) if m.shape[0] in (1, 3) else m[0]
            ax.imshow(m.numpy(), cmap="gray" if j == 0 else cmap)
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(col_titles[j], fontsize=9)
            if j == 0:
                ax.set_ylabel(row_titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def plot_profiles(profiles: dict[str, torch.Tensor], ax=None, colors: dict | None = None, title: str = "",
                  normalize: bool = True, skip_dc: bool = True):
    """Radial power spectra on log-log axes. profiles: label -> (R,) mean profile."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3.4))
    for label, p in profiles.items():
        p = p.detach().cpu().double().numpy()
        r = np.arange(len(p))
        if skip_dc:
            r, p = r[1:], p[1:]
        if normalize:
            p = p / p.sum()
        ax.loglog(r, p, label=label, color=(colors or {}).get(label))
    ax.set_xlabel("radial frequency bin r")
    ax.set_ylabel("normalised power" if normalize else "power")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return ax.figure


def plot_ef_vs_beta(df, value: str = "ef", ax=None, ylabel: str = "EF", label: str | None = None):
    """EF (or any column) vs beta: mean over images per seed, then mean +- std over seeds; ReLU drawn at the right.
    df: tidy frame from :func:`spectral_lib.experiments.records_to_frame` (one method)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 3.4))
    per_seed = df.groupby(["beta", "seed"])[value].mean().reset_index()
    stats = per_seed.groupby("beta")[value].agg(["mean", "std", "count"]).reset_index()
    finite = stats[np.isfinite(stats["beta"])]
    relu = stats[~np.isfinite(stats["beta"])]
    ax.errorbar(finite["beta"], finite["mean"], yerr=finite["std"].fillna(0), marker="o", capsize=3, label=label)
    if len(relu):
        x_relu = finite["beta"].max() * 3 if len(finite) else 1.0
        ax.errorbar([x_relu], relu["mean"], yerr=relu["std"].fillna(0), marker="s", color="k", capsize=3)
        ax.annotate("ReLU", (x_relu, float(relu["mean"].iloc[0])), textcoords="offset points", xytext=(6, 0),
                    fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel(r"$\beta$ (log scale; ReLU = $\beta \to \infty$)")
    ax.set_ylabel(ylabel)
    return ax.figure
