"""Case ``allocator``: the allocator settings of ``scripts/cpu_env.sh`` (glibc's ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_``, which keep freed memory in the process) against glibc's defaults, the baseline.

glibc reads these settings when a process starts, so each run is a fresh subprocess: two epochs of
:func:`spectral_lib.training.train` (the simple CNN, depth 3, SP(1), batch 256) over 2,048 uint8 3x32x32 images
with flips, as the CIFAR-10 chapter trains, interleaved with and without the settings. Reported: the training loop's
own clock (``TrainResult.seconds``), the subprocess's system (kernel) time and its peak resident memory; the
weights must come out bit-identical (the run fails otherwise). Target: >= 1.05x (the settings are worth keeping)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from ._harness import Row, Section, fmt_time, median, paired_ratio

SETTINGS = {"MALLOC_MMAP_THRESHOLD_": "4294967296", "MALLOC_TRIM_THRESHOLD_": "68719476736"}

_CHILD = r"""
import hashlib, json, resource, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from benchmarks.train_loop import _splits
from spectral_lib.training import TrainConfig, train
splits = _splits((3, 32, 32), 2048, 32, "uint8")
cfg = TrainConfig(dataset="mnist5k", activation="sp:1", model_options={"depth": 3}, batch_size=256, max_epochs=2,
                  accuracy_cap=None, device="cpu")
model, result = train(cfg, splits, progress=False)
h = hashlib.sha256(b"".join(v.detach().contiguous().numpy().tobytes() for v in model.state_dict().values()))
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": result.seconds, "sys": ru.ru_stime, "rss_mb": ru.ru_maxrss / 1024,
                  "weights": h.hexdigest()}))
"""


def _child(settings: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    if settings:
        env.update(SETTINGS)
    import torch

    out = subprocess.run([sys.executable, "-c", _CHILD, str(torch.get_num_threads())], env=env, check=True,
                         capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> Section:
    sec = Section("allocator")
    rounds = 2 if quick else 4
    runs: dict[bool, list[dict]] = {True: [], False: []}
    for r in range(rounds):
        for settings in ((True, False) if r % 2 else (False, True)):
            runs[settings].append(_child(settings))
    hashes = {x["weights"] for v in runs.values() for x in v}
    if len(hashes) != 1:
        raise RuntimeError(f"allocator: the weights differ between runs ({sorted(hashes)}): the settings changed "
                           "the arithmetic")
    ours, base = [x["seconds"] for x in runs[True]], [x["seconds"] for x in runs[False]]
    ratio, lo, hi = paired_ratio(base, ours)
    sec.rows.append(Row("training loop, simple_cnn depth 3, SP(1), 3x32x32, batch 256, 2 epochs of 2,048 images "
                        "(a subprocess per run)", fmt_time(median(ours)), fmt_time(median(base)), ratio, 1.05,
                        (lo, hi)))
    sys_ours, sys_base = median([x["sys"] for x in runs[True]]), median([x["sys"] for x in runs[False]])
    rss_ours, rss_base = median([x["rss_mb"] for x in runs[True]]), median([x["rss_mb"] for x in runs[False]])
    sec.notes.append(f"system time per run: {sys_ours:.2f} s with the settings, {sys_base:.2f} s without; peak "
                     f"resident memory {rss_ours:.0f} MB with, {rss_base:.0f} MB without; weights bit-identical in "
                     f"all {2 * rounds} runs. Settings: " + ", ".join(f"{k}={v}" for k, v in SETTINGS.items()))
    return sec
