"""Spectral measurements of explanation maps: from attributions to the paper's maps (:mod:`.maps`: channel sum,
rank normalisation), their radially averaged power spectra, Expected Frequency and tails (:mod:`.spectrum`), the
explanation gap in its forms (:mod:`.gaps`) and Fourier filters (:mod:`.filters`).

May import only the package's root infrastructure (``checks``)."""
from .filters import CORNER_FREQUENCY, lowpass
from .gaps import GAP_KINDS, GRADIENT_GAP_ON, ef_gap, explanation_gap, gradient_gap, paper_gap, radial_spectrum_l2
from .maps import TIE_RULES, degenerate_reason, rank_normalize, tie_fraction, to_map
from .spectrum import EF_DEFINITIONS, bin_frequencies, expected_frequency, radial_bins, radial_profile, tail_exponent

__all__ = ["to_map", "rank_normalize", "tie_fraction", "degenerate_reason", "TIE_RULES", "radial_profile", "radial_bins", "bin_frequencies", "expected_frequency",
           "tail_exponent", "EF_DEFINITIONS", "explanation_gap", "ef_gap", "paper_gap", "radial_spectrum_l2",
           "gradient_gap", "GRADIENT_GAP_ON", "GAP_KINDS", "lowpass", "CORNER_FREQUENCY"]
