"""The smoke mode of the book command (``scripts/build_book.py --smoke``, ``bash scripts/book.sh --profile paper
--smoke``): every chapter of a profile executed with its real models, image sizes, methods and code paths, on
synthetic stand-ins of its datasets (:mod:`spectral_lib.data.standins`), with every count shrunk to the minimum, in
a temporary cache and output folder, reporting each chapter's wall time and peak memory.

:func:`smoke_profile` derives the smoke profile from a profile: each chapter's merged parameters (its parameters
cell, the profile's defaults it declares, its entry) with these changes, written into its entry:

* repetitions shrink: ``seeds`` (any ``*seeds``) and the value grids of :data:`FIRST` to their first element
  (Lemma 1's ``betas`` to two); :data:`FIRST_NONZERO` grids (a baseline 0 and a setting) to their first and first non-zero element;
* shapes and methods stay: ``methods``, ``image_sizes``, ``skip_bn``, ``pools`` whole; ``depths`` and
  ``width_mults`` to their first and last element (the largest and smallest network); activation lists
  (``activations``, ``*_activations``, ``size_activation_specs``, ``*_specs``) to the first activation of each
  family (``relu``, ``sp``, ``spc``, ``gelu``, ...; ``activations`` keeps at least two); ``conditions`` to the first
  of each kind (``natural``, ``permuted+smoothed``, ``permuted``); ``lr_by_activation`` follows its activations;
* counts drop to :data:`COUNTS` (a couple of images, 16 points per Theorem-1 line, two SmoothGrad samples, two IG
  steps, two epochs, ...; any
  other ``*_images`` and ``*_epochs`` to two; also inside nested training options such as ``jpeg_train``), the
  accuracy cap to 0.01 (a network passes it at the first check from epoch 2, so the capped code paths run), the
  training batch to :data:`SMOKE_BATCH` on stand-in datasets (whose training split holds two such batches:
  :data:`STANDIN_SIZES`);
* ``device: auto`` (the CPU here; a GPU where there is one), no ``cache_dir`` (the smoke's temporary cache).

Other list parameters are kept as they are. ``level="quick"`` (``SPECTRAL_LIB_SMOKE_LEVEL=quick``, what the test suite
runs to stay within its time budget) also keeps only the first and last image size, depth and SK/BN arm, the first
width multiplier, two activations and two input conditions, no PixelFlipping (the
dearest Quantus metric at 224 px; RegionPerturbation runs the same code), and a chapter with an ``image_sizes`` arm
trains its other arms at the smallest of those sizes: every chapter, model class, method and the largest and
smallest input still run. The kernel of each chapter gets two extra cells (:func:`start_cell`,
:func:`end_cell`) that record its resident memory at start-up and at its peak (``VmHWM``), and CUDA's peak
allocation where a GPU was used, into ``$SPECTRAL_LIB_SMOKE_REPORT/<stem>.json``.
"""
from __future__ import annotations

import copy
import json
import os

import resource
from pathlib import Path
from typing import Any

__all__ = ["smoke_profile", "shrink_parameters", "start_cell", "end_cell", "record_memory", "read_memory",
           "format_report", "LEVELS", "STANDIN_SIZES", "COUNTS", "FIRST", "FIRST_NONZERO", "SMOKE_BATCH", "SMOKE_CAP",
           "REPORT_ENV"]

REPORT_ENV = "SPECTRAL_LIB_SMOKE_REPORT"
SMOKE_BATCH = 4
STANDIN_SIZES = {"SPECTRAL_LIB_STANDIN_TRAIN": 8, "SPECTRAL_LIB_STANDIN_TEST": 32}  # two batches; a cap check at chance
# accuracy passes 0.01 unless all 32 test images are wrong (0.9**32 = 3% of networks at chance, 10 classes)
SMOKE_CAP = 0.01
COUNTS = {"n_images": 2, "theorem1_images": 1, "theorem1_points": 16, "n_samples": 2, "ig_steps": 2, "n_lines": 2,
          "max_epochs": 2, "benchmark_epochs": 1, "benchmark_repeats": 1, "penalty_subsample": 2, "n_examples": 2,
          "equal_epochs": 2}
FIRST = ("seeds", "trajectory_seeds", "gaussian_betas", "explain_time_betas", "lowpass_cutoffs",
         "penalty_strengths", "slow_relu_lrs")
FIRST_TWO = ("betas",)  # Lemma 1's random networks: two betas to compare, no data
FIRST_NONZERO = ("train_noise_stds", "train_blur_sigmas", "weight_decays")
KEEP = ("methods", "image_sizes", "skip_bn", "pools")
ENDS = ("depths", "width_mults")
EMBEDDED = ("mnist5k", "digits", "lfw")  # real data shipped with the packages: no stand-in, no smaller batch


def _family(spec: Any) -> str:
    """``"sp:0.5"`` -> ``"sp"``, ``"permuted+smoothed:1"`` -> ``"permuted+smoothed"``."""
    return str(spec).split(":")[0]


def _one_per_family(values: list, at_least: int = 1) -> list:
    out, seen = [], set()
    for v in values:
        if _family(v) not in seen:
            seen.add(_family(v))
            out.append(v)
    if len(out) < at_least:
        out += [v for v in values if v not in out][: at_least - len(out)]
    return out


def _is_activation_list(name: str) -> bool:
    return name in ("activations", "size_activation_specs") or name.endswith(("_activations", "_specs"))


LEVELS = ("full", "quick")


def _quick(out: dict[str, Any]) -> dict[str, Any]:
    """The ``quick`` level on top of ``full``: the shape grids to their first and last element (``width_mults`` to
    its first), the base ``image_size`` of a chapter with ``image_sizes`` to the smallest of them, two activations,
    one of each secondary activation list, two input conditions."""
    for name in ("image_sizes", "skip_bn", "depths", "size_ablation"):
        if isinstance(out.get(name), list) and out[name]:
            out[name] = [v for i, v in enumerate(out[name]) if i in (0, len(out[name]) - 1)]
    if isinstance(out.get("width_mults"), list):
        out["width_mults"] = out["width_mults"][:1]
    # a chapter with an image-size arm trains its other arms at the smallest size listed there: the largest input
    # still runs, in that arm (with every arm at the paper's 224 px, about 200 MB a checkpoint, the ablation chapter
    # took 331 of a quick smoke run's 932 s of chapters before this cut; 55 s after). The full level keeps the
    # chapter's own size.
    sizes = out.get("image_sizes")
    if isinstance(sizes, list) and sizes and isinstance(out.get("image_size"), int):
        out["image_size"] = min(sizes)
    if isinstance(out.get("conditions"), list):
        out["conditions"] = out["conditions"][:2]
    # Quantus' PixelFlipping at 224 px takes 1,024 forward passes per image and method (about 33 s each on a
    # 2-core CPU: 7 of the 12 minutes of a quick smoke run before this cut); RegionPerturbation runs the same
    # perturbation-curve code in 16 steps. The full level keeps every metric.
    metrics = out.get("faithfulness_metrics")
    if isinstance(metrics, list) and len(metrics) > 1 and "PixelFlipping" in metrics:
        out["faithfulness_metrics"] = [m for m in metrics if m != "PixelFlipping"]
    # faithfulness_images stays at two: with one image whose map is all zero (a CAM can be), Quantus' batch check
    # raises "The elements in the attribution vector are all equal to zero" (seen in this smoke run)
    acts = out.get("activations")
    for name, value in list(out.items()):
        if name == "activations" and isinstance(value, list):
            out[name] = value[:2]
        elif _is_activation_list(name) and isinstance(value, list) and value:
            inside = isinstance(acts, list) and set(value) <= set(acts)
            out[name] = ([a for a in value if a in acts[:2]] or acts[:1]) if inside else value[:1]
    return out


def _counts(out: dict[str, Any]) -> dict[str, Any]:
    """Counts down to :data:`COUNTS` (and any other ``*_images`` to two, ``*_epochs`` to two), the cap to
    :data:`SMOKE_CAP`; in place."""
    for name, value in out.items():
        if not isinstance(value, int) or isinstance(value, bool):
            continue
        small = COUNTS.get(name, 2 if name.endswith(("_images", "_epochs")) else None)
        if small is not None:
            out[name] = min(value, small)
    if out.get("accuracy_cap") is not None:
        out["accuracy_cap"] = SMOKE_CAP
    return out


def shrink_parameters(params: dict[str, Any], level: str = "full") -> dict[str, Any]:
    """One chapter's merged parameters -> its smoke parameters (the rules of the module docstring); ``level="quick"``
    (the test suite's) also cuts the shape grids to their ends and the activations to two (:func:`_quick`)."""
    if level not in LEVELS:
        raise ValueError(f"smoke level must be one of {LEVELS}, got {level!r}")
    out = dict(params)
    for name, value in params.items():
        if not isinstance(value, (list, tuple)) or not value:
            continue
        value = list(value)
        if name in FIRST or name.endswith("seeds"):
            out[name] = value[:1]
        elif name in FIRST_TWO:
            out[name] = value[:2]
        elif name in FIRST_NONZERO:
            nonzero = [v for v in value if v]
            out[name] = list(dict.fromkeys(value[:1] + nonzero[:1]))
        elif name in ENDS:
            out[name] = list(dict.fromkeys([value[0], value[-1]]))
        elif name == "conditions":
            out[name] = _one_per_family(value)
        elif _is_activation_list(name) and all(isinstance(v, str) for v in value):
            out[name] = _one_per_family(value, 2 if name == "activations" else 1)
    # a secondary activation list drawn from ``activations`` (e.g. a chapter's ``gap_activations``) stays within it:
    # the activations kept, of the families it had
    acts = params.get("activations")
    if isinstance(acts, (list, tuple)):
        for name, value in params.items():
            if (name != "activations" and _is_activation_list(name) and isinstance(value, (list, tuple)) and value
                    and set(value) <= set(acts)):
                families = {_family(v) for v in value}
                out[name] = [a for a in out["activations"] if _family(a) in families] or out["activations"][:1]
    _counts(out)
    for name, value in list(out.items()):  # nested training options (e.g. a chapter's ``jpeg_train``)
        if isinstance(value, dict) and set(value) & {"max_epochs", "accuracy_cap", "n_images", "batch_size"}:
            out[name] = _counts(dict(value))
    if "batch_size" in out and out.get("dataset", "mnist5k") not in EMBEDDED:
        out["batch_size"] = min(out["batch_size"], SMOKE_BATCH)
    if isinstance(out.get("lr_by_activation"), dict):
        acts = {a for k, v in out.items() if _is_activation_list(k) and isinstance(v, list) for a in v}
        out["lr_by_activation"] = {a: lr for a, lr in out["lr_by_activation"].items() if a in acts}
    if level == "quick":
        out = _quick(out)
        if isinstance(out.get("lr_by_activation"), dict):
            acts = {a for k, v in out.items() if _is_activation_list(k) and isinstance(v, list) for a in v}
            out["lr_by_activation"] = {a: lr for a, lr in out["lr_by_activation"].items() if a in acts}
    if "device" in out:
        out["device"] = "auto"
    out.pop("cache_dir", None)
    return out


def smoke_profile(prof: dict, notebooks_dir: str | Path | None = None, level: str = "full") -> dict:
    """The smoke profile of ``prof`` (a loaded profile mapping): the same chapters, each with its shrunk merged
    parameters as its entry (the profile's ``sweep`` section is dropped). Raises ConfigError like the book."""
    from .profiles import NOTEBOOKS_DIR, chapter_parameters, notebook_declarations

    nb_dir = Path(notebooks_dir) if notebooks_dir is not None else NOTEBOOKS_DIR
    defaults = {k: v for k, v in prof["defaults"].items() if k != "cache_dir"}
    notebooks = {}
    for stem in prof["notebooks"]:
        parsed = notebook_declarations(stem, nb_dir)
        declared = parsed[1] if parsed else set(prof["defaults"]) | set(prof["notebooks"][stem] or {})
        params = chapter_parameters(stem, prof, None, nb_dir, require_source=False).params
        small = shrink_parameters(params, level)
        notebooks[stem] = copy.deepcopy({k: v for k, v in small.items() if k in declared and k != "profile"})
    if "device" in defaults:
        defaults["device"] = "auto"
    return {"defaults": copy.deepcopy(defaults), "notebooks": notebooks}


# --------------------------------------------------------------------------------------------- chapter memory
def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def record_memory(stem: str, phase: str) -> dict:
    """Write this process's resident memory (``phase="start"``) or its peak so far (``"end"``: ``VmHWM``, else
    ``ru_maxrss``; plus CUDA's peak allocation if a GPU was used), in bytes, into
    ``$SPECTRAL_LIB_SMOKE_REPORT/<stem>.json``; returns the entry."""
    folder = Path(os.environ.get(REPORT_ENV) or ".")
    path = folder / f"{stem}.json"
    entry = json.loads(path.read_text()) if path.is_file() else {"chapter": stem}
    ru = resource.getrusage(resource.RUSAGE_SELF)
    entry[f"cpu_{phase}"] = round(ru.ru_utime + ru.ru_stime, 2)  # CPU seconds of the kernel (all its threads)
    if phase == "start":
        entry["rss_start"] = (_status_kib("VmRSS") or 0) * 1024
    else:
        peak = _status_kib("VmHWM")
        entry["rss_peak"] = peak * 1024 if peak is not None else ru.ru_maxrss * 1024
        try:
            import torch

            if torch.cuda.is_available() and torch.cuda.is_initialized():
                entry["cuda_peak"] = int(torch.cuda.max_memory_allocated())
                entry["cuda_device"] = torch.cuda.get_device_name(0)
        except Exception:  # noqa: BLE001 - the report must not fail the chapter
            pass
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entry))
    return entry


def start_cell(stem: str) -> str:
    """Source of the cell put first in a chapter in smoke mode (imports torch, records the start-up memory)."""
    return ("# smoke mode: memory at start-up (after importing torch and the library)\n"
            "import torch, spectral_lib  # noqa\n"
            "from spectral_lib.companion.smoke import record_memory as _smoke_memory\n"
            f"_smoke_memory({stem!r}, 'start');")


def end_cell(stem: str) -> str:
    """Source of the cell put last in a chapter in smoke mode (records the peak memory)."""
    return f"# smoke mode: peak memory\n_smoke_memory({stem!r}, 'end');"


def read_memory(folder: str | Path, stem: str) -> dict:
    """The memory entry a chapter's kernel wrote (empty if none)."""
    path = Path(folder) / f"{stem}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _gib(n: float | None) -> str:
    return "" if n is None else f"{n / 2**30:.2f}"


def format_report(rows: list[dict]) -> str:
    """Markdown table of the smoke run: chapter, wall time, peak resident memory, memory above start-up, CUDA peak
    (rows: ``chapter``, ``wall_s`` and the memory entry), with the largest consumer named."""
    lines = ["| chapter | wall time (s) | kernel CPU time (s) | peak RSS (GiB) | above start-up (GiB) | "
             "CUDA peak (GiB) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        above = r["rss_peak"] - r["rss_start"] if "rss_peak" in r and "rss_start" in r else None
        cpu = f"{r['cpu_end']:.0f}" if "cpu_end" in r else ""
        lines.append(f"| {r['chapter']} | {r.get('wall_s', float('nan')):.1f} | {cpu} | {_gib(r.get('rss_peak'))} | "
                     f"{_gib(above)} | {_gib(r.get('cuda_peak'))} |")
    measured = [r for r in rows if "rss_peak" in r]
    if measured:
        top = max(measured, key=lambda r: r.get("cuda_peak") or r["rss_peak"])
        lines += ["", f"Largest memory consumer: {top['chapter']} (peak {_gib(top['rss_peak'])} GiB resident"
                  + (f", {_gib(top['cuda_peak'])} GiB CUDA" if top.get("cuda_peak") else "") + ")."]
    total = sum(r.get("wall_s", 0.0) for r in rows)
    cpu = sum(r.get("cpu_end", 0.0) for r in rows)
    lines += ["", f"{len(rows)} chapter(s) in {total:.1f} s of wall time, {cpu:.0f} s of the kernels' CPU time."]
    return "\n".join(lines)


