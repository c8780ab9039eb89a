"""The run of :func:`spectral_lib.tools.analyze_details`, after every check: each batch of images, each method;
degenerate maps flagged (EF = NaN), a method that fails left out with its reason (the others kept), Ctrl-C keeping
the finished batches; one tqdm bar over images x methods."""
from __future__ import annotations

import inspect
import sys
from collections import Counter
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..explain import METHODS
from ..spectral import degenerate_reason, expected_frequency, radial_profile, to_map
from .plan import error_line
from .validate import REFERENCE_METHOD

__all__ = ["run_methods", "TABLE_COLUMNS"]

TABLE_COLUMNS = ("image", "method", "target", "ef_paper", "ef_nyquist", "gap_ef_paper", "gap_ef_nyquist", "flag")
# methods that run several gradient passes per image, and the option that says how many
_PASSES = {"smooth_grad": "n_samples", "integrated_gradients": "n_steps", "captum_integrated_gradients": "n_steps"}
_N_EXAMPLES = 4  # images whose maps are kept for the figure


def _default(method: str, option: str) -> Any:
    return inspect.signature(METHODS[method]).parameters[option].default


def run_methods(model: nn.Module, normalised: Callable[[slice], torch.Tensor], n: int, targets: torch.Tensor,
                run: list[str], plans: dict, chunk, progress: bool, max_tie_fraction: float, result) -> None:
    """Explain images ``0..n-1`` (``normalised(slice)`` gives them on the model's device, in its dtype) for classes
    ``targets`` (n,) with each method of ``run`` (options from ``plans``), ``chunk.batch`` images at a time; the
    multi-pass methods on ``chunk.chunk // passes`` images per call. Fills ``result`` (an AnalysisResult): table,
    mean_spectra, example_maps / example_flags, flag_counts, failed, interrupted."""
    from tqdm.auto import tqdm

    done: dict[str, dict[str, list]] = {k: {"paper": [], "nyquist": [], "flag": []} for k in run}
    spectra: dict[str, torch.Tensor] = {}
    counted: Counter = Counter()
    examples: dict[str, list] = {k: [] for k in run}
    active = list(run)
    n_done = 0
    bar = tqdm(total=n * len(run), desc=result.model_name, unit="map", disable=not progress, file=sys.stderr)
    try:
        for i in range(0, n, chunk.batch):
            sl = slice(i, min(i + chunk.batch, n))
            x = normalised(sl)
            t = targets[sl].to(x.device)
            batch: dict[str, dict[str, list]] = {}
            for meth in list(active):
                bar.set_postfix_str(meth, refresh=False)
                opts = plans[meth].options
                passes = opts.get(_PASSES[meth], _default(meth, _PASSES[meth])) if meth in _PASSES else 1
                step = max(1, chunk.chunk // max(1, passes)) if meth in _PASSES else len(x)
                out = {"paper": [], "nyquist": [], "flag": [], "maps": []}
                try:
                    for j in range(0, len(x), step):
                        attr = METHODS[meth](model, x[j : j + step], target=t[j : j + step], **opts).detach()
                        flags = degenerate_reason(attr.double(), max_tie_fraction)
                        maps = to_map(attr.float())
                        for d in ("paper", "nyquist"):
                            ef = expected_frequency(maps, d).double().cpu()
                            ef[torch.tensor([f is not None for f in flags], dtype=torch.bool)] = float("nan")
                            out[d].append(ef)
                        out["flag"] += flags
                        out["maps"].append(maps.cpu())
                        bar.update(len(attr))
                except Exception as e:  # noqa: BLE001: a failure after the checks: keep the other methods
                    result.failed[meth] = (f"{error_line(e)} (on images {sl.start}-{sl.stop - 1}; its results "
                                           "are left out)")
                    active.remove(meth)
                    continue
                batch[meth] = out
            for meth, out in batch.items():  # commit the finished batch
                if meth not in active:
                    continue
                for d in ("paper", "nyquist"):
                    done[meth][d] += out[d]
                done[meth]["flag"] += out["flag"]
                maps = torch.cat(out["maps"])
                ok = torch.tensor([f is None for f in out["flag"]])
                if bool(ok.any()):
                    prof = radial_profile(maps[ok]).double().sum(0)
                    spectra[meth] = spectra[meth] + prof if meth in spectra else prof
                    counted[meth] += int(ok.sum())
                have = sum(len(e[0]) for e in examples[meth])
                if have < _N_EXAMPLES:
                    examples[meth].append((maps[: _N_EXAMPLES - have].numpy(), out["flag"][: _N_EXAMPLES - have]))
            n_done = sl.stop
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        bar.close()
    kept = [k for k in run if k in active]
    result.table = _table(done, kept, targets[:n_done].numpy(), result.class_names)
    result.mean_spectra = {k: (spectra[k] / counted[k]).numpy() if counted[k] else None for k in kept}
    result.example_maps = {k: np.concatenate([e[0] for e in examples[k]]) for k in kept if examples[k]}
    result.example_flags = {k: [f for e in examples[k] for f in e[1]] for k in kept if examples[k]}
    result.flag_counts = {k: dict(Counter(f for f in done[k]["flag"] if f is not None)) for k in kept
                          if any(f is not None for f in done[k]["flag"])}


def _table(done, kept, tgt: np.ndarray, class_names) -> pd.DataFrame:
    n = len(tgt)
    cat = {k: {d: (torch.cat(done[k][d]).numpy() if done[k][d] else np.zeros(0)) for d in ("paper", "nyquist")}
           for k in kept}
    ref = cat.get(REFERENCE_METHOD, {d: np.full(n, np.nan) for d in ("paper", "nyquist")})
    frames = []
    for k in kept:
        ef = cat[k]
        frame = {"image": np.arange(n), "method": k, "target": tgt}
        if class_names is not None:
            frame["target_name"] = [class_names[int(c)] for c in tgt]
        frame.update({"ef_paper": ef["paper"], "ef_nyquist": ef["nyquist"],
                      "gap_ef_paper": np.abs(ef["paper"] - ref["paper"]),
                      "gap_ef_nyquist": np.abs(ef["nyquist"] - ref["nyquist"]), "flag": done[k]["flag"][:n]})
        frames.append(pd.DataFrame(frame))
    columns = list(TABLE_COLUMNS)
    if class_names is not None:
        columns.insert(3, "target_name")
    if not frames:
        return pd.DataFrame(columns=columns)
    # frames are in run order: a stable sort by image keeps that order within each image
    return pd.concat(frames, ignore_index=True).sort_values("image", kind="stable").reset_index(drop=True)[columns]
