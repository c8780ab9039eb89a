"""spectral_lib: the library behind the executable companion to *On the Complexity-Faithfulness Trade-off of
Gradient-Based Explanations* (Mehrpanah, Gamba, Smith, Azizpour, ICCV 2025).

Subpackages, bottom-up (each may import only the ones listed before it, and the root modules ``checks``, ``cache``,
``paths``):

* :mod:`~spectral_lib.nn`: SP(beta), the Gaussian-smoothed ReLU, swapping activations; the paper's architectures;
* :mod:`~spectral_lib.data`: datasets (offline first) and input conditions (pixel permutation, input smoothing);
* :mod:`~spectral_lib.spectral`: maps (rank normalisation), radial spectra, EF, tails, the explanation gap;
* :mod:`~spectral_lib.explain`: the attribution methods (ours and the authors' captum calls), post-hoc transforms;
* :mod:`~spectral_lib.training`: ``TrainConfig``, the accuracy cap, the network cache, the spectral penalty;
* :mod:`~spectral_lib.theory`: Lemma 1 and Theorem 1 numerically, synthetic maps;
* :mod:`~spectral_lib.metrics`: the paper's measurements as Quantus metrics;
* :mod:`~spectral_lib.experiments`: cached grid points, each chapter's grids, tables and verdict sentences;
* :mod:`~spectral_lib.companion`: the notebooks' runtime (parameters, profiles, output, plots, published numbers);
* :mod:`~spectral_lib.sweep`: the grid as jobs (local or SLURM through submitit);
* :mod:`~spectral_lib.tools`: :func:`analyze` and ``python -m spectral_lib analyze`` for your own model.

This face re-exports what the README and the chapters use.
"""
from .explain import (beta_smooth_grad, captum_deeplift, captum_guided_backprop, captum_guided_grad_cam,
                      captum_integrated_gradients, deeplift, grad_cam, guided_backprop, guided_grad_cam,
                      integrated_gradients, lowpass_grad, smooth_grad, vanilla_grad)
from .nn import SP, GaussianReLU, beta_to_sigma, make_activation, sigma_to_beta, swap_activations
from .spectral import expected_frequency, explanation_gap, radial_profile, tail_exponent, to_map
from .tools import analyze, summarize

__version__ = "0.1.0"
__all__ = [
    "SP", "GaussianReLU", "beta_to_sigma", "sigma_to_beta", "make_activation", "swap_activations",
    "radial_profile", "expected_frequency", "explanation_gap", "tail_exponent",
    "vanilla_grad", "smooth_grad", "integrated_gradients", "grad_cam", "guided_backprop", "guided_grad_cam",
    "deeplift", "to_map", "beta_smooth_grad", "lowpass_grad", "captum_guided_grad_cam", "captum_integrated_gradients",
    "captum_deeplift", "captum_guided_backprop", "analyze", "summarize",
]
