"""Independent faithfulness, randomisation and complexity scores with Quantus 0.6's own metric classes.

    scores = faithfulness_scores(model, x, y, attributions, explain_funcs, FaithfulnessSettings.chapter())
    scores["vanilla_grad"]["PixelFlipping"]  -> np.ndarray (N,): one score per image

Every score is one Quantus class called with ``a_batch``; this module chooses the settings, feeds the inputs, seeds
the random number generators and reduces Quantus's curves to one number per image (:data:`METRICS` states each
reduction, :data:`DIRECTION` which way is better). Nothing is re-implemented.

**What is explained.** The scored model is ``log_softmax(model(x))`` (:class:`LogSoftmaxModel`): the metrics that
read raw outputs (FaithfulnessCorrelation, Infidelity) score the paper's explained quantity, the log-softmax of the
predicted class; those that apply a softmax are unaffected (softmax(log_softmax z) = softmax z). ``y`` is the class
predicted on the clean image (ROAD counts "still predicted as y"). Explanation functions built by
:func:`quantus_explain_func` unwrap the model they are given (Quantus's randomised copy included) and call the
project's method on the network itself, so a captum row explains the logits and ours the log-softmax, as in the
chapters' tables.

**Maps.** Every metric scores the paper's map before rank normalisation, the signed sum over channels
((N, 1, H, W)), so that methods with and without channels (a CAM) compare alike; Infidelity alone gets the
per-channel attribution where a method has it (its ``a . (x - x~)`` needs it).

**Settings for 28x28 (one channel) and 32x32x3 inputs normalised to mean 0 / std 1 per channel** (measured on the
simple CNN on MNIST and CIFAR-10, 100 test images, in /work/scratch/quantus/FINDINGS.md of the project's notes):

* baseline 0 = the dataset mean in normalised units (mean imputation), for every removal metric;
* PixelFlipping (Bach et al. 2015): most relevant pixels first, ``pf_pixels_per_step`` pixels per step (Quantus
  needs ``features_in_step`` to divide H*W: the nearest divisor of H*W to pixels*C is used), |a| ranking; the score
  is the normalised area under the softmax-probability curve (lower: more faithful). 49 pixels per step (16 steps at
  28x28, 24 at 32x32) gives per-image scores with rank correlation 1.00 to 16 pixels per step at a third of the cost;
* RegionPerturbation (Samek et al. 2017): non-overlapping patches of ``ceil(H / rp_regions_per_side)`` pixels
  (4 per side: 7 px at 28, 8 px at 32), most relevant first, every region; the score is the AOPC, the mean drop of
  p(y) over the curve (**higher** is more faithful, although Quantus's class says lower: its curve is a drop);
* ROAD (Rong et al. 2022): noisy linear imputation, MoRF accuracy averaged over ``road_percentages`` (lower);
* FaithfulnessCorrelation (Bhatt et al. 2020): subsets of 10% of the features (Quantus's 224 is meant for
  224x224x3), 100 runs (higher); Infidelity (Yeh et al. 2019): Gaussian noise of std 0.1 patch by patch, patches of
  H/4 (they must divide H and W), 5 samples (lower). Both are per-image noisy and Infidelity rewards smoothing (it
  scores faithfulness to the noise-smoothed model), so the chapters' budget preset leaves them out;
* MPRT (Adebayo et al. 2018): Spearman correlation of |a| with |a| of the fully randomised model (every layer
  re-initialised bottom-up with Quantus's seed; ``skip_layers``, ``return_last_correlation``): lower means the
  explanation changed more; EfficientMPRT (relative rise of the explanation's histogram entropy, higher);
  RandomLogit (Sixt et al. 2020): SSIM between the map for y and the map for a random other class (lower);
* Sparseness (Gini index, higher: sparser) and Complexity (entropy of the normalised |map|, lower: simpler) of
  |map| normalised per image.

**Quantus 0.6.0 defects worked around** (all reproduced on the project's models):

1. ROAD's post-processing averages the *first batch only* into {percentage: accuracy}: it is disabled on the
   instance and the per-batch (B, P) 0/1 arrays are kept, so results do not depend on the batch size;
2. ROAD ranks C*H*W flat indices but imputes on the H*W grid (IndexError on RGB): it gets the channel-summed map
   repeated over the channels and an imputation that maps indices to pixels (:func:`road_pixel_imputation`);
3. ``np.trapz`` is gone in NumPy >= 2.4, so PixelFlipping's AUC is taken here with ``np.trapezoid`` on Quantus's
   curves;
4. RandomLogit defaults to 1000 classes (the model's class count is read instead); FaithfulnessCorrelation to one
   aggregate number (``return_aggregate=False``); MPRT's ``return_average_correlation`` averages in the "original"
   entry (``return_last_correlation`` is used); Sparseness and Complexity modify ``a_batch`` in place (copies are
   passed);
5. the batched Spearman similarity (MPRT, RandomLogit with ``rl_similarity="spearman"``) raises when a batch holds a
   constant map (scipy then returns one scalar): it is applied map by map instead.

**Degenerate maps.** A constant map (an all-zero CAM) or a non-finite one has no pixel order to test: it scores NaN
under every metric, counted by the callers. The adapters (scored model, explanation functions, the random-map
control, the ROAD imputation) are in :mod:`.quantus_adapters`.

**Determinism.** Quantus draws from numpy's global generator (subsets, noise, imputation noise) and RandomLogit
reseeds it at every batch; MPRT seeds torch's. :func:`faithfulness_scores` seeds numpy with ``settings.seed`` before
every (method, metric) call (every method sees the same random subsets and noise) and restores both global
generators afterwards, so calling it changes no other code's random numbers.

**Ties.** Quantus orders pixels with ``np.argsort`` of the map, so exactly tied pixels (a CAM's or guided
backprop's zeros) are removed in an order numpy chooses, not in a random one: a caveat for maps with many ties.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Mapping, Optional

import numpy as np
import torch
from torch import nn

from .quantus_adapters import (LogSoftmaxModel, _nearest_divisor, _quantus, _quiet, _rng_preserved, _rowwise,
                               quantus_explain_func, random_map, random_map_explain_func, road_pixel_imputation)


__all__ = ["FaithfulnessSettings", "faithfulness_scores", "quantus_explain_func", "random_map",
           "random_map_explain_func", "road_pixel_imputation", "LogSoftmaxModel", "METRICS", "DIRECTION",
           "NEEDS_EXPLAIN_FUNC", "RANDOM_MAP"]

RANDOM_MAP = "random_map"  # the control: a model-independent N(0, 1) map per image (see random_map)

# Per-image reduction of each metric's Quantus output, and which way the reduced number is better (+1 higher).
METRICS = {
    "ROAD": "mean MoRF accuracy over road_percentages (area under the ROAD curve / its range)",
    "PixelFlipping": "normalised AUC (np.trapezoid over [0, 1]) of the MoRF softmax-probability curve",
    "RegionPerturbation": "AOPC: mean over the curve of p(x) - p(x with the k most relevant patches replaced)",
    "FaithfulnessCorrelation": "Pearson correlation of subset attribution and output drop, as returned",
    "Infidelity": "mean squared error of a . (x - x~) against f(x) - f(x~), as returned",
    "MPRT": "Spearman(|a|, |a of the fully randomised model|), as returned (return_last_correlation)",
    "EfficientMPRT": "relative rise of the explanation's histogram entropy under full randomisation, as returned",
    "RandomLogit": "SSIM (or Spearman) of the map for y and for a random other class, as returned",
    "Sparseness": "Gini index of |map|, as returned",
    "Complexity": "entropy of |map| / sum |map|, as returned",
}
DIRECTION = {"ROAD": -1, "PixelFlipping": -1, "RegionPerturbation": +1, "FaithfulnessCorrelation": +1,
             "Infidelity": -1, "MPRT": -1, "EfficientMPRT": +1, "RandomLogit": -1, "Sparseness": +1,
             "Complexity": -1}
NEEDS_EXPLAIN_FUNC = frozenset({"MPRT", "EfficientMPRT", "RandomLogit"})  # they re-explain a changed model / class


@dataclass(frozen=True)
class FaithfulnessSettings:
    """The Quantus suite's settings (plain data: it is part of the cache key). Reasons in the module docstring."""

    metrics: tuple[str, ...] = ("ROAD", "PixelFlipping", "RegionPerturbation", "FaithfulnessCorrelation",
                                "Infidelity", "MPRT", "EfficientMPRT", "RandomLogit", "Sparseness", "Complexity")
    seed: int = 0  # numpy's global generator is seeded with this before every (method, metric) call
    batch_size: int = 100  # images per Quantus batch: speed only (ROAD's batch defect is worked around)
    baseline: float = 0.0  # replacement value of the removal metrics, normalised units (the dataset mean)
    road_percentages: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90)
    road_noise: float = 0.01  # std of the noise added to imputed values (ROAD's default)
    pf_pixels_per_step: int = 16
    rp_regions_per_side: int = 7  # patch = ceil(H / this): 4 px at 28, 5 px at 32
    fc_subset_fraction: float = 0.1
    fc_nr_runs: int = 100
    inf_patches_per_side: int = 4
    inf_noise_std: float = 0.1
    inf_n_perturb_samples: int = 5
    mprt_seed: int = 42
    rl_similarity: str = "ssim"  # or "spearman"

    @classmethod
    def chapter(cls, **overrides: Any) -> "FaithfulnessSettings":
        """The budget preset of the chapters: PixelFlipping at 49 pixels per step, RegionPerturbation over 16
        regions, MPRT and RandomLogit, Sparseness and Complexity; no ROAD, FaithfulnessCorrelation, Infidelity or
        EfficientMPRT (3-7 times dearer per image, or per-image noisy; still available by ``metrics=...``)."""
        kw: dict[str, Any] = dict(metrics=("PixelFlipping", "RegionPerturbation", "MPRT", "RandomLogit",
                                           "Sparseness", "Complexity"),
                                  pf_pixels_per_step=49, rp_regions_per_side=4, road_percentages=(20, 50, 80))
        kw.update(overrides)
        return cls(**kw).validate()

    def validate(self) -> "FaithfulnessSettings":
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or not self.metrics:
            raise ValueError(f"metrics must be a non-empty list of {list(METRICS)}, got {list(self.metrics)}")
        for name in ("batch_size", "pf_pixels_per_step", "rp_regions_per_side", "fc_nr_runs",
                     "inf_patches_per_side", "inf_n_perturb_samples"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not (0 < self.fc_subset_fraction <= 1):
            raise ValueError(f"fc_subset_fraction must be in (0, 1], got {self.fc_subset_fraction!r}")
        if not all(0 < p < 100 for p in self.road_percentages) or not self.road_percentages:
            raise ValueError(f"road_percentages must be numbers in (0, 100), got {self.road_percentages!r}")
        if self.rl_similarity not in ("ssim", "spearman"):
            raise ValueError(f"rl_similarity must be 'ssim' or 'spearman', got {self.rl_similarity!r}")
        if not (np.isfinite(self.inf_noise_std) and self.inf_noise_std > 0):
            raise ValueError(f"inf_noise_std must be positive and finite, got {self.inf_noise_std!r}")
        return self

    def key(self) -> dict:
        """Plain data for cache keys."""
        return asdict(self)


# ------------------------------------------------------------------------------------------------- metric builders
def build_metric(name: str, s: FaithfulnessSettings, shape: tuple[int, int, int], num_classes: int
                 ) -> tuple[Any, Callable[[Any], np.ndarray]]:
    """(Quantus metric instance, per-image reducer of its output) for metric ``name`` at input shape (C, H, W)."""
    quantus = _quantus()
    from quantus.functions.perturb_func import batch_gaussian_noise
    from quantus.functions.similarity_func import correlation_spearman, ssim

    c, h, w = shape
    common = dict(disable_warnings=True, display_progressbar=False)
    if name == "ROAD":
        m = quantus.ROAD(percentages=list(s.road_percentages), noise=s.road_noise, abs=True, normalise=False,
                         perturb_func=road_pixel_imputation, **common)
        m.custom_postprocess = lambda **kw: None  # defect 1: keep the per-batch (B, P) arrays
        return m, lambda r: np.concatenate([np.asarray(b, dtype=float) for b in r], axis=0).mean(axis=1)
    if name == "PixelFlipping":
        m = quantus.PixelFlipping(features_in_step=_nearest_divisor(h * w, s.pf_pixels_per_step * c),
                                  perturb_baseline=s.baseline, abs=True, normalise=False,
                                  return_auc_per_sample=False, **common)  # True -> np.trapz AttributeError
        return m, lambda r: np.trapezoid(np.asarray(r, dtype=float), dx=1.0 / (np.shape(r)[1] - 1), axis=1)
    if name == "RegionPerturbation":
        ps = int(np.ceil(h / s.rp_regions_per_side))
        m = quantus.RegionPerturbation(patch_size=ps, regions_evaluation=int(np.ceil(h / ps) * np.ceil(w / ps)),
                                       order="morf", perturb_baseline=s.baseline, abs=True, normalise=False, **common)
        return m, lambda r: np.asarray(r, dtype=float).mean(axis=1)
    if name == "FaithfulnessCorrelation":
        m = quantus.FaithfulnessCorrelation(nr_runs=s.fc_nr_runs,
                                            subset_size=max(1, round(s.fc_subset_fraction * c * h * w)),
                                            perturb_baseline=s.baseline, abs=False, normalise=False,
                                            return_aggregate=False, **common)
        return m, np.asarray
    if name == "Infidelity":
        if h % s.inf_patches_per_side or w % s.inf_patches_per_side:
            raise ValueError(f"inf_patches_per_side = {s.inf_patches_per_side} must divide the input size {h}x{w} "
                             "(Quantus reshapes without padding)")
        m = quantus.Infidelity(perturb_patch_sizes=[h // s.inf_patches_per_side],
                               n_perturb_samples=s.inf_n_perturb_samples, perturb_func=batch_gaussian_noise,
                               perturb_func_kwargs=dict(perturb_mean=0.0, perturb_std=s.inf_noise_std),
                               abs=False, normalise=False, **common)
        return m, np.asarray
    if name == "MPRT":
        m = quantus.MPRT(similarity_func=_rowwise(correlation_spearman), layer_order="bottom_up", seed=s.mprt_seed,
                         skip_layers=True, return_last_correlation=True, abs=True, normalise=False, **common)
        return m, np.asarray
    if name == "EfficientMPRT":
        m = quantus.EfficientMPRT(layer_order="bottom_up", seed=s.mprt_seed, skip_layers=True,
                                  complexity_func_kwargs={"n_bins": 100}, abs=False, normalise=False, **common)
        return m, np.asarray
    if name == "RandomLogit":
        sim = {"ssim": ssim, "spearman": _rowwise(correlation_spearman)}[s.rl_similarity]
        m = quantus.RandomLogit(num_classes=num_classes, similarity_func=sim, seed=s.seed, abs=False,
                                normalise=False, **common)
        return m, np.asarray
    if name in ("Sparseness", "Complexity"):
        cls = quantus.Sparseness if name == "Sparseness" else quantus.Complexity
        m = cls(abs=True, normalise=True, normalise_func_kwargs={"normalise_axes": (1, 2, 3)}, **common)
        return m, np.asarray
    raise ValueError(f"unknown metric {name!r}; choose from {list(METRICS)}")


def _constant(a: np.ndarray) -> np.ndarray:
    """(N,) True where the channel-summed map is constant (all-zero included) or not finite: no pixel order."""
    flat = a.sum(axis=1).reshape(len(a), -1)
    return ~np.isfinite(flat).all(axis=1) | (flat == flat[:, :1]).all(axis=1)


def _as_nchw(name: str, a: Any, x: np.ndarray) -> np.ndarray:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    a = a.astype(np.float32)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[0] != x.shape[0] or a.shape[2:] != x.shape[2:] or a.shape[1] not in (1, x.shape[1]):
        raise ValueError(f"attributions[{name!r}] of shape {a.shape} do not fit inputs of shape {x.shape}")
    return a


def _summed(f: Callable) -> Callable:
    def g(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **kwargs: Any) -> np.ndarray:
        a = np.asarray(f(model=model, inputs=inputs, targets=targets, **kwargs), dtype=np.float32)
        return a.sum(axis=1, keepdims=True)

    return g


# ------------------------------------------------------------------------------------------------------------ main
def faithfulness_scores(
    model: nn.Module,
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    attributions: Mapping[str, Any],
    explain_funcs: Optional[Mapping[str, Callable]] = None,
    settings: FaithfulnessSettings = FaithfulnessSettings(),
    device: Optional[str] = None,
    timings: Optional[Dict[tuple[str, str], float]] = None,
) -> Dict[str, Dict[str, np.ndarray]]:
    """Scores of every method of ``attributions`` under every metric of ``settings.metrics``:
    ``{method: {metric: (N,) float64}}``.

    ``model``: a classifier (N, C, H, W) -> (N, K) logits (wrapped in :class:`LogSoftmaxModel`, eval mode).
    ``x``: (N, C, H, W) inputs as the model takes them; ``y``: (N,) the explained classes (the predictions).
    ``attributions``: method -> (N, C, H, W), (N, 1, H, W) or (N, H, W) array or tensor. ``explain_funcs``: method ->
    Quantus explanation function (:func:`quantus_explain_func`, :func:`random_map_explain_func`); the randomisation
    metrics (:data:`NEEDS_EXPLAIN_FUNC`) run only for methods that have one (the others get no entry). Every
    argument is checked before any metric runs. ``timings``: if a dict, receives (method, metric) -> seconds.

    An image whose map is constant (e.g. an all-zero CAM) or not finite has no pixel order to test: it scores NaN
    under every metric (flagged, and counted by the tables), whatever Quantus returned for it."""
    s = settings.validate()
    xn = np.ascontiguousarray((x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x))
                              .astype(np.float32))
    yn = (y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)).astype(np.int64)
    if xn.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {xn.shape}")
    if yn.shape != (len(xn),):
        raise ValueError(f"y must be (N,) = ({len(xn)},) classes, got shape {yn.shape}")
    explain_funcs = dict(explain_funcs or {})
    attrs = {m: _as_nchw(m, a, xn) for m, a in attributions.items()}
    extra = [m for m in explain_funcs if m not in attrs]
    if extra:
        raise ValueError(f"explain_funcs for methods without attributions: {extra}")
    net = model.eval()
    qmodel = LogSoftmaxModel(net).eval()
    dev = device or str(next(net.parameters()).device)
    with torch.no_grad():
        num_classes = int(qmodel(torch.as_tensor(xn[:1], device=dev)).shape[1])
    if yn.min(initial=0) < 0 or yn.max(initial=0) >= num_classes:
        raise ValueError(f"y must hold classes in [0, {num_classes}), got {yn.min()}..{yn.max()}")
    out: Dict[str, Dict[str, np.ndarray]] = {m: {} for m in attrs}
    degenerate = {m: _constant(a) for m, a in attrs.items()}
    with _rng_preserved(), _quiet():
        for name in s.metrics:
            for meth, a in attrs.items():
                if name in NEEDS_EXPLAIN_FUNC and meth not in explain_funcs:
                    continue
                if degenerate[meth].all():  # no image has a pixel order (Quantus refuses an all-zero batch)
                    out[meth][name] = np.full(len(xn), np.nan)
                    continue
                metric, reduce = build_metric(name, s, xn.shape[1:], num_classes)
                a_in = a if name == "Infidelity" else a.sum(axis=1, keepdims=True)
                if name == "ROAD" and xn.shape[1] > 1:
                    a_in = np.repeat(a_in, xn.shape[1], axis=1)  # defect 2 (road_pixel_imputation)
                call = dict(model=qmodel, x_batch=xn, y_batch=yn, a_batch=np.array(a_in, copy=True),
                            channel_first=True, batch_size=s.batch_size, device=dev)
                if name in NEEDS_EXPLAIN_FUNC:
                    call["explain_func"] = _summed(explain_funcs[meth])
                np.random.seed(s.seed)
                t0 = time.perf_counter()
                try:
                    raw = metric(**call)
                except AssertionError as e:  # Quantus refuses all-zero maps (e.g. of a re-initialised network)
                    if "all equal to zero" not in str(e):
                        raise
                    out[meth][name] = np.full(len(xn), np.nan)
                    continue
                if timings is not None:
                    timings[(meth, name)] = time.perf_counter() - t0
                scores = np.asarray(reduce(raw), dtype=np.float64).reshape(len(xn))
                out[meth][name] = np.where(degenerate[meth], np.nan, scores)
    return out
