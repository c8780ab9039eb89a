"""Case ``ef``: Expected Frequency pipeline against per-image numpy and against bare torch.fft.fft2."""
from __future__ import annotations

import numpy as np
import torch

from ._harness import Row, Section, fmt_time, interleaved, median, paired_ratio
from .baselines import ef_paper_numpy


def run(quick: bool = False) -> Section:
    from spectral_lib.spectral import expected_frequency

    sec = Section("ef")
    sizes = [(500, 32), (20, 224)] if quick else [(5000, 32), (200, 224)]
    targets = {32: 10.0, 224: 3.0}
    repeats = 3 if quick else 7
    for n, s in sizes:
        g = torch.Generator().manual_seed(0)
        # rank-normalised-like maps (values in (0, 1]), float32, as the pipeline sees them
        maps = torch.rand(n, s, s, generator=g, dtype=torch.float32)
        maps_np = maps.numpy()
        fns = {
            "ours": lambda: expected_frequency(maps, definition="paper"),
            "numpy": lambda: ef_paper_numpy(maps_np),
            "fft2": lambda: torch.fft.fft2(maps),
        }
        t = interleaved(fns, repeats=repeats, warmup=1)
        ours, base, floor = median(t["ours"]), median(t["numpy"]), median(t["fft2"])
        r, lo, hi = paired_ratio(t["numpy"], t["ours"])
        sec.rows.append(Row(f"EF {n}x{s}x{s} vs numpy per-image loop", fmt_time(ours), fmt_time(base), r,
                            targets[s], (lo, hi)))
        r, lo, hi = paired_ratio(t["fft2"], t["ours"])
        sec.rows.append(Row(f"EF {n}x{s}x{s} vs bare torch.fft.fft2", fmt_time(ours), fmt_time(floor), r, 0.5,
                            (lo, hi), target_text=">= 0.5 (<= 2x fft2)"))
        # same numbers as the published computation (float32 pipeline vs float64 numpy)
        a = expected_frequency(maps).double().numpy()
        b = ef_paper_numpy(maps_np)
        rel = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        best = min(t["numpy"]) / min(t["ours"])
        sec.notes.append(f"EF {n}x{s}x{s}: max |ours - numpy| / max|numpy| = {rel:.1e} (float32 vs float64); "
                         f"rfft2 alone: {fmt_time(_rfft2_time(maps))}; best-of-{repeats} times: ours "
                         f"{fmt_time(min(t['ours']))}, numpy {fmt_time(min(t['numpy']))} (ratio {best:.1f}), fft2 "
                         f"{fmt_time(min(t['fft2']))}")
    return sec


def _rfft2_time(maps: torch.Tensor) -> float:
    t = interleaved({"rfft2": lambda: torch.fft.rfft2(maps)}, repeats=5, warmup=1)
    return median(t["rfft2"])
