"""Fresh-interpreter probe for one SmoothGrad call: prints JSON with the RSS before the call, the peak RSS during
the call (VmHWM of /proc/self/status, reset through /proc/self/clear_refs just before the call; RSS sees torch's
allocations, unlike tracemalloc) and the call's time.

``python -m benchmarks._memprobe --impl ours|captum --n N --samples S --chunk C`` (captum: C is
``nt_samples_batch_size``, 0 for captum's default None)."""
from __future__ import annotations

import argparse
import gc
import json
import time

from ._harness import peak_rss_kib, reset_peak_rss, rss_now_kib, setup_torch
from ._models import quiet_captum, setup


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--impl", choices=("ours", "captum"), required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--samples", type=int, required=True)
    ap.add_argument("--chunk", type=int, required=True)
    a = ap.parse_args()
    setup_torch()
    model, wrapped, x, t = setup(a.n)
    if a.impl == "ours":
        from spectral_lib.explain import smooth_grad

        call = lambda: smooth_grad(model, x, 0.1, a.samples, t, chunk_size=a.chunk)  # noqa: E731
    else:
        from captum.attr import NoiseTunnel, Saliency

        quiet_captum()
        nt = NoiseTunnel(Saliency(wrapped))
        bs = a.chunk or None
        call = lambda: nt.attribute(x, nt_type="smoothgrad", nt_samples=a.samples, stdevs=0.1, target=t,  # noqa: E731
                                    abs=False, nt_samples_batch_size=bs)
    # warm-up on 2 images: one-off allocations (oneDNN primitives and scratchpads, MKL buffers) are not the call's
    if a.impl == "ours":
        from spectral_lib.explain import vanilla_grad

        vanilla_grad(model, x[:2], t[:2])
    else:
        Saliency(wrapped).attribute(x[:2], target=t[:2], abs=False)
    gc.collect()
    peak_setup = peak_rss_kib()
    reset = reset_peak_rss()  # from here VmHWM is the peak *during the call* (if the kernel allows the reset)
    before = rss_now_kib()
    t0 = time.perf_counter()
    call()
    seconds = time.perf_counter() - t0
    print(json.dumps({"before_kib": before, "peak_setup_kib": peak_setup, "peak_kib": peak_rss_kib(),
                      "peak_reset": reset, "seconds": seconds}))


if __name__ == "__main__":
    main()
