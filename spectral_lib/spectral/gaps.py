"""The explanation gap in its forms: how far a method's explanation is from the model's own gradient (VanillaGrad).

* :func:`ef_gap`: ``|EF(method) - EF(VanillaGrad)|`` per image (Delta EF, the quantity the paper's tables are built
  from), in the units of :func:`~spectral_lib.spectral.spectrum.expected_frequency`.
* :func:`paper_gap`: the paper's table arithmetic, ``|mean EF(method) - mean EF(VanillaGrad)|`` over the images (a
  difference of means, not a mean of differences).
* :func:`radial_spectrum_l2`: the squared L2 distance between the two maps' sum-normalised *radial* power spectra. It
  compares phase-free, radially averaged spectra: a shifted or rotated copy of a map scores zero. It is not the
  paper's formal gap, which compares the gradients themselves.
* :func:`gradient_gap`: the paper's formal gap in its gradient form, per image: ``||e - grad f||^2 / ||grad f||^2``
  between a method's attribution ``e`` and the model's own gradient (on the raw, channel-summed attributions, or on
  their rank maps). Unlike the EF forms it is zero only when the maps agree pixel by pixel, so a map whose EF
  happens to equal the gradient's scores no better for it.
* :func:`explanation_gap`: one entry point for the per-image EF and radial-spectrum forms (``kind="ef"`` or
  ``"radial_spectrum_l2"``).
"""
from __future__ import annotations

from typing import Literal

import torch

from ..checks import check_choice, check_tensor
from .maps import rank_normalize
from .spectrum import EF_DEFINITIONS, expected_frequency, radial_profile

__all__ = ["explanation_gap", "ef_gap", "paper_gap", "radial_spectrum_l2", "gradient_gap", "GAP_KINDS", "GRADIENT_GAP_ON"]

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


GRADIENT_GAP_ON = ("raw", "rank")


def gradient_gap(gradient: torch.Tensor, attribution: torch.Tensor,
                 on: Literal["raw", "rank"] = "raw") -> torch.Tensor:
    """The paper's formal explanation gap in its gradient form, per image: ``||e - g||^2 / ||g||^2``.

    ``g``: the model's own gradient (VanillaGrad), ``e``: a method's attribution for the same image, both (N, C, H, W)
    attributions (summed over channels first, the signed sum the paper's maps start from) or (N, H, W) maps; image i
    against image i. ``on="raw"``: the channel sums as they are; the ratio is the relative squared error of ``e`` as
    an estimate of ``g`` (dimensionless: 0 for ``e = g``, 1 for ``e = 0`` or ``e = 2g``, at most 1 for a filter that
    only removes part of ``g``'s energy, such as a Fourier low-pass). A method explaining another quantity (IG's
    ``x * mean gradient``, a CAM) is compared in the gradient's units as it is, so its raw gap also counts its
    difference of scale. ``on="rank"``: both rank-normalised first (average ranks for ties, :func:`rank_normalize`),
    which is scale-free (any increasing transform of ``e`` scores the same). Returns (N,) float64 on the gradient's
    device; NaN where ``||g|| = 0`` (no gradient to compare with) or a value is not finite."""
    check_choice("on", on, GRADIENT_GAP_ON)
    check_tensor("gradient", gradient, ndim=(3, 4), finite=False)
    check_tensor("attribution", attribution, ndim=(3, 4), finite=False)
    g = (gradient.sum(1) if gradient.ndim == 4 else gradient).detach().double()
    e = (attribution.sum(1) if attribution.ndim == 4 else attribution).detach().double().to(g.device)
    if g.shape != e.shape:
        raise ValueError(f"gradient and attribution must give maps of the same shape, got {tuple(g.shape)} and "
                         f"{tuple(e.shape)} (after summing channels)")
    if on == "rank":
        g, e = rank_normalize(g), rank_normalize(e)
    den = g.square().flatten(1).sum(1)
    num = (e - g).square().flatten(1).sum(1)
    out = num / den
    bad = ~(torch.isfinite(out)) | (den == 0)
    return torch.where(bad, torch.full_like(out, float("nan")), out)


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
