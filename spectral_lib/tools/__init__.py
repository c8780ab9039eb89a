"""Tools for your own model: :func:`analyze` (the paper's EF and gap of each explanation method on your model and
images, as a tidy table, with degenerate maps flagged and unsupported methods refused up front) and the command line
``python -m spectral_lib analyze`` (:mod:`.cli`); :mod:`.zoo` runs them over torchvision's model zoo.

Modules by job: :mod:`.validate` (argument checks), :mod:`.inspection` (one forward pass: what the model is made
of), :mod:`.plan` (which method runs, which is refused and why), :mod:`.memory` (inputs per pass under a memory
bound), :mod:`.run` (the run itself), :mod:`.analyze` (the entry points and the summary), :mod:`.figure`,
:mod:`.preprocess` (torchvision weights' transforms and class names, image folders, .npz), :mod:`.models` (the
command line's models and checkpoints), :mod:`.cli`, :mod:`.zoo`.

The top of the house: may import any subpackage except :mod:`spectral_lib.sweep`."""
from .analyze import AnalysisResult, AnalysisWarning, analyze, analyze_details, plot_analysis, summarize
from .plan import MethodRefused

__all__ = ["analyze", "analyze_details", "summarize", "plot_analysis", "AnalysisResult", "AnalysisWarning",
           "MethodRefused"]
