"""What a chapter writes into the book besides figures: computed Markdown (:func:`markdown`) and downloadable CSV
tables (:func:`save_table`)."""
from __future__ import annotations

import os
import re

from ..cache import atomic_write

__all__ = ["markdown", "save_table"]

def markdown(text: str) -> None:
    """Display ``text`` as Markdown in the executed notebook (the book shows it as prose). Returns None, so that a
    call at the end of a cell is not displayed twice."""
    from IPython.display import Markdown, display

    display(Markdown(text))


def save_table(table, name: str):
    """Save a chapter's table as ``<name>.csv`` for the book's downloads and return it (display it as usual).

    Written atomically into ``$SPECTRAL_LIB_TABLES`` (set by the book command to the chapter's tables folder); when
    that is unset (a notebook run by hand) nothing is written. ``name``: letters, digits, '-' and '_'."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"name must be letters, digits, '-' or '_', got {name!r}")
    folder = os.environ.get("SPECTRAL_LIB_TABLES")
    if folder:
        atomic_write(os.path.join(folder, f"{name}.csv"), table.to_csv())
    return table
