"""What every chapter's first code cell calls: validate parameters, fix threads and seeds, set figure style."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .params import check_params

__all__ = ["setup"]


def setup(params: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Validate a notebook's parameters (raises ParameterError naming the bad one, before any work), set torch's
    threads (``$OMP_NUM_THREADS`` or 2), seed torch, set matplotlib defaults, and resolve ``cache_dir`` (None: the
    library default, ``$SPECTRAL_LIB_CACHE`` or ``~/.cache/spectral_lib``). Returns the validated parameters."""
    import matplotlib
    import torch

    from .paths import default_cache_dir

    p = check_params(params)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    torch.manual_seed(seed)
    matplotlib.rcParams.update({"figure.dpi": 110, "savefig.dpi": 110, "font.size": 9, "axes.grid": False})
    if "cache_dir" in p:
        p["cache_dir"] = str(Path(p["cache_dir"]).expanduser()) if p["cache_dir"] else str(default_cache_dir())
    return p
