"""From attributions to the paper's explanation maps: channel reduction and rank normalisation; ties and degenerate
maps (constant, all-zero, mostly tied), which rank normalisation cannot rank and EF cannot measure."""
from __future__ import annotations

from typing import Literal

import torch

from ..checks import check_choice, check_tensor

__all__ = ["rank_normalize", "to_map", "tie_fraction", "degenerate_reason", "TIE_RULES"]

TIE_RULES = ("average", "ordinal", "random")


def rank_normalize(maps: torch.Tensor, ties: Literal["average", "ordinal", "random"] = "average",
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each pixel by its rank among its map's pixels divided by the number of pixels: values in (0, 1].

    ``ties="average"`` gives tied pixels their mean rank (scipy's ``rankdata(method="average")``, the paper's maps),
    so that a flat region (e.g. Grad-CAM's zeros) stays flat instead of becoming an artificial ramp; ``"ordinal"``
    breaks ties by position; ``"random"`` breaks them in a random order drawn from ``generator`` (seed it for
    reproducible maps), so that a tied region becomes noise rather than a flat plateau or a ramp. maps: (N, H, W) ->
    (N, H, W), same dtype, on maps' device.
    """
    check_tensor("maps", maps, ndim=3, finite=False)
    check_choice("ties", ties, TIE_RULES)
    n, h, w = maps.shape
    flat = maps.reshape(n, -1)
    p = flat.shape[1]
    if ties == "random":
        shuffle = torch.argsort(torch.rand(flat.shape, generator=generator).to(maps.device), dim=1)
        vals, order = torch.sort(flat.gather(1, shuffle), dim=1, stable=True)
        order = shuffle.gather(1, order)
        ties = "ordinal"
    else:
        vals, order = torch.sort(flat, dim=1, stable=True)
    pos = torch.arange(1, p + 1, device=maps.device, dtype=torch.float64).expand(n, -1)
    if ties == "average":
        new_group = torch.ones_like(vals, dtype=torch.bool)
        new_group[:, 1:] = vals[:, 1:] != vals[:, :-1]
        gid = torch.cumsum(new_group.long(), dim=1) - 1 + (torch.arange(n, device=maps.device) * p)[:, None]
        gid = gid.flatten()
        first = torch.full((n * p,), float(p + 1), device=maps.device, dtype=torch.float64)
        last = torch.zeros(n * p, device=maps.device, dtype=torch.float64)
        first.scatter_reduce_(0, gid, pos.flatten(), reduce="amin")
        last.scatter_reduce_(0, gid, pos.flatten(), reduce="amax")
        pos = ((first[gid] + last[gid]) / 2).view(n, p)
    ranks = torch.empty_like(pos)
    ranks.scatter_(1, order, pos)
    return (ranks / p).to(maps.dtype).view(n, h, w)


def to_map(
    attribution: torch.Tensor,
    reduce: Literal["sum", "abs_sum", "l2"] = "sum",
    normalize: Literal["rank", "none", "minmax"] = "rank",
    ties: Literal["average", "ordinal", "random"] = "average",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Turn (N, C, H, W) attributions into (N, H, W) maps, the paper's way by default.

    ``reduce``: ``"sum"`` over channels (the paper), ``"abs_sum"`` (sum of absolute values) or ``"l2"`` (channel
    norm). ``normalize``: ``"rank"`` (the paper: rank / number of pixels, ties averaged, values in (0, 1]),
    ``"minmax"`` (to [0, 1]) or ``"none"``. A (N, H, W) input skips the reduction. ``ties`` and ``generator``: how
    rank normalisation treats tied pixels (:func:`rank_normalize`; the paper averages them).
    """
    check_tensor("attribution", attribution, ndim=(3, 4))
    check_choice("reduce", reduce, ("sum", "abs_sum", "l2"))
    check_choice("normalize", normalize, ("rank", "none", "minmax"))
    a = attribution.detach()
    if a.ndim == 4:
        if reduce == "sum":
            a = a.sum(1)
        elif reduce == "abs_sum":
            a = a.abs().sum(1)
        else:
            a = a.square().sum(1).sqrt()
    if normalize == "rank":
        return rank_normalize(a, ties, generator)
    if normalize == "minmax":
        lo = a.amin(dim=(1, 2), keepdim=True)
        hi = a.amax(dim=(1, 2), keepdim=True)
        return (a - lo) / (hi - lo).clamp(min=torch.finfo(a.dtype).tiny)
    return a


def _reduced(maps: torch.Tensor) -> torch.Tensor:
    """(N, H, W) maps as (N, P), channels summed for (N, C, H, W) input."""
    check_tensor("maps", maps, ndim=(3, 4), finite=False)
    return (maps.sum(1) if maps.ndim == 4 else maps).reshape(len(maps), -1)


def tie_fraction(maps: torch.Tensor) -> torch.Tensor:
    """Fraction of each map's pixels whose value another pixel of the same map shares exactly (0 for distinct values,
    0.6 for a map whose pixels are 60% exact zeros and otherwise distinct, 1 for a constant map).
    maps: (N, H, W), or (N, C, H, W) attributions (summed over channels first, as :func:`to_map` does). Returns (N,)
    float64."""
    flat = _reduced(maps)
    vals, _ = torch.sort(flat.double(), dim=1)
    same = vals[:, 1:] == vals[:, :-1]
    tied = torch.zeros_like(vals, dtype=torch.bool)
    tied[:, 1:] |= same
    tied[:, :-1] |= same
    return tied.double().mean(1)


def degenerate_reason(maps: torch.Tensor, max_tie_fraction: float = 0.9) -> list[str | None]:
    """Why each map cannot be ranked and measured, or None: ``"non-finite values"``, ``"all zero"``, ``"constant"``,
    or ``"NN% tied values"`` when more than ``max_tie_fraction`` of its pixels are exactly tied (rank normalisation
    then makes a plateau whose spectrum is the plateau's shape, not the explanation's). maps: (N, H, W), or
    (N, C, H, W) attributions (summed over channels first). Returns a list of N reasons."""
    if not (isinstance(max_tie_fraction, (int, float)) and 0 <= max_tie_fraction <= 1):
        raise ValueError(f"max_tie_fraction must be a number in [0, 1], got {max_tie_fraction!r}")
    flat = _reduced(maps)
    ties = tie_fraction(maps)
    out: list[str | None] = []
    for row, t in zip(flat, ties.tolist()):
        if not bool(torch.isfinite(row).all()):
            out.append("non-finite values")
        elif bool((row == 0).all()):
            out.append("all zero")
        elif bool((row == row[0]).all()):
            out.append("constant")
        elif t > max_tie_fraction:
            out.append(f"{100 * t:.0f}% tied values")
        else:
            out.append(None)
    return out
