"""Shared fixtures for the test suite.

* ``SPECTRAL_LIB_CACHE`` points at a session-wide temporary folder (set before any test runs, inherited by
  subprocesses), so no test reads or writes ``~/.cache/spectral_lib``. The embedded datasets' npz cache lives there
  and is shared by the whole session; tests that train pass their own fresh ``cache_dir``.
* torch runs on 2 threads (the CI machine has 2 cores) and the tests never use a GPU. OpenMP threads wait passively
  (``OMP_WAIT_POLICY=PASSIVE``, unless set already): on a busy 2-core machine spinning threads made small training
  steps up to 8x slower.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch (and its OpenMP runtime) is loaded

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)

# The local SLURM cluster and the tiny profile swept through it (session fixtures): the tiny book build
# (tests/book_build.py) reads the sweep's cache, so its networks are trained once per session, on SLURM.
from slurm_support import slurm_cluster, tiny_sweep  # noqa: E402,F401


@pytest.fixture(scope="session", autouse=True)
def spectral_cache_dir(tmp_path_factory):
    """Session-wide cache root; ``SPECTRAL_LIB_CACHE`` points at it for the whole session (subprocesses included)."""
    root = tmp_path_factory.mktemp("spectral_cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("SPECTRAL_LIB_CACHE", str(root))
    yield root
    mp.undo()


@pytest.fixture(scope="session")
def mnist5k(spectral_cache_dir):
    """The mnist5k splits, loaded once per session (the npz cache is in the session cache dir)."""
    from spectral_lib.data import load

    return load("mnist5k")


@pytest.fixture
def child_env(spectral_cache_dir) -> dict[str, str]:
    """Environment for a child Python process: the session cache, 2 threads, the repository importable."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", PYTHONWARNINGS="ignore",
               SPECTRAL_LIB_CACHE=str(spectral_cache_dir))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env
