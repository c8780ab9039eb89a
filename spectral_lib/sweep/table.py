"""The sweep's report: one row per point, and the rows as a plain-text table with a one-line summary."""
from __future__ import annotations

import json
from dataclasses import asdict

from ..experiments import EvalSpec
from ..training import TrainConfig
from .plan import Plan
from .state import STATUSES, state_path

__all__ = ["rows", "format_table"]

_ABBREV = {"vanilla_grad": "VG", "smooth_grad": "SG", "integrated_gradients": "IG", "grad_cam": "GC",
           "guided_backprop": "GBP", "guided_grad_cam": "GGC", "deeplift": "DL"}
_ORDER = {m: i for i, m in enumerate(_ABBREV)}


def _spec_setting(p) -> dict:
    """A point's evaluation settings as ``eval.<field>``; a trajectory shows only that it is one and its images."""
    if p.is_trajectory:
        return {"eval.trajectory": True, "eval.n_images": p.spec.n_images}
    return {f"eval.{k}": v for k, v in asdict(p.spec).items()}


def rows(pl: Plan, statuses: dict) -> list[dict]:
    """One row per point: key, notebooks, model, activation, seed, status, setting (every TrainConfig field and
    ``eval.<field>``), detail, summary (done points), profile, cache_dir, device, executor."""
    out = []
    for p in pl.points:
        st, detail = statuses[p.key]
        e = pl.state["points"].get(p.key, {})
        out.append({"key": p.key, "notebooks": list(p.notebooks), "model": p.config.model,
                    "activation": p.config.activation, "seed": p.config.seed, "status": st,
                    "setting": {**asdict(p.config), **_spec_setting(p)},
                    "detail": detail if isinstance(detail, str) else "",
                    "summary": e.get("summary") if st == "done" else None,
                    "profile": pl.profile, "cache_dir": str(pl.cache_dir), "device": pl.device,
                    "executor": pl.settings["executor"]})
    return out


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 3] + "..."


def _short(stem: str) -> str:
    head = stem.split("_")[0]
    return head if head.isdigit() else stem


def format_table(rows: list[dict]) -> str:
    """The rows of :func:`~spectral_lib.sweep.status`/:func:`~spectral_lib.sweep.submit` as a plain-text table
    with a one-line summary."""
    head = ["key", "notebooks", "model", "activation", "seed", "varies", "status", "test acc", "cap", "mean EF x1e5",
            "detail"]
    if any("action" in r for r in rows):
        head.insert(7, "action")
    # settings (other than the shown columns) that differ between points, e.g. the ablations' depth or image size
    shown = {"model", "activation", "seed", "eval.methods"}
    settings = [r.get("setting") or {} for r in rows]
    varying = sorted(k for k in set().union(*settings) - shown
                     if len({json.dumps(st.get(k), sort_keys=True, default=str) for st in settings}) > 1)
    table = []
    defaults = {**asdict(TrainConfig()), **{f"eval.{k}": v for k, v in asdict(EvalSpec()).items()}}
    for r, st in zip(rows, settings):
        varies = " ".join(f"{k.removeprefix('eval.')}={json.dumps(st.get(k), separators=(',', ':'))}"
                          for k in varying if k in st and st.get(k) != defaults.get(k))
        s = r.get("summary") or {}
        efs = sorted((s.get("ef") or {}).items(), key=lambda kv: _ORDER.get(kv[0], len(_ORDER)))
        ef = " ".join(f"{_ABBREV.get(m, m)} {v * 1e5:.2f}" for m, v in efs)
        line = [r["key"][:10], ",".join(_short(n) for n in r["notebooks"]), r["model"], r["activation"],
                str(r["seed"]), varies, r["status"], f"{s['test_accuracy']:.3f}" if s else "",
                ("yes" if s["cap_reached"] else "no") if s else "", ef, _clip(r["detail"], 100)]
        if "action" in head:
            line.insert(7, r.get("action", ""))
        table.append(line)
    widths = [max([len(h)] + [len(t[i]) for t in table]) for i, h in enumerate(head)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    out = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(t) for t in table]
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    if rows:
        r0 = rows[0]
        out.append(f"profile {r0['profile']}: {len(rows)} point(s): " + ", ".join(f"{n} {s}" for s, n in
                                                                                  counts.items())
                   + f"  (executor {r0['executor']}, device {r0['device']}, cache {r0['cache_dir']}; "
                   f"full details in {state_path(r0['cache_dir'], r0['profile'])})")
    else:
        out.append("no grid points: the profile lists no notebook with `activations`")
    return "\n".join(out)
