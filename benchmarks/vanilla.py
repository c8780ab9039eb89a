"""Case ``vanilla``: VanillaGrad against captum's Saliency(abs=False) on LogSoftmax(model)."""
from __future__ import annotations

import torch

from ._harness import Row, Section, fmt_time, interleaved, median, paired_ratio
from ._models import quiet_captum, setup


def run(quick: bool = False) -> Section:
    from captum.attr import Saliency

    from spectral_lib.explain import predict, vanilla_grad

    quiet_captum()
    sec = Section("vanilla")
    n = 32 if quick else 256
    model, wrapped, x, t = setup(n)
    sal = Saliency(wrapped)
    fns = {
        "ours_t": lambda: vanilla_grad(model, x, t),
        "captum_t": lambda: sal.attribute(x, target=t, abs=False),
        "ours_pred": lambda: vanilla_grad(model, x),
        "captum_pred": lambda: sal.attribute(x, target=predict(model, x), abs=False),
    }
    times = interleaved(fns, repeats=3 if quick else 7, warmup=1)
    r, lo, hi = paired_ratio(times["captum_t"], times["ours_t"])
    sec.rows.append(Row(f"VanillaGrad {n}x3x64x64, same target tensor", fmt_time(median(times["ours_t"])),
                        fmt_time(median(times["captum_t"])), r, 1.0, (lo, hi), noise_ok=True))
    r, lo, hi = paired_ratio(times["captum_pred"], times["ours_pred"])
    sec.rows.append(Row(f"VanillaGrad {n}x3x64x64, target=None (captum: predict() + attribute)",
                        fmt_time(median(times["ours_pred"])), fmt_time(median(times["captum_pred"])), r, 1.0,
                        (lo, hi), noise_ok=True))
    a, b = vanilla_grad(model, x, t), sal.attribute(x, target=t, abs=False)
    c = vanilla_grad(model, x)
    sec.notes.append(f"VanillaGrad vs captum Saliency: max abs diff {float((a - b).abs().max()):.1e} "
                     f"(max |grad| {float(a.abs().max()):.1e}); target=None gives the same maps: {torch.equal(a, c)}")
    return sec
