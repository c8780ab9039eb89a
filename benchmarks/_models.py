"""The model and inputs shared by the ``vanilla`` and ``smooth`` cases (and their memory probes)."""
from __future__ import annotations

import torch
from torch import nn

IN_SHAPE = (3, 64, 64)


def setup(n: int, seed: int = 0):
    """(model in eval mode, LogSoftmax-wrapped model for captum, x (n, 3, 64, 64), predicted targets (n,))."""
    from spectral_lib.explain import predict
    from spectral_lib.nn import build_model

    torch.manual_seed(seed)
    model = build_model("simple_cnn", "relu", IN_SHAPE, 10).eval()
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(n, *IN_SHAPE, generator=g)
    target = predict(model, x)
    wrapped = nn.Sequential(model, nn.LogSoftmax(dim=1)).eval()
    return model, wrapped, x, target


def quiet_captum():
    """captum warns that inputs did not require grad (it sets it itself): silence that one warning."""
    import warnings

    warnings.filterwarnings("ignore", message="Input Tensor .* did not already require gradients")
