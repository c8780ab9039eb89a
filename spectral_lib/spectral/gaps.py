"""The explanation gap in its forms: how far a method's explanation is from the model's own gradient (VanillaGrad).

* :func:`ef_gap`: ``|EF(method) - EF(VanillaGrad)|`` per image (Delta EF, the quantity the paper's tables are built
  from), in the units of :func:`~spectral_lib.spectral.spectrum.expected_frequency`.
* :func:`paper_gap`: the paper's table arithmetic, ``|mean EF(method) - mean EF(VanillaGrad)|`` over the images (a
  difference of means, not a mean of differences).
* :func:`radial_spectrum_l2`: the squared L2 distance between the two maps' sum-normalised *radial* power spectra. It
  compares phase-free, radially averaged spectra: a shifted or rotated copy of a map scores zero. It is not the
  paper's formal gap, which compares the gradients themselves.
* :func:`explanation_gap`: one entry point for the per-image forms (``kind="ef"`` or ``"radial_spectrum_l2"``).
"""
from __future__ import annotations

from typing import Literal

import torch

from ..checks import check_choice, check_tensor
from .spectrum import EF_DEFINITIONS, expected_frequency, radial_profile

__all__ = ["explanation_gap", "ef_gap", "paper_gap", "radial_spectrum_l2", "GAP_KINDS"]

GAP_KINDS = ("ef", "radial_spectrum_l2")
GapKind = Literal["ef", "radial_spectrum_l2"]


def _check_pair(reference_maps: torch.Tensor, surrogate_maps: torch.Tensor) -> None:
    check_tensor("reference_maps", reference_maps, ndim=(2, 3))
    check_tensor("surrogate_maps", surrogate_maps, ndim=(2, 3))
    if reference_maps.shape != surrogate_maps.shape:
        raise ValueError(
            f"reference_maps and surrogate_maps must have the same shape, got {tuple(reference_maps.shape)} "
            f"and {tuple(surrogate_maps.shape)}"
        )


def ef_gap(reference_maps: torch.Tensor, surrogate_maps: torch.Tensor,
           definition: Literal["paper", "nyquist"] = "paper") -> torch.Tensor:
    """``|EF(surrogate) - EF(reference)|`` per image. maps: (N, H, W) (image i against image i) or (H, W).
    Returns (N,) (or 0-d), in the units of :func:`expected_frequency` with ``definition``."""
    _check_pair(reference_maps, surrogate_maps)
    check_choice("definition", definition, EF_DEFINITIONS)
    return (expected_frequency(surrogate_maps, definition) - expected_frequency(reference_maps, definition)).abs()


def paper_gap(ef_method: torch.Tensor, ef_reference: torch.Tensor) -> float:
    """The gap as the paper's tables compute it: ``|mean(ef_method) - mean(ef_reference)|`` of per-image EF values
    (1-D tensors or arrays, NaN values skipped in each mean). A difference of means: an image whose EF rises and one
    whose EF falls can cancel, so it is at most the mean of the per-image gaps."""
    a = torch.as_tensor(ef_method, dtype=torch.float64).flatten()
    b = torch.as_tensor(ef_reference, dtype=torch.float64).flatten()
    if a.numel() == 0 or b.numel() == 0:
        raise ValueError("paper_gap needs at least one EF value on each side")
    return float((a.nanmean() - b.nanmean()).abs())


def radial_spectrum_l2(reference_maps: torch.Tensor, surrogate_maps: torch.Tensor) -> torch.Tensor:
    """Squared L2 distance between the sum-normalised radial power spectra of two maps, per image:
    ``sum_r (P_s(r) / sum P_s - P_ref(r) / sum P_ref)^2``. Phase-free and radially averaged, so a shifted map scores
    zero against its original. maps: (N, H, W) or (H, W); returns (N,) (or 0-d)."""
    _check_pair(reference_maps, surrogate_maps)
    ps = radial_profile(surrogate_maps)
    pr = radial_profile(reference_maps)
    ps = ps / ps.sum(-1, keepdim=True)
    pr = pr / pr.sum(-1, keepdim=True)
    return (ps - pr).square().sum(-1)


def explanation_gap(
    reference_maps: torch.Tensor,
    surrogate_maps: torch.Tensor,
    kind: GapKind = "ef",
    definition: Literal["paper", "nyquist"] = "paper",
) -> torch.Tensor:
    """Per-image gap between a method's maps and the model's own (VanillaGrad) maps.

    ``kind="ef"``: :func:`ef_gap` (with ``definition``); ``kind="radial_spectrum_l2"``: :func:`radial_spectrum_l2`.
    reference_maps, surrogate_maps: (N, H, W) maps of the same shape (image i against image i). Returns (N,)."""
    check_choice("kind", kind, GAP_KINDS)
    check_choice("definition", definition, EF_DEFINITIONS)
    if kind == "ef":
        return ef_gap(reference_maps, surrogate_maps, definition)
    return radial_spectrum_l2(reference_maps, surrogate_maps)
