"""What determines a trained network: :class:`TrainConfig` (every field; its hash is the cache key) and
:func:`resolve_device`. The cap rules themselves are applied by :mod:`.loop`."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch

from .. import cache
from ..checks import check_choice, check_nonnegative_finite, check_positive_finite, check_positive_int
from ..data import DATASETS
from ..nn.activations import make_activation
from ..nn.models import MODEL_NAMES
from .penalty import PENALTY_KINDS

__all__ = ["TrainConfig", "resolve_device"]

@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained network (its hash is the cache key)."""

    dataset: str = "mnist5k"
    model: str = "simple_cnn"
    activation: str = "relu"
    model_options: dict = field(default_factory=dict)
    seed: int = 0
    lr: float = 1e-3
    lr_gamma: float = 1.0  # exponential learning-rate decay factor, applied once per `lr_decay_per`
    lr_decay_per: str = "epoch"  # "epoch" (the authors) or "step"
    batch_size: int = 256
    max_epochs: int = 20
    accuracy_cap: float | None = 0.9
    cap_split: str = "test"
    cap_rule: str = "authors"  # "authors": epoch ends, strict >, from cap_min_epoch; "steps": >= every eval_every
    cap_min_epoch: int = 2  # authors' rule: first epoch (1-based) at which the cap may stop training
    eval_every: int | None = None  # "steps" rule: optimisation steps between cap checks (None: once per epoch)
    weight_decay: float = 0.0  # L2 regularisation (Adam's weight_decay)
    train_noise_std: float = 0.0  # Gaussian noise added to training inputs (ablation)
    train_blur_sigma: float = 0.0  # Gaussian blur of training inputs (ablation)
    image_size: int | None = None
    augment: bool = False
    device: str = "auto"
    # Added later; left out of the cache key at their defaults, so that earlier networks keep their keys.
    pixel_permutation: int | None = None  # seed of a fixed pixel permutation of every image (None: natural images)
    input_smoothing_sigma: float = 0.0  # Gaussian smoothing (pixels) of every image, after the permutation
    penalty_strength: float = 0.0  # weight of the spectral-tail penalty of the input gradient (0: plain training)
    penalty_kind: str = "tail_share"  # see spectral_lib.training.penalty
    penalty_cutoff: float = 0.25  # cycles/pixel
    penalty_subsample: int = 32  # examples of each batch whose input gradient is penalised (double backprop)
    n_train: int | None = None  # train on a fixed class-balanced part of the training split (None: all of it)

    def validate(self) -> "TrainConfig":
        """Check every field; raise ValueError/TypeError naming the field. Returns self."""
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("model", self.model, MODEL_NAMES)
        make_activation(self.activation)
        if not isinstance(self.model_options, dict):
            raise TypeError(f"model_options must be a dict, got {type(self.model_options).__name__}")
        check_positive_int("seed", self.seed, minimum=0)
        check_positive_finite("lr", self.lr)
        g = check_positive_finite("lr_gamma", self.lr_gamma)
        if g > 1:
            raise ValueError(f"lr_gamma must be in (0, 1], got {g}")
        check_positive_int("batch_size", self.batch_size)
        check_positive_int("max_epochs", self.max_epochs)
        if self.accuracy_cap is not None:
            cap = check_positive_finite("accuracy_cap", self.accuracy_cap)
            if cap > 1:
                raise ValueError(f"accuracy_cap must be in (0, 1] or None, got {cap}")
        check_choice("cap_split", self.cap_split, ("test", "train"))
        check_choice("lr_decay_per", self.lr_decay_per, ("epoch", "step"))
        check_choice("cap_rule", self.cap_rule, ("authors", "steps"))
        check_positive_int("cap_min_epoch", self.cap_min_epoch)
        if self.eval_every is not None:
            check_positive_int("eval_every", self.eval_every)
            if self.cap_rule == "authors":
                raise ValueError(f"eval_every={self.eval_every} needs cap_rule='steps' (the authors' rule checks the "
                                 "cap only at epoch ends); set eval_every=None or cap_rule='steps'")
        check_nonnegative_finite("weight_decay", self.weight_decay)
        check_nonnegative_finite("train_noise_std", self.train_noise_std)
        check_nonnegative_finite("train_blur_sigma", self.train_blur_sigma)
        if self.image_size is not None:
            check_positive_int("image_size", self.image_size, minimum=4)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))
        if self.pixel_permutation is not None:
            if isinstance(self.pixel_permutation, bool) or not isinstance(self.pixel_permutation, int):
                raise TypeError(f"pixel_permutation must be an int seed or None, got {self.pixel_permutation!r}")
        check_nonnegative_finite("input_smoothing_sigma", self.input_smoothing_sigma)
        check_nonnegative_finite("penalty_strength", self.penalty_strength)
        check_choice("penalty_kind", self.penalty_kind, PENALTY_KINDS)
        check_nonnegative_finite("penalty_cutoff", self.penalty_cutoff)
        check_positive_int("penalty_subsample", self.penalty_subsample)
        if self.n_train is not None:
            check_positive_int("n_train", self.n_train)
        return self

    def key(self) -> str:
        """Cache key: hash of every field, with the device resolved (CPU and GPU weights differ). Fields added after
        the first release (:data:`_LATE_FIELDS`) are left out while at their defaults, so old keys stay valid."""
        d = asdict(replace(self, device=resolve_device(self.device).type))
        for name, default in _LATE_FIELDS.items():
            if d[name] == default:
                del d[name]
        return cache.config_key(d)


_LATE_FIELDS = {"pixel_permutation": None, "input_smoothing_sigma": 0.0, "penalty_strength": 0.0,
                "penalty_kind": "tail_share", "penalty_cutoff": 0.25, "penalty_subsample": 32, "n_train": None}


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
