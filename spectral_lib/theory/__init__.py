"""The paper's theory, numerically: Lemma 1 (analytic and FFT-measured power spectra of ReLU, SP(beta), the
Gaussian-smoothed ReLU and networks built from them; an activation's tail mass), Theorem 1 (the network's spectrum
along lines through the inputs against the spatial spectrum of its input gradients, with the measurement floor
of the line spectra: float32 rounding, the window's leakage) and synthetic maps with known spectra for checking and
teaching the spectral tools.

May import the root infrastructure, :mod:`spectral_lib.nn`, :mod:`spectral_lib.spectral` and
:mod:`spectral_lib.explain`."""
from .lemma1 import (TAIL_FLOOR, activation_tail, gaussian_relu_power, measure_power_1d, random_mlp, relu_power,
                     softplus_power, tail_mass)
from .synthetic import checkerboard, gaussian_blob, sinusoid, white_noise
from .theorem1 import (LINE_FLOOR_FACTOR, correlated_images, gradient_power_spectrum, line_power_spectrum,
                       tail_mass_resolved, theorem1_summary, window_leakage)

__all__ = ["relu_power", "softplus_power", "gaussian_relu_power", "measure_power_1d", "tail_mass", "random_mlp",
           "activation_tail", "TAIL_FLOOR", "line_power_spectrum", "gradient_power_spectrum", "correlated_images",
           "theorem1_summary", "tail_mass_resolved", "window_leakage", "LINE_FLOOR_FACTOR", "sinusoid", "white_noise",
           "gaussian_blob", "checkerboard"]
