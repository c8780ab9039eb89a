"""Where caches and datasets live: ``$SPECTRAL_LIB_CACHE`` if set, else ``~/.cache/spectral_lib``."""
from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """Root folder of every cache (checkpoints, explanations, embedded datasets, downloads)."""
    env = os.environ.get("SPECTRAL_LIB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "spectral_lib"
