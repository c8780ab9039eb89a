"""Case ``smooth``: SmoothGrad against captum's NoiseTunnel(Saliency), same noise check, peak memory vs chunk_size."""
from __future__ import annotations

import torch

from ._harness import Row, Section, fmt_time, interleaved, median, paired_ratio, run_probe
from ._models import quiet_captum, setup

STD = 0.1


def _captum_on_noise(nt, x, t, noise, batch):
    """captum's NoiseTunnel with its noise draw replaced by ``noise`` (n_samples, N, ...), our layout."""
    from captum.attr import NoiseTunnel

    state = {"s": 0}
    original = NoiseTunnel.__dict__["_add_noise_to_input"]

    def fake(inp, stdev, k):  # captum's layout: image-major, its k noisy copies adjacent
        s0 = state["s"]
        state["s"] += k
        eps = noise[s0 : s0 + k].transpose(0, 1).reshape(len(inp) * k, *inp.shape[1:])
        return inp.repeat_interleave(k, dim=0) + eps

    NoiseTunnel._add_noise_to_input = staticmethod(fake)
    try:
        out = nt.attribute(x, nt_type="smoothgrad", nt_samples=len(noise), stdevs=STD, target=t, abs=False,
                           nt_samples_batch_size=batch)
    finally:
        NoiseTunnel._add_noise_to_input = original
    assert state["s"] == len(noise)
    return out


def run(quick: bool = False) -> Section:
    from captum.attr import NoiseTunnel, Saliency

    from spectral_lib.explain.core import _log_softmax_grad
    from spectral_lib.explain import smooth_grad

    quiet_captum()
    sec = Section("smooth")
    n, samples = (8, 10) if quick else (32, 50)
    model, wrapped, x, t = setup(256 if not quick else 32)
    x, t = x[:n].contiguous(), t[:n].contiguous()
    nt = NoiseTunnel(Saliency(wrapped))

    # --- speed ---
    # defaults on both sides (ours chunk_size=4096: all n x samples inputs in one pass here; captum: all samples in
    # one pass), then the same pass size on both sides (ours chunk_size=c, captum nt_samples_batch_size=c // n).
    # "floor": one forward + backward over the n x samples noisy inputs, built beforehand (the part that no
    # SmoothGrad implementation can avoid); it tells how much of each side's time is overhead.
    c = 2 * n if quick else 4 * n
    noisy = (x[None] + STD * torch.randn(samples, *x.shape, generator=torch.Generator().manual_seed(3)))
    noisy = noisy.reshape(samples * n, *x.shape[1:])
    tt = t.repeat(samples)

    def captum(batch=None):
        return nt.attribute(x, nt_type="smoothgrad", nt_samples=samples, stdevs=STD, target=t, abs=False,
                            nt_samples_batch_size=batch)

    fns = {
        "ours": lambda: smooth_grad(model, x, STD, samples, t),
        "captum": captum,
        "ours_c": lambda: smooth_grad(model, x, STD, samples, t, chunk_size=c),
        "captum_c": lambda: captum(c // n),
        "floor": lambda: _log_softmax_grad(model, noisy, tt),
    }
    # warm-up on 2 images x 2 samples (library loading, oneDNN primitives): a full-size warm-up would cost minutes
    smooth_grad(model, x[:2], STD, 2, t[:2])
    nt.attribute(x[:2], nt_type="smoothgrad", nt_samples=2, stdevs=STD, target=t[:2], abs=False)
    times = interleaved(fns, repeats=2 if quick else 3, warmup=0)
    med = {k: median(v) for k, v in times.items()}
    label = f"SmoothGrad {n}x3x64x64, {samples} samples"
    r, lo, hi = paired_ratio(times["captum"], times["ours"])
    sec.rows.append(Row(f"{label}, defaults ({n * samples} inputs/pass both)", fmt_time(med["ours"]),
                        fmt_time(med["captum"]), r, 1.5, (lo, hi)))
    r, lo, hi = paired_ratio(times["captum"], times["ours_c"])
    sec.rows.append(Row(f"{label}, ours chunk_size={c} vs captum default", fmt_time(med["ours_c"]),
                        fmt_time(med["captum"]), r, None, (lo, hi)))
    r, lo, hi = paired_ratio(times["captum_c"], times["ours_c"])
    sec.rows.append(Row(f"{label}, {c} inputs/pass both (nt_samples_batch_size={c // n})", fmt_time(med["ours_c"]),
                        fmt_time(med["captum_c"]), r, None, (lo, hi)))
    fl = med["floor"]
    sec.notes.append(f"floor (one forward+backward of the {n * samples} noisy inputs in one pass, no noise drawing, "
                     f"no reduction): {fmt_time(fl)}; ours = {med['ours'] / fl:.2f} x floor, captum = "
                     f"{med['captum'] / fl:.2f} x floor (defaults); with {c} inputs/pass: ours = "
                     f"{med['ours_c'] / fl:.2f} x floor, captum = {med['captum_c'] / fl:.2f} x floor")

    # --- same result on the same noise (captum's draw monkeypatched) ---
    m = min(n, 8)
    xs, ts = x[:m], t[:m]
    noise = torch.randn(samples, *xs.shape, generator=torch.Generator().manual_seed(7)) * STD
    ours = smooth_grad(model, xs, STD, samples, ts, noise=noise)
    theirs = _captum_on_noise(nt, xs, ts, noise, batch=max(1, samples // 5))
    rel = float((ours - theirs).abs().max() / theirs.abs().max())
    sec.notes.append(f"same noise ({m} images x {samples} samples, captum's draw monkeypatched, "
                     f"nt_samples_batch_size={max(1, samples // 5)}): max|ours - captum| / max|captum| = {rel:.1e} "
                     f"-> {'equal to float32 round-off' if rel < 1e-5 else 'MISMATCH'}")
    # statistical: independent draws differ from captum as much as from each other
    a = smooth_grad(model, xs, STD, samples, ts, generator=torch.Generator().manual_seed(1))
    b = smooth_grad(model, xs, STD, samples, ts, generator=torch.Generator().manual_seed(2))
    c = nt.attribute(xs, nt_type="smoothgrad", nt_samples=samples, stdevs=STD, target=ts, abs=False)
    d_ab, d_ac = float((a - b).abs().mean()), float((a - c).abs().mean())
    sec.notes.append(f"independent noise: mean|ours(seed1) - ours(seed2)| = {d_ab:.2e}, "
                     f"mean|ours(seed1) - captum| = {d_ac:.2e} (ratio {d_ac / d_ab:.2f}; ~1 = same distribution)")

    # --- peak memory against chunk_size, fresh subprocess per point ---
    points = [("ours", c) for c in ((16, 80) if quick else (128, 512, 4096))]
    points += [("captum", c) for c in ((2, 0) if quick else (4, 0))]
    rows = []
    for impl, c in points:
        res = run_probe(["--impl", impl, "--n", str(n), "--samples", str(samples), "--chunk", str(c)])
        if impl == "ours":
            per_pass = min(max(1, c // n), samples) * n if c >= n else c
            knob = f"chunk_size={c}"
        else:
            per_pass = (min(c, samples) if c else samples) * n
            knob = f"nt_samples_batch_size={c or 'None'}"
        delta = (res["peak_kib"] - res["before_kib"]) / 1024
        rows.append([impl, knob, str(per_pass), f"{delta:.0f}", f"{delta / per_pass:.2f}", f"{res['peak_kib'] / 1024:.0f}",
                     fmt_time(res["seconds"])])
    sec.extra_tables.append((
        ["impl", "setting", "images/pass", "peak RSS - RSS before (MiB)", "MiB/image", "peak RSS (MiB)", "time"],
        rows,
    ))
    sec.notes.append(f"peak memory: {n} images x {samples} samples, one call per fresh interpreter (after a "
                     "2-image warm-up), peak RSS during the call (VmHWM, reset via /proc/self/clear_refs just "
                     "before it) minus the RSS just before it; getrusage's ru_maxrss is not used: across fork+exec "
                     "it keeps the parent's RSS")
    return sec
