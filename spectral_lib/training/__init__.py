"""Training under the paper's accuracy cap: :class:`TrainConfig` (everything that determines a network; its hash is
the cache key), the training loop with the authors' cap rule (:func:`train`; its batches and the accuracy on a
split: :mod:`.batches`), the checksummed, resumable network cache (:func:`train_or_load`) and the differentiable
spectral-tail penalty (:mod:`.penalty`).

May import the root infrastructure, :mod:`spectral_lib.nn`, :mod:`spectral_lib.data`, :mod:`spectral_lib.spectral`
and :mod:`spectral_lib.explain`."""
from .config import TrainConfig, resolve_device
from .loop import TrainResult, accuracy, cap_passed, checkpoint_path, load_for, train, train_or_load
from .penalty import PENALTY_KINDS, gradient_spectral_penalty, penalized_loss
from .validation import check_model, check_networks

__all__ = ["TrainConfig", "TrainResult", "resolve_device", "cap_passed", "load_for", "train", "train_or_load",
           "checkpoint_path", "accuracy", "gradient_spectral_penalty", "penalized_loss", "PENALTY_KINDS", "check_model",
           "check_networks"]
