"""The local SLURM cluster for the tests, and the ``tiny`` profile swept through it (session fixtures).

* ``slurm_cluster``: ``scripts/slurm_local.sh start`` once per session and ``stop`` at its end (left alone when it
  was already running). Skips, naming the reason, only where SLURM is not installed (``scripts/setup.sh`` installs
  it through ``scripts/slurm_local.sh install`` when it runs as root with apt-get).
* ``tiny_sweep``: the ``tiny`` profile's whole sweep through submitit's SlurmExecutor (``python -m spectral_lib.sweep
  --executor slurm --wait``) into a fresh cache, as one job array with more tasks than its parallelism limit; None
  (not a skip) where SLURM is not installed, so that a book build can use it when it exists and train by itself
  otherwise. ``book_built`` is set by whoever builds the book on that cache; ``tests/test_slurm.py`` checks that
  every grid point of the book is in the cache (and, where the book was built on it, that nothing changed) rather
  than building the tiny book a second time (minutes on a 2-core machine).

Used by ``tests/test_slurm.py``; ``tests/conftest.py`` may import both fixtures so that the book render test builds
the tiny book on the swept cache (the networks are then trained once per session, on SLURM).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "slurm_local.sh"
DAEMONS = ("slurmctld", "slurmd", "slurmdbd", "sbatch", "sacct", "munged", "mariadbd")
RECORD_DIRS = ("models", "evals", "trajectories")  # what a sweep writes and a book built on its cache only reads
TINY_SLURM = {"cpus_per_task": 1, "timeout_min": 10, "array_parallelism": 2, "points_per_task": 5}


def why_no_slurm() -> str | None:
    """Why the SLURM tests cannot run here (None if they can)."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        return "submitit is not installed (pip install 'submitit>=1.5')"
    missing = [c for c in DAEMONS if not shutil.which(c) and not Path("/usr/sbin", c).exists()]
    if missing:
        here = ("not root" if os.geteuid() != 0 else "no apt-get" if not shutil.which("apt-get")
                else "the install failed or was skipped (SPECTRAL_SKIP_SLURM=1?)")
        return (f"SLURM is not installed here (missing: {', '.join(missing)}); scripts/setup.sh installs it "
                f"(bash scripts/slurm_local.sh install) when it runs as root with apt-get; here: {here}")
    if os.geteuid() != 0:
        return "scripts/slurm_local.sh start needs root (the daemons run as root here)"
    return None


def slurm_local(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


def files(folder: Path) -> dict[str, tuple[int, int]]:
    """relative name -> (size, mtime_ns) of every file under ``folder``."""
    return {str(f.relative_to(folder)): (f.stat().st_size, f.stat().st_mtime_ns)
            for f in sorted(folder.rglob("*")) if f.is_file()} if folder.is_dir() else {}


@dataclass
class Cluster:
    cpus: int
    memory_mb: int
    start_s: float
    started: bool


@dataclass
class TinySweep:
    profile: Path  # profiles/tiny.yaml plus a sweep section, as <tmp>/tiny.yaml (so the profile is named "tiny")
    cache_dir: Path
    seconds: float
    stdout: str
    stderr: str
    returncode: int
    snapshot: dict = field(default_factory=dict)  # "models"/"evals"/"trajectories" -> files() right after the sweep
    book_built: str | None = None  # who built the book on this cache (then it must not have changed the snapshot)
    after_book: dict | None = None  # the snapshot right after that book build (later tests may add to the cache)


def _start_cluster() -> Cluster:
    reason = why_no_slurm()
    if reason:
        pytest.skip(reason)
    up = slurm_local("status", timeout=60).returncode == 0
    t0 = time.perf_counter()
    if not up:
        p = slurm_local("start")
        assert p.returncode == 0, f"scripts/slurm_local.sh start failed:\n{p.stdout}\n{p.stderr}"
    start_s = time.perf_counter() - t0
    name, _, value = slurm_local("env").stdout.strip().removeprefix("export ").partition("=")
    os.environ[name] = value  # SLURM_CONF, for clients in this process and its children
    cpus, mem = subprocess.run(["sinfo", "-h", "-o", "%c %m"], capture_output=True, text=True,
                               timeout=30).stdout.split()[:2]
    print(f"\n[slurm] cluster {'already up' if up else 'started'} in {start_s:.1f} s", file=sys.stderr)
    return Cluster(int(cpus), int(mem.rstrip("+")), start_s, not up)


@pytest.fixture(scope="session")
def slurm_cluster():
    """The local one-node cluster (see the module docstring); skips where SLURM is not installed."""
    cluster = _start_cluster()
    yield cluster
    if cluster.started:
        p = slurm_local("stop", timeout=120)
        assert p.returncode == 0, f"scripts/slurm_local.sh stop failed:\n{p.stdout}\n{p.stderr}"


def tiny_profile(tmp: Path, name: str = "tiny", slurm: dict | None = None, notebooks: dict | None = None,
                 defaults: dict | None = None) -> Path:
    """profiles/tiny.yaml with a slurm sweep section (and optionally other notebooks / defaults), written as
    <tmp>/<name>.yaml."""
    prof = yaml.safe_load((ROOT / "profiles" / "tiny.yaml").read_text())
    if notebooks is not None:
        prof["notebooks"] = notebooks
    prof["defaults"].update(defaults or {})
    prof["sweep"] = {"executor": "slurm", "slurm": {"cpus_per_task": 1, "timeout_min": 10, **(slurm or {})}}
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(prof, sort_keys=False))
    return path


def jobs_environment() -> dict[str, str]:
    """The environment the jobs inherit (sbatch exports it): one torch thread per CPU, this checkout importable."""
    return {**os.environ, "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(scope="session")
def tiny_sweep(request, tmp_path_factory) -> TinySweep | None:
    """The tiny profile swept through the local cluster into a fresh cache; None where SLURM is not installed."""
    if why_no_slurm():
        return None
    request.getfixturevalue("slurm_cluster")
    tmp = tmp_path_factory.mktemp("tiny_sweep")
    prof, cache_dir = tiny_profile(tmp, "tiny", TINY_SLURM), tmp / "cache"
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "spectral_lib.sweep", "--profile", str(prof), "--executor", "slurm",
                        "--wait", "--cache-dir", str(cache_dir)], capture_output=True, text=True, timeout=1200,
                       cwd=ROOT, env=jobs_environment())
    out = TinySweep(prof, cache_dir, time.perf_counter() - t0, p.stdout, p.stderr, p.returncode)
    out.snapshot = {d: files(cache_dir / d) for d in RECORD_DIRS}
    print(f"\n[slurm] tiny sweep through SLURM: {out.seconds:.1f} s (exit {p.returncode})", file=sys.stderr)
    return out
