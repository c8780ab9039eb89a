"""spectral_lib: the library behind the executable companion to *On the Complexity-Faithfulness Trade-off of
Gradient-Based Explanations* (Mehrpanah, Gamba, Smith, Azizpour, ICCV 2025).

Modules: ``activations`` (SP(beta), GaussianReLU, swapping), ``models``, ``data``, ``train`` (accuracy cap, cache),
``explain`` (VanillaGrad, SmoothGrad, ..., beside ``explain_captum``: the authors' captum calls), ``smoothing``
(explain-time beta-smoothing, Fourier low-pass), ``penalty`` (a spectral-tail training penalty), ``spectrum`` (radial
spectra, EF, the gap, tails), ``theory`` (Lemma 1, Theorem 1), ``synthetic`` (maps with known spectra),
``experiments`` (cached grid points), ``report`` (computed verdicts), ``analyze`` (EF and the gap of your own model:
``python -m spectral_lib analyze``), ``quantus_metrics`` (needs quantus), ``cache``, ``params``.
"""
from .activations import SP, GaussianReLU, beta_to_sigma, make_activation, sigma_to_beta, swap_activations
from .spectrum import expected_frequency, explanation_gap, radial_profile, tail_exponent
from .explain import (beta_smooth_grad, captum_deeplift, captum_guided_backprop, captum_guided_grad_cam,
                      captum_integrated_gradients, deeplift, grad_cam, guided_backprop, guided_grad_cam,
                      integrated_gradients, lowpass_grad, smooth_grad, to_map, vanilla_grad)
from .analyze import analyze, summarize

__version__ = "0.1.0"
__all__ = [
    "SP", "GaussianReLU", "beta_to_sigma", "sigma_to_beta", "make_activation", "swap_activations",
    "radial_profile", "expected_frequency", "explanation_gap", "tail_exponent",
    "vanilla_grad", "smooth_grad", "integrated_gradients", "grad_cam", "guided_backprop", "guided_grad_cam",
    "deeplift", "to_map", "beta_smooth_grad", "lowpass_grad", "captum_guided_grad_cam", "captum_integrated_gradients",
    "captum_deeplift", "captum_guided_backprop", "analyze", "summarize",
]
