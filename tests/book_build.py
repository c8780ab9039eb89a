"""One build of the tiny book per test session, shared by ``test_book_render.py`` and ``test_exercises.py`` (a helper
module, not a test file): :func:`tiny_book` builds it on first use in a temporary copy of the repository, with a
fresh cache, and returns the same result to every later caller."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRATCH_STEM = "zz_render_check"
SCRATCH_NB = r'''# %% [markdown]
# # Render check
#
# $$
# \frac{d}{dx}\operatorname{SP}_\beta(x) = \frac{1}{1+e^{-\beta x}}
# $$ (eq-render-check)
#
# Inline $\beta \to \infty$ and a reference to {eq}`eq-render-check`.

# %% tags=["parameters"]
beta = 2.0

# %%
import numpy as np
import matplotlib.pyplot as plt

x = np.linspace(-4, 4, 100)
plt.plot(x, np.logaddexp(0, beta * x) / beta)
plt.show()
'''
# What a copy of the repository leaves out: VCS, the environment, build outputs, caches, and the local SLURM cluster's
# state (.slurm-local: a running cluster's job sockets cannot be copied, and its database is not the book's business)
SKIP = (".git", ".venv", "_build", ".cache", "_generated", "__pycache__", ".pytest_cache", ".ipynb_checkpoints",
        ".slurm-local", ".hypothesis", ".ruff_cache")
IGNORE = shutil.ignore_patterns(*SKIP)


class TinyBook(NamedTuple):
    html: Path  # the HTML book
    pages: list  # the chapters' HTML pages, in TOC order
    gen: Path  # the executed notebooks (book/_generated of the copy)
    stems: list  # the chapters
    repo: Path  # the repository copy the book was built in
    cache: Path  # its SPECTRAL_LIB_CACHE (trained networks, evaluations)
    seconds: float  # how long the build took


_BUILT: dict[str, TinyBook] = {}
_FAILED: dict[str, str] = {}


def copy_repo(dest: Path) -> Path:
    """A copy of the repository without its caches and build outputs (the data caches are shared by a symlink)."""
    shutil.copytree(ROOT, dest, symlinks=True, ignore=IGNORE)
    if (ROOT / ".cache").is_dir():
        (dest / ".cache").symlink_to(ROOT / ".cache")
    return dest


def tiny_book(tmp_path_factory, request=None) -> TinyBook:
    """Build the book (tiny profile, strict, PDF included where Chromium exists, two lanes as scripts/book.sh runs
    them) once per session. With ``request`` and SLURM installed, on the cache of the session's tiny sweep through SLURM (``slurm_support.tiny_sweep``): its
    networks and records are then trained once, on SLURM, and ``tests/test_slurm.py`` checks that the book build
    added none (the book reads the sweep's results)."""
    import build_book  # scripts/ is on sys.path (the test modules put it there)

    if "tiny" in _BUILT:
        return _BUILT["tiny"]
    if "tiny" in _FAILED:  # one attempt per session: a failed build is reported by every test that needs it
        raise AssertionError(_FAILED["tiny"])
    tmp = tmp_path_factory.mktemp("book")
    repo = copy_repo(tmp / "repo")
    stems = build_book.toc_notebooks(repo / "_toc.yml")
    if not stems or os.environ.get("SPECTRAL_BOOK_TEST_SCRATCH") == "1":
        (repo / "notebooks").mkdir(exist_ok=True)
        (repo / "notebooks" / f"{SCRATCH_STEM}.py").write_text(SCRATCH_NB)
        toc = yaml.safe_load((repo / "_toc.yml").read_text())
        toc["parts"][0]["chapters"].insert(0, {"file": f"book/_generated/{SCRATCH_STEM}", "title": "Render check"})
        (repo / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
        meta = yaml.safe_load((repo / "book" / "chapters.yaml").read_text())
        meta["chapters"][SCRATCH_STEM] = {"prerequisites": [], "learn": ["that the book renders"]}
        (repo / "book" / "chapters.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
        stems = [SCRATCH_STEM] + stems
    sweep = request.getfixturevalue("tiny_sweep") if request is not None else None
    t0 = time.perf_counter()
    cache = sweep.cache_dir if sweep is not None and sweep.returncode == 0 else tmp / "cache"
    env = {**os.environ, "SPECTRAL_LIB_CACHE": str(cache)}
    p = subprocess.run([sys.executable, str(repo / "scripts" / "build_book.py"), "--profile", "tiny", "--strict",
                        "--jobs", "2", "--path-output", str(tmp / "out")], cwd=repo, capture_output=True, text=True,
                       timeout=1500, env=env)
    if p.returncode != 0:
        _FAILED["tiny"] = f"build failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
        raise AssertionError(_FAILED["tiny"])
    seconds = time.perf_counter() - t0
    if sweep is not None and cache == sweep.cache_dir:
        from slurm_support import RECORD_DIRS, files

        sweep.book_built = "tests/book_build.py (the tiny book)"
        # the cache as the book build left it: later tests (the exercises' solutions) share this cache and add
        # the records of the parameters they change, which the sweep was never asked for
        sweep.after_book = {d: files(cache / d) for d in RECORD_DIRS}
    print(f"book built in {seconds:.1f} s" + (" on the SLURM sweep's cache" if sweep is not None else ""))
    html = tmp / "out" / "_build" / "html"
    _BUILT["tiny"] = TinyBook(html, [html / "book" / "_generated" / f"{s}.html" for s in stems],
                              repo / "book" / "_generated", stems, repo, cache, seconds)
    return _BUILT["tiny"]
