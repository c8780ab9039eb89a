"""The paper's measurements as Quantus metrics (Quantus 0.6; ``pip install spectral_lib[quantus]``).

* :class:`ExpectedFrequency`: per-sample Expected Frequency of the explanation's map (channel sum, rank-normalised,
  :func:`spectral_lib.spectral.to_map`), :func:`spectral_lib.spectral.expected_frequency` with ``definition="paper"``
  (default) or ``"nyquist"``. Category: complexity; lower is better (a smoother, simpler explanation).
* :class:`EFDifference`: ``|EF(a) - EF(VanillaGrad of the model at x)|`` per sample: how far an explanation's
  complexity is from the model's own gradient's (the per-image form of the paper's Delta EF). Category: complexity
  (it compares two complexity scores); lower is closer. It is *not* a faithfulness test: any map whose EF happens to
  equal the gradient's scores 0. Torch models only (the reference is :func:`spectral_lib.explain.vanilla_grad`).

**The paper's gap as an aggregate.** The paper's tables report ``|mean EF(method) - mean EF(VanillaGrad)|``, which
no aggregate of the per-sample ``|Delta EF|`` can give (the mean of absolute values is >= the absolute value of the
mean, and the signs are lost). ``EFDifference(signed=True)`` therefore scores each sample with the *signed*
difference ``EF(a) - EF(VanillaGrad)`` (positive: more complex than the gradient), and its aggregate function is
:func:`paper_gap` ``= |mean of the signed differences|``, which equals ``|mean EF(a) - mean EF(VanillaGrad)|`` over
the same samples by linearity of the mean. So ``EFDifference(signed=True, return_aggregate=True)`` returns the
paper's gap, and ``quantus.evaluate(..., agg_func=paper_gap)`` too; combining :func:`paper_gap` with unsigned
scores is refused (ValueError).

**Degenerate explanations** (constant, all-zero, non-finite, or more than ``max_tie_fraction`` = 90% tied pixels:
:func:`spectral_lib.spectral.degenerate_reason`) cannot be ranked, and their "EF" would be the plateau's: both
metrics score them NaN (``flag_degenerate=True``, default), with a warning unless ``disable_warnings``; the
aggregates (:func:`nanmean` by default, :func:`paper_gap`) skip NaN.

Both are called the way Quantus calls its own metrics::

    metric = ExpectedFrequency()
    scores = metric(model=model, x_batch=x, y_batch=y, a_batch=a, device="cpu")   # list of N floats

with numpy ``x_batch`` (N, C, H, W) (or channel-last, as Quantus infers), ``y_batch`` (N,) and ``a_batch``
(N, C, H, W), (N, 1, H, W) or (N, H, W); or with ``explain_func=`` instead of ``a_batch``. Image data only.

Defaults differ from Quantus's usual ``abs=True, normalise=True``: the paper's map sums the *signed* attributions over
channels before rank normalisation, so ``abs=False`` (``normalise`` is harmless either way: Quantus divides by a
positive maximum, which leaves ranks unchanged). With ``abs=True`` the attributions are made absolute first, in both
metrics (and, for the EF difference, on the VanillaGrad reference too).
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import torch

try:
    from quantus.helpers.enums import DataType, EvaluationCategory, ModelType, ScoreDirection
    from quantus.metrics.base import Metric
except ImportError as e:  # pragma: no cover - exercised only without quantus
    raise ImportError("spectral_lib.metrics.quantus_ef needs Quantus 0.6: pip install 'quantus==0.6.*' "
                      "(or pip install 'spectral_lib[quantus]')") from e

from ..explain import vanilla_grad
from ..spectral import EF_DEFINITIONS, degenerate_reason, expected_frequency, to_map

if sys.version_info >= (3, 8):
    from typing import final
else:  # pragma: no cover
    from typing_extensions import final

__all__ = ["ExpectedFrequency", "EFDifference", "map_ef", "paper_gap", "nanmean"]


def nanmean(scores) -> float:
    """Mean of the finite scores (NaN, e.g. of degenerate maps, skipped); NaN when there is none. The default
    aggregate of :class:`ExpectedFrequency` and of the unsigned :class:`EFDifference`."""
    a = np.asarray(scores, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def paper_gap(scores) -> float:
    """The paper's explanation gap from *signed* per-sample differences ``d_i = EF(a_i) - EF(VanillaGrad_i)``:
    ``|mean_i d_i|`` = ``|mean EF(a) - mean EF(VanillaGrad)|`` over the samples with a finite ``d_i``; NaN when
    there is none. The aggregate of ``EFDifference(signed=True)``."""
    return abs(nanmean(scores))


def _degenerate_mask(a_batch: np.ndarray, max_tie_fraction: float) -> np.ndarray:
    a = torch.from_numpy(np.ascontiguousarray(a_batch)).double()
    return np.array([r is not None for r in degenerate_reason(a, max_tie_fraction)], dtype=bool)


def map_ef(a_batch: np.ndarray, definition: str = "paper") -> np.ndarray:
    """EF of each explanation's paper map: channel sum, rank normalisation, EF.

    a_batch: (N, C, H, W) or (N, H, W) attributions (channel first). Returns (N,) float64."""
    if definition not in EF_DEFINITIONS:
        raise ValueError(f"definition must be one of {list(EF_DEFINITIONS)}, got {definition!r}")
    a = torch.from_numpy(np.ascontiguousarray(a_batch))
    if not a.is_floating_point():
        a = a.double()
    if a.ndim not in (3, 4):
        raise ValueError(f"ExpectedFrequency needs image explanations (N, C, H, W) or (N, H, W), got shape {a.shape}")
    return expected_frequency(to_map(a), definition).double().numpy()


class _SpectralMetric(Metric[List[float]]):
    """Shared constructor and ``__call__`` of the spectral metrics (Quantus's conventions)."""

    data_applicability = {DataType.IMAGE}

    def __init__(
        self,
        definition: str = "paper",
        abs: bool = False,
        normalise: bool = False,
        normalise_func: Optional[Callable[[np.ndarray], np.ndarray]] = None,
        normalise_func_kwargs: Optional[Dict[str, Any]] = None,
        return_aggregate: bool = False,
        aggregate_func: Optional[Callable] = None,
        default_plot_func: Optional[Callable] = None,
        disable_warnings: bool = False,
        display_progressbar: bool = False,
        flag_degenerate: bool = True,
        max_tie_fraction: float = 0.9,
        **kwargs,
    ):
        """
        Parameters
        ----------
        definition: str
            EF definition of :func:`spectral_lib.spectral.expected_frequency`: "paper" (default) or "nyquist".
        flag_degenerate: boolean
            Score degenerate maps NaN (default True; see the module docstring).
        max_tie_fraction: float
            Maps with more tied pixels than this fraction are degenerate (default 0.9).
        abs: boolean
            Take absolute values of the attributions before the channel sum, default=False (the paper's map).
        normalise: boolean
            Apply ``normalise_func`` to the attributions, default=False (no effect on the rank-normalised map
            for Quantus's default ``normalise_by_max``).
        normalise_func, normalise_func_kwargs, return_aggregate, aggregate_func, default_plot_func,
        disable_warnings, display_progressbar, kwargs:
            As in every Quantus metric; ``aggregate_func`` defaults to :func:`nanmean`.
        """
        if definition not in EF_DEFINITIONS:
            raise ValueError(f"definition must be one of {list(EF_DEFINITIONS)}, got {definition!r}")
        if not (isinstance(max_tie_fraction, (int, float)) and 0 <= max_tie_fraction <= 1):
            raise ValueError(f"max_tie_fraction must be a number in [0, 1], got {max_tie_fraction!r}")
        if aggregate_func is None:
            aggregate_func = nanmean
        super().__init__(
            abs=abs,
            normalise=normalise,
            normalise_func=normalise_func,
            normalise_func_kwargs=normalise_func_kwargs,
            return_aggregate=return_aggregate,
            aggregate_func=aggregate_func,
            default_plot_func=default_plot_func,
            display_progressbar=display_progressbar,
            disable_warnings=disable_warnings,
            **kwargs,
        )
        self.definition = definition
        self.flag_degenerate = flag_degenerate
        self.max_tie_fraction = max_tie_fraction

    def _flag(self, scores: np.ndarray, *batches: np.ndarray) -> List[float]:
        """``scores`` with NaN where a map of any of ``batches`` is degenerate (when flagging), as a list."""
        scores = np.asarray(scores, dtype=np.float64).copy()
        if self.flag_degenerate:
            bad = np.zeros(len(scores), dtype=bool)
            for b in batches:
                bad |= _degenerate_mask(b, self.max_tie_fraction)
            if bad.any() and not getattr(self, "_disable_warnings", False):
                import warnings

                warnings.warn(f"{self.name}: {int(bad.sum())} of {len(bad)} explanations are degenerate (constant, "
                              f"all zero or mostly tied): scored NaN", stacklevel=3)
            scores[bad] = np.nan
        return scores.tolist()

    def __call__(
        self,
        model,
        x_batch: np.ndarray,
        y_batch: np.ndarray,
        a_batch: Optional[np.ndarray] = None,
        s_batch: Optional[np.ndarray] = None,
        channel_first: Optional[bool] = None,
        explain_func: Optional[Callable] = None,
        explain_func_kwargs: Optional[Dict] = None,
        model_predict_kwargs: Optional[Dict] = None,
        softmax: Optional[bool] = False,
        device: Optional[str] = None,
        batch_size: int = 64,
        **kwargs,
    ) -> List[float]:
        """Evaluate the explanations ``a_batch`` (or those of ``explain_func``) of ``x_batch`` (N, C, H, W) for
        ``y_batch`` (N,); returns one score per sample (a list of N floats), or ``[aggregate]`` with
        ``return_aggregate=True``. Arguments as for every Quantus metric."""
        return super().__call__(
            model=model,
            x_batch=x_batch,
            y_batch=y_batch,
            a_batch=a_batch,
            s_batch=s_batch,
            custom_batch=None,
            channel_first=channel_first,
            explain_func=explain_func,
            explain_func_kwargs=explain_func_kwargs,
            softmax=softmax,
            device=device,
            model_predict_kwargs=model_predict_kwargs,
            batch_size=batch_size,
            **kwargs,
        )


@final
class ExpectedFrequency(_SpectralMetric):
    """Expected Frequency (EF) of an explanation's radially averaged power spectrum (Mehrpanah et al., ICCV 2025).

    Per sample: sum the attribution over channels, rank-normalise it (ties averaged), take the radially averaged
    power spectrum and its expected frequency (:func:`spectral_lib.spectral.expected_frequency`, ``definition``
    "paper" by default). Lower EF = less high-frequency content = a simpler explanation: lower is better.
    Needs no model (``model=None`` is accepted).

    References:
        1) Amir Mehrpanah, Matteo Gamba, Kevin Smith, Hossein Azizpour: "On the Complexity-Faithfulness Trade-off
        of Gradient-Based Explanations." ICCV 2025.
    """

    name = "ExpectedFrequency"
    data_applicability = {DataType.IMAGE}
    model_applicability = {ModelType.TORCH, ModelType.TF}
    score_direction = ScoreDirection.LOWER
    evaluation_category = EvaluationCategory.COMPLEXITY

    def evaluate_instance(self, x: np.ndarray, a: np.ndarray) -> float:
        """EF of one explanation ``a`` (C, H, W) or (H, W) of input ``x`` (C, H, W); NaN if degenerate."""
        return float(self._flag(map_ef(a[None], self.definition), a[None])[0])

    def evaluate_batch(self, x_batch: np.ndarray, a_batch: np.ndarray, **kwargs) -> List[float]:
        """EF of each explanation of ``a_batch`` (N, C, H, W); ``x_batch`` unused. Returns N floats (NaN for a
        degenerate map)."""
        return self._flag(map_ef(a_batch, self.definition), a_batch)


@final
class EFDifference(_SpectralMetric):
    """EF difference ``|EF(a) - EF(VanillaGrad)|`` between an explanation and the model's own gradient at x
    (``signed=True``: ``EF(a) - EF(VanillaGrad)``, aggregated by :func:`paper_gap` into the paper's gap).

    The reference is :func:`spectral_lib.explain.vanilla_grad` (d log_softmax(model(x))[y] / dx) for the class
    ``y_batch`` names (``target="y"``, default, the class the evaluated explanations explain in Quantus) or the
    class the model predicts (``target="predicted"``, the paper's protocol). EF as in :class:`ExpectedFrequency`
    (same ``definition``, same ``abs`` / ``normalise`` applied to the reference). 0 for the model's own
    VanillaGrad and for any map of the same EF; lower is closer in complexity (not a faithfulness measure: see the
    module docstring). Torch models only.

    References:
        1) Amir Mehrpanah, Matteo Gamba, Kevin Smith, Hossein Azizpour: "On the Complexity-Faithfulness Trade-off
        of Gradient-Based Explanations." ICCV 2025.
    """

    name = "EFDifference"
    data_applicability = {DataType.IMAGE}
    model_applicability = {ModelType.TORCH}
    score_direction = ScoreDirection.LOWER
    evaluation_category = EvaluationCategory.COMPLEXITY

    def __init__(self, definition: str = "paper", target: str = "y", signed: bool = False, **kwargs):
        """``target``: "y" (explain ``y_batch``, default) or "predicted". ``signed``: score ``EF(a) - EF(VG)``
        instead of its absolute value, with :func:`paper_gap` (the paper's ``|mean - mean|``) as the default
        aggregate. Other arguments as :class:`ExpectedFrequency`'s."""
        if target not in ("y", "predicted"):
            raise ValueError(f"target must be 'y' or 'predicted', got {target!r}")
        if not isinstance(signed, bool):
            raise ValueError(f"signed must be True or False, got {signed!r}")
        if kwargs.get("aggregate_func") is paper_gap and not signed:
            raise ValueError("paper_gap (|mean EF(a) - mean EF(VanillaGrad)|) needs signed per-sample differences: "
                             "use EFDifference(signed=True); an aggregate of |EF(a) - EF(VanillaGrad)| cannot give it")
        if signed and kwargs.get("aggregate_func") is None:
            kwargs["aggregate_func"] = paper_gap
        super().__init__(definition=definition, **kwargs)
        self.target = target
        self.signed = signed

    def _reference(self, model, x_batch: np.ndarray, y_batch: Optional[np.ndarray]) -> np.ndarray:
        """VanillaGrad of the model at ``x_batch`` (N, C, H, W), processed like the evaluated attributions."""
        net = model.get_model() if hasattr(model, "get_model") else model
        if not isinstance(net, torch.nn.Module):
            raise ValueError(f"EFDifference needs a torch model, got {type(net).__name__}")
        device = next((p.device for p in net.parameters()), None)
        if device is None:
            device = torch.device(getattr(model, "device", None) or "cpu")
        x = torch.as_tensor(np.asarray(x_batch), dtype=torch.float32, device=device)
        if self.target == "y":
            if y_batch is None:
                raise ValueError("EFDifference(target='y') needs y_batch")
            t = torch.as_tensor(np.asarray(y_batch), device=device).long().flatten()
        else:
            t = None
        ref = vanilla_grad(net, x, target=t).detach().cpu().numpy()
        if self.normalise:
            ref = self.normalise_func(ref)
        if self.abs:
            ref = np.abs(ref)
        return ref

    def evaluate_instance(self, model, x: np.ndarray, y: Any, a: np.ndarray) -> float:
        """EF difference of one explanation ``a`` (C, H, W) of input ``x`` (C, H, W) for class ``y``."""
        return float(self.evaluate_batch(model, x[None], np.asarray([y]), a[None])[0])

    def evaluate_batch(self, model, x_batch: np.ndarray, y_batch: np.ndarray, a_batch: np.ndarray,
                       **kwargs) -> List[float]:
        """EF difference of each explanation of ``a_batch`` (N, C, H, W) against the model's VanillaGrad at ``x_batch``
        (N, C, H, W) for ``y_batch`` (N,). Returns N floats."""
        if model is None:
            raise ValueError("EFDifference needs the model (its VanillaGrad is the reference)")
        ref = self._reference(model, x_batch, y_batch)
        diff = map_ef(a_batch, self.definition) - map_ef(ref, self.definition)
        return self._flag(diff if self.signed else np.abs(diff), a_batch, ref)
