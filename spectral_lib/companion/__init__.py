"""The book's runtime: what the chapters (notebooks) call besides the library's science.

* :func:`parameters` (:mod:`.runtime`): ``P = companion.parameters(globals())`` validates a chapter's parameters in
  its first cell, before any work;
* :mod:`.profiles`: profiles loaded, merged and validated for the book command, the sweep and the notebooks alike;
  :mod:`.parameters`: the value rules of every parameter;
* :func:`markdown`, :func:`save_table` (:mod:`.output`): computed prose and downloadable tables;
* :mod:`.plots`: the chapters' shared figures; :mod:`.published`: the paper's numbers as recorded, with sources.

May import every subpackage below it (up to :mod:`spectral_lib.experiments`), never :mod:`spectral_lib.sweep` or
:mod:`spectral_lib.tools`."""
from .output import markdown, save_table
from .runtime import parameters, setup

__all__ = ["parameters", "setup", "markdown", "save_table"]
