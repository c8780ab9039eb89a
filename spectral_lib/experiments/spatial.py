"""The spatial-correlation chapter's measurement: a network's VanillaGrad EF in two pixel orders (as the network sees its inputs, and in
the image's own order), for networks trained on permuted pixels."""
from __future__ import annotations

from typing import Any

import torch

from ..checks import check_tensor
from ..data import Condition, pixel_permutation, unpermute_pixels
from ..explain import predict, vanilla_grad
from ..spectral import expected_frequency, radial_profile, tail_exponent, to_map

__all__ = ["condition_permutation", "unpermuted_gradient_ef"]

def condition_permutation(condition: Condition, height: int, width: int) -> torch.Tensor | None:
    """The (H*W,) pixel permutation of ``condition`` for H x W images (None for natural images)."""
    if condition.pixel_permutation is None:
        return None
    return pixel_permutation(height, width, condition.pixel_permutation)


def unpermuted_gradient_ef(model: torch.nn.Module, x: torch.Tensor, perm: torch.Tensor | None,
                           target: torch.Tensor | None = None) -> dict[str, dict[str, Any]]:
    """A network's VanillaGrad measured in two pixel orders: as the network sees its inputs (``"array"``: the order
    of ``x``, permuted for a network trained on permuted images) and in the image's own order (``"image"``: the map
    moved back with :func:`spectral_lib.data.unpermute_pixels`). For ``perm=None`` (natural images) the two
    are the same.

    x: (N, C, H, W) inputs in the network's order; perm: the (H*W,) permutation that made them
    (``permuted = image.flatten(2)[..., perm]``) or None; target: classes to explain (default: the predicted ones).
    Returns ``{"array": {...}, "image": {...}}``, each with ``maps`` (N, H, W) rank-normalised maps, ``ef`` and
    ``ef_nyquist`` (N,) per-map EF (paper definition, cycles/pixel) and ``tail_slope`` (the log-log slope of the
    mean spatial spectrum of the mean-removed gradients, as Theorem 1's ``grad_tail_slope``)."""
    check_tensor("x", x, ndim=4)
    if target is None:
        target = predict(model, x)
    grad = vanilla_grad(model, x, target).detach()
    orders = {"array": grad, "image": grad if perm is None else unpermute_pixels(grad, perm)}
    out = {}
    for name, g in orders.items():
        maps = to_map(g)
        raw = g.sum(1).double()
        raw = raw - raw.mean(dim=(1, 2), keepdim=True)
        out[name] = {"maps": maps.cpu(), "ef": expected_frequency(maps).cpu(),
                     "ef_nyquist": expected_frequency(maps, "nyquist").cpu(),
                     "tail_slope": float(tail_exponent(radial_profile(raw).mean(0)))}
    return out
