"""Reference implementations the benchmarks compare against (not used by the library)."""
from __future__ import annotations

import numpy as np


def ef_paper_numpy_one(m: np.ndarray) -> float:
    """The published Expected Frequency of one (H, W) map, written the straightforward way (per image, numpy):
    power spectrum, fftshift, integer radius from the centre, mean power per radius (bincount), normalise to sum 1,
    linspace(0, 1, R) frequency weights, mean over the bins."""
    f = np.fft.fftshift(np.fft.fft2(m))
    power = np.abs(f) ** 2
    h, w = m.shape
    y, x = np.indices((h, w))
    r = np.sqrt((y - h // 2) ** 2 + (x - w // 2) ** 2).astype(int)
    profile = np.bincount(r.ravel(), power.ravel()) / np.bincount(r.ravel())
    profile = profile / profile.sum()
    freqs = np.linspace(0.0, 1.0, len(profile))
    return float(np.mean(freqs * profile))


def ef_paper_numpy(maps: np.ndarray) -> np.ndarray:
    """:func:`ef_paper_numpy_one` over a batch, in a python loop."""
    return np.array([ef_paper_numpy_one(m) for m in maps])
