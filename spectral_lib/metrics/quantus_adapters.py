"""Adapters between the project and Quantus 0.6 for :mod:`spectral_lib.metrics.faithfulness`: the scored model
(:class:`LogSoftmaxModel`), explanation functions with Quantus's signature (:func:`quantus_explain_func`, the
random-map control :func:`random_map_explain_func`), the ROAD imputation that works on RGB input
(:func:`road_pixel_imputation`), a row-by-row similarity for constant maps, and the context managers that silence
Quantus's notices and keep the global random generators as they were."""
from __future__ import annotations

import contextlib
import warnings
import zlib
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch
from torch import nn

from ..explain import explain, parse_method_spec

__all__ = ["LogSoftmaxModel", "quantus_explain_func", "random_map", "random_map_explain_func",
           "road_pixel_imputation"]


def _quantus():
    """Quantus, imported on first use (so that reading cached scores, the constants and the settings need no
    Quantus import, which takes seconds)."""
    try:
        import quantus
    except ImportError as e:  # pragma: no cover - exercised only without quantus
        raise ImportError("spectral_lib.metrics.faithfulness needs Quantus 0.6: pip install 'quantus==0.6.*'") from e
    return quantus


class LogSoftmaxModel(nn.Module):
    """``log_softmax(net(x), dim=1)``: what the suite scores; ``.net`` is the wrapped network."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.net(x), dim=1)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.net if isinstance(model, LogSoftmaxModel) else model


def quantus_explain_func(method: str, options: Optional[Callable[[torch.Tensor], dict] | dict] = None) -> Callable:
    """An explanation function with the signature Quantus calls, ``f(model, inputs, targets, **kwargs) -> numpy``,
    for a method spec of :data:`spectral_lib.explain.METHODS` (``"beta_smooth_grad:1"`` included). It unwraps a
    :class:`LogSoftmaxModel` (or Quantus's randomised copy of one) and calls the method on the network, on the
    network's device, with ``options`` (a dict, or a callable ``options(x) -> dict`` called per call, e.g. to give
    SmoothGrad a freshly seeded generator each time). Returns (N, C, H, W) float32 numpy."""
    name, spec_options = parse_method_spec(method)

    def f(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **kwargs: Any) -> np.ndarray:
        net = _unwrap(model)
        device = next(net.parameters()).device
        x = torch.as_tensor(np.asarray(inputs, dtype=np.float32), device=device)
        t = torch.as_tensor(np.asarray(targets).astype(np.int64), device=device)
        opts = options(x) if callable(options) else dict(options or {})
        a = explain(name, net, x, target=t, **{**opts, **spec_options})
        return a.detach().cpu().numpy().astype(np.float32)

    return f


def random_map(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """The control map: N(0, 1) noise of shape (N, 1, H, W), image i's drawn from a generator seeded by ``seed`` and
    the bytes of image i, so it does not depend on the model, the batch or the call (the randomisation tests must
    flag it: it is the same for a randomised model and for every class)."""
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    out = np.empty((len(x), 1, *x.shape[2:]), dtype=np.float32)
    for i, xi in enumerate(x):
        rng = np.random.default_rng([int(seed), zlib.crc32(xi.tobytes())])
        out[i, 0] = rng.standard_normal(x.shape[2:], dtype=np.float32)
    return out


def random_map_explain_func(seed: int = 0) -> Callable:
    """:func:`random_map` with Quantus's explanation-function signature (ignores the model and the targets)."""

    def f(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **kwargs: Any) -> np.ndarray:
        return random_map(inputs, seed)

    return f


def road_pixel_imputation(arr: np.ndarray, indices: Any, noise: float = 0.01, **kwargs: Any) -> np.ndarray:
    """Quantus's ``noisy_linear_imputation`` with ROAD's flat C*H*W indices mapped to pixels (``index % (H*W)``).
    With the channel-summed map repeated over the channels, the top k flat indices are the channel copies of the top
    k/C pixels, so exactly p% of the pixels are imputed; a no-op for one channel."""
    from quantus.functions.perturb_func import noisy_linear_imputation

    hw = arr.shape[-1] * arr.shape[-2]
    return noisy_linear_imputation(arr, np.unique(np.asarray(indices) % hw), noise=noise)


def _nearest_divisor(n: int, target: int) -> int:
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - target), d))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence what Quantus 0.6 emits on valid settings (its 'perturbation didn't cause change' notice, NumPy/SciPy
    warnings on constant maps: NaN scores are kept and counted by the callers)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*didn't cause change in input.*")
        warnings.filterwarnings("ignore", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message=".*constant.*")
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="quantus")
        yield


@contextlib.contextmanager
def _rng_preserved() -> Iterator[None]:
    """Restore numpy's and torch's global generators afterwards (Quantus seeds both)."""
    np_state, torch_state = np.random.get_state(), torch.random.get_rng_state()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        torch.random.set_rng_state(torch_state)


def _rowwise(similarity: Callable) -> Callable:
    """Quantus's similarity function applied one image at a time. Its batched Spearman hands scipy the whole
    (B, P) stack at once, and scipy returns one scalar instead of a matrix when some maps are constant (an all-zero
    CAM), which raises in Quantus 0.6; row by row a constant map gets NaN (flagged) and the others their value."""

    def f(a: np.ndarray, b: np.ndarray, batched: bool = False, **kwargs: Any) -> Any:
        if not batched:
            return similarity(a, b, batched=False, **kwargs)
        return np.array([similarity(ai, bi, batched=False, **kwargs) for ai, bi in zip(a, b)], dtype=float)

    return f
