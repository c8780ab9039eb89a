"""From attributions to the paper's explanation maps: channel reduction and rank normalisation."""
from __future__ import annotations

from typing import Literal

import torch

from ._checks import check_choice, check_tensor

__all__ = ["rank_normalize", "to_map"]


def rank_normalize(maps: torch.Tensor, ties: Literal["average", "ordinal"] = "average") -> torch.Tensor:
    """Replace each pixel by its rank among its map's pixels divided by the number of pixels: values in (0, 1].

    ``ties="average"`` gives tied pixels their mean rank (scipy's ``rankdata(method="average")``), so that a flat
    region (e.g. Grad-CAM's zeros) stays flat instead of becoming an artificial ramp; ``"ordinal"`` breaks ties by
    position. maps: (N, H, W) -> (N, H, W), same dtype.
    """
    check_tensor("maps", maps, ndim=3, finite=False)
    check_choice("ties", ties, ("average", "ordinal"))
    n, h, w = maps.shape
    flat = maps.reshape(n, -1)
    p = flat.shape[1]
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
) -> torch.Tensor:
    """Turn (N, C, H, W) attributions into (N, H, W) maps, the paper's way by default.

    ``reduce``: ``"sum"`` over channels (the paper), ``"abs_sum"`` (sum of absolute values) or ``"l2"`` (channel
    norm). ``normalize``: ``"rank"`` (the paper: rank / number of pixels, ties averaged, values in (0, 1]),
    ``"minmax"`` (to [0, 1]) or ``"none"``. A (N, H, W) input skips the reduction.
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
        return rank_normalize(a)
    if normalize == "minmax":
        lo = a.amin(dim=(1, 2), keepdim=True)
        hi = a.amax(dim=(1, 2), keepdim=True)
        return (a - lo) / (hi - lo).clamp(min=torch.finfo(a.dtype).tiny)
    return a
