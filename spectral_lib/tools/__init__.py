"""Tools for your own model: :func:`analyze` (the paper's EF and gap of each explanation method on your model and
images, as a tidy table) and the command line ``python -m spectral_lib analyze`` (:mod:`.cli`).

The top of the house: may import any subpackage except :mod:`spectral_lib.sweep`."""
from .analyze import AnalysisResult, analyze, analyze_details, plot_analysis, summarize

__all__ = ["analyze", "analyze_details", "summarize", "plot_analysis", "AnalysisResult"]
