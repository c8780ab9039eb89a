"""What every chapter's first code cell calls: validate the parameters, fix threads and seeds, set figure style.

``P = companion.parameters(globals())`` takes the chapter's parameters from its ``parameters`` cell, the single place
they are spelled: every name that cell assigns, with its current value (papermill's injected cell runs after it).
A name that papermill injected (``-p name value``, or the book command) and the parameters cell does not declare is
refused, as is any invalid value, a network that cannot be built, an offset past the test split and ``device:
cuda`` without CUDA, all in the first cell, before any work (:mod:`spectral_lib.companion.profiles`).

How the cells are found: in a kernel, IPython keeps the source of every executed cell (``In``); papermill's injected
cell is the one that starts with ``# Parameters`` and the parameters cell is the one executed just before it (without
an injected cell: the first executed cell made only of assignments). Run as a script (``python notebooks/x.py``),
the parameters cell is read from the file (``__file__``).
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Mapping

__all__ = ["parameters", "setup", "find_cells"]

# names papermill may inject on its own (``--inject-paths``): allowed everywhere
PAPERMILL_NAMES = frozenset({"PAPERMILL_INPUT_PATH", "PAPERMILL_OUTPUT_PATH"})
_INJECTED_HEADER = "# Parameters"


def _assigned(source: str) -> list[str]:
    """Every name a cell assigns at top level (the parameters cell may hold other statements too)."""
    from ..checks import ConfigError
    from .profiles import parse_assignments

    try:
        return parse_assignments(source)[1]
    except ConfigError:
        return []


def _assignments_only(source: str) -> list[str] | None:
    """Names assigned by ``source`` if it is made only of assignments (and comments or docstrings), else None."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    if not body or not all(isinstance(n, (ast.Assign, ast.AnnAssign)) for n in body):
        return None
    return _assigned(source)


def _history(ns: Mapping[str, Any]) -> list[str] | None:
    hist = ns.get("In") if isinstance(ns.get("In"), list) else ns.get("_ih")
    return [str(h) for h in hist] if isinstance(hist, list) else None


def find_cells(ns: Mapping[str, Any]) -> tuple[list[str] | None, list[str]]:
    """``(names the parameters cell declares or None if it cannot be found, names papermill injected)`` for the
    namespace ``ns`` of a notebook (its ``globals()``)."""
    from .profiles import parameters_cell

    hist = _history(ns)
    if hist is not None:
        cells = hist[1:]  # In[0] is empty
        inj = max((i for i, c in enumerate(cells) if c.lstrip().startswith(_INJECTED_HEADER)
                   and _assignments_only(c) is not None), default=None)
        if inj is not None:
            injected = _assignments_only(cells[inj]) or []
            return (_assigned(cells[inj - 1]) if inj > 0 else []), injected
        first = next((names for c in cells if (names := _assignments_only(c))), None)
        if first is not None:
            return first, []
    path = ns.get("__file__")
    if isinstance(path, str) and Path(path).suffix in (".py", ".ipynb") and Path(path).is_file():
        source = parameters_cell(path)
        if source is not None:
            return _assigned(source), []
    return None, []


def _chapter(ns: Mapping[str, Any], chapter: str | None) -> str | None:
    """The chapter's name for messages: ``chapter``, else ``$SPECTRAL_LIB_CHAPTER`` (the book command sets it), the
    stem of papermill's input path (``papermill --inject-paths``) or of a notebook run as a script, else None."""
    from .profiles import parameters_cell

    if chapter:
        return chapter
    if os.environ.get("SPECTRAL_LIB_CHAPTER"):  # set by scripts/build_book.py for each notebook it runs
        return os.environ["SPECTRAL_LIB_CHAPTER"]
    if isinstance(ns.get("PAPERMILL_INPUT_PATH"), str):
        return Path(ns["PAPERMILL_INPUT_PATH"]).stem
    path = ns.get("__file__")
    if isinstance(path, str) and Path(path).suffix == ".py" and Path(path).is_file() and parameters_cell(path):
        return Path(path).stem
    return None


def _refuse_unknown(injected: list[str], declared: list[str] | set[str], chapter: str | None) -> None:
    from ..checks import ParameterError

    unknown = sorted(set(injected) - set(declared) - PAPERMILL_NAMES)
    if unknown:
        where = f"{chapter}: " if chapter else ""
        raise ParameterError(f"{where}unknown parameter(s) {unknown}: the notebook's parameters cell does not declare "
                             f"them; it accepts {sorted(declared)}")


def _configure(p: dict[str, Any], seed: int) -> dict[str, Any]:
    import matplotlib
    import torch

    from ..paths import default_cache_dir

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(seed)
    matplotlib.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "font.size": 9, "axes.grid": False})
    if "cache_dir" in p:
        p["cache_dir"] = str(Path(p["cache_dir"]).expanduser()) if p["cache_dir"] else str(default_cache_dir())
    return p


def _validate(params: dict[str, Any], declared: set[str] | None, chapter: str | None) -> dict[str, Any]:
    from ..checks import ParameterError
    from .parameters import check_params
    from .profiles import validate_chapter

    try:
        p = check_params(params, allowed=declared)
    except ParameterError as e:
        raise ParameterError(f"{chapter}: {e}" if chapter else str(e)) from None
    validate_chapter(chapter, p)
    return p


def parameters(ns: Mapping[str, Any], *, chapter: str | None = None, seed: int = 0) -> dict[str, Any]:
    """The chapter's parameters, validated: ``P = companion.parameters(globals())`` right after the parameters cell.

    Every name the parameters cell assigns, with its value in ``ns``; raises ParameterError (naming the chapter
    when known: ``chapter``, papermill's ``PAPERMILL_INPUT_PATH`` or ``__file__``) on a name papermill injected that
    the cell does not declare and on anything :func:`spectral_lib.companion.profiles.validate_chapter` refuses. Then sets torch's
    threads (``$OMP_NUM_THREADS`` or 2), seeds torch, sets matplotlib defaults and resolves ``cache_dir`` (None: the
    library default). Returns a new dict (the globals are not changed)."""
    declared, injected = find_cells(ns)
    chapter = _chapter(ns, chapter)
    if declared is None:
        raise RuntimeError("companion.parameters: cannot find the notebook's parameters cell (neither in IPython's history "
                           "nor in a __file__); call companion.setup(dict(...)) with the parameters instead")
    _refuse_unknown(injected, declared, chapter)
    params = {name: ns[name] for name in declared if name in ns}
    return _configure(_validate(params, set(declared), chapter), seed)


def setup(params: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Validate a notebook's parameters given as a dict (raises ParameterError naming the bad one, before any work),
    then set threads, seed and figure style as :func:`parameters` does. Kept for notebooks that spell their
    parameters twice; prefer ``companion.parameters(globals())``. Names papermill injected that the calling notebook's
    parameters cell does not declare are refused here too (the caller's globals are inspected)."""
    frame = inspect.currentframe()
    caller = frame.f_back.f_globals if frame is not None and frame.f_back is not None else {}
    declared, injected = find_cells(caller)
    chapter = _chapter(caller, None)
    _refuse_unknown(injected, declared if declared is not None else set(params), chapter)
    return _configure(_validate(dict(params), None, chapter), seed)
