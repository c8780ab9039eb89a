#!/usr/bin/env python
"""Execute the companion's notebooks with papermill and build the Jupyter Book (offline).

Usage (from anywhere; paths are relative to the repository root):

    .venv/bin/python scripts/build_book.py --profile quick|paper|tiny|path/to/profile.yaml
        [--only STEM ...] [--param NAME=VALUE ...] [--check] [--no-execute] [--strict] [--no-pdf] [--path-output DIR]

First the whole profile is validated by `spectral_lib.companion.profiles.prepare` (the same code as the sweep and the notebooks'
first cell): unknown or invalid parameters, networks that cannot be built (built on the `meta` device), offsets past
the test split, `device: cuda` without CUDA. Errors name the chapter, the parameter and the value, in seconds, before
any notebook runs; `--check` stops there. Flow per notebook (in `_toc.yml` order): `notebooks/<stem>.py` (jupytext
percent format) -> papermill with profile `defaults` + `notebooks.<stem>` + `--param` overrides (the ones it
declares) -> `book/_generated/<stem>.ipynb` (written atomically). Then `book/_generated/run_report.md` is written from
the executed notebooks' metadata, each successful run of a chapter under a profile without `--param` overrides
records its wall time in `book/run_times.json`, the chapters get their "Before you start" boxes and glossary links
and the scorecard and lab tables are generated (`scripts/book_decorate.py`), MathJax is copied from the
`django-static-mathjax` package into the book's static path, `jupyter-book build` runs, and (unless `--no-pdf`, and
where Chromium is installed) the whole book is printed to `_build/html/spectral-companion.pdf` (`scripts/book_pdf.py`).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's spectral_lib, as the kernels get it through PYTHONPATH

from spectral_lib.cache import atomic_write  # noqa: E402
from spectral_lib.checks import ConfigError  # noqa: E402
from spectral_lib.companion.profiles import prepare  # noqa: E402
from spectral_lib.training.loop import TRAINED_LOG_ENV  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the book tooling beside this script
import book_decorate  # noqa: E402  (chapter headers, glossary links, lab times, scorecard)
import book_meta  # noqa: E402  (book/run_times.json, book/chapters.yaml)
import book_pdf  # noqa: E402  (the whole book as one PDF)
import book_smoke  # noqa: E402  (--smoke: every chapter on stand-in data, shrunk counts, time and memory)

NB_SRC = ROOT / "notebooks"
GEN = ROOT / "book" / "_generated"
GEN_PREFIX = "book/_generated/"
MATHJAX_DEST = GEN / "mathjax_static" / "mathjax"  # html_static_path entry in _config.yml is its parent
META_KEY = "spectral_companion"
RUN_TIMES = ROOT / "book" / "run_times.json"  # profile -> chapter -> measured wall time (machine-written)
SMOKE: "book_smoke.Smoke | None" = None  # set by --smoke


class BuildError(RuntimeError):
    """A failure reported to the user as one line, without a traceback."""


def toc_notebooks(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Return the stems of the generated notebooks referenced by `_toc.yml`, in reading order."""
    stems: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            f = node.get("file")
            if isinstance(f, str) and f.startswith(GEN_PREFIX):
                stems.append(Path(f[len(GEN_PREFIX):]).with_suffix("").as_posix())
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load(toc_path.read_text()))
    return stems


def parse_params(items: list[str]) -> dict:
    """Parse `NAME=VALUE` strings; values are read with yaml.safe_load (so 3 -> int, [1,2] -> list)."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise BuildError(f"--param expects NAME=VALUE, got {item!r}")
        out[name.strip()] = yaml.safe_load(value)
    return out


def _tag_injected_cell(nb) -> None:
    """Collapse papermill's injected-parameters cell in the book (tag `hide-input`)."""
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")


TABLES = GEN / "tables"  # <stem>/<name>.csv, written by the chapters (spectral_lib.companion.save_table)


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (out.stdout.strip() or "unknown") + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _device() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return f"GPU: {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001 - a report line must not fail the build
        pass
    return f"CPU: {_cpu_model()} ({os.cpu_count()} logical cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"


def reproduce_box(nb, stem: str, profile: str, overrides: dict) -> str:
    """The "Reproduce this page" box of an executed chapter, filled from papermill's own metadata (parameters,
    duration) and this machine's: the exact command, profile, parameters, wall time, device, versions, git commit,
    and links to the executed notebook and the chapter's tables as CSV."""
    pm_meta = nb.metadata.get("papermill", {})
    params = pm_meta.get("parameters", {})
    cmd = f"bash scripts/book.sh --profile {profile} --only {stem}"
    cmd += "".join(f" --param '{k}={yaml.safe_dump(v, default_flow_style=True).strip()}'"
                   for k, v in overrides.items())
    duration = pm_meta.get("duration")
    tables = sorted((TABLES / stem).glob("*.csv")) if (TABLES / stem).is_dir() else []
    links = [f"{{download}}`executed notebook <{stem}.ipynb>`"]
    links += [f"{{download}}`{t.stem}.csv <tables/{stem}/{t.name}>`" for t in tables]
    params_yaml = yaml.safe_dump(params, default_flow_style=None, sort_keys=False, width=100).strip()
    return "\n".join([
        "````{admonition} Reproduce this page", ":class: tip",
        f"**Command** (from a clone of the repository): `{cmd}`", "",
        f"**Profile** `{profile}`; **wall time** {duration:.1f} s; **device** {_device()}." if duration is not None
        else f"**Profile** `{profile}`; **device** {_device()}.", "",
        f"**Versions** spectral_lib {_version('spectral_lib')}, torch {_version('torch')}, captum "
        f"{_version('captum')}, papermill {_version('papermill')}; **git commit** {_git_commit()}.", "",
        "**Downloads** " + " · ".join(links), "",
        "**Parameters** (as papermill injected them):", "", "```yaml", params_yaml, "```", "````"])


def run_key(stem: str, params: dict, profile: str) -> str:
    """What an executed chapter depends on: its source, the parameters papermill injects, the profile name and every
    source file of the library (hashed). The same key means re-executing would compute the same page, since every
    computation is seeded and every result cached by configuration."""
    import hashlib
    import json

    h = hashlib.sha256()
    h.update((NB_SRC / f"{stem}.py").read_bytes())
    h.update(json.dumps({"params": params, "profile": profile}, sort_keys=True, default=str).encode())
    for f in sorted((ROOT / "spectral_lib").rglob("*")):
        if f.is_file() and f.suffix in (".py", ".yaml", ".yml", ".json"):
            h.update(f.relative_to(ROOT).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:20]


def run_meta(path: Path) -> dict:
    """What :func:`execute_notebook` recorded in an executed notebook's metadata (profile, wall_s, status, run_key,
    finished); {} for a notebook without it. Raises what nbformat raises for an unreadable file."""
    import nbformat

    return nbformat.read(path, as_version=4).metadata.get(META_KEY, {})


def up_to_date(stem: str, key: str) -> bool:
    """Whether `book/_generated/<stem>.ipynb` is a successful run with this exact run key."""
    path = GEN / f"{stem}.ipynb"
    if not path.is_file():
        return False
    try:
        meta = run_meta(path)
    except Exception:  # noqa: BLE001 - an unreadable output is simply re-executed
        return False
    return meta.get("status") == "ok" and meta.get("run_key") == key


def trained_log(stem: str) -> Path:
    """Where the chapter's kernel notes each network it trains (``$SPECTRAL_LIB_TRAINED_LOG``, one file name a line;
    :func:`book_meta.networks_in_log` counts them), in the build's folder of executed notebooks (a smoke run's own)."""
    return GEN / "trained" / f"{stem}.txt"


def execute_notebook(stem: str, params: dict, profile: str, overrides: dict | None = None) -> float:
    """Run `notebooks/<stem>.py` with papermill into `book/_generated/<stem>.ipynb`; return wall time in s.

    The output is written to `<stem>.partial.ipynb` while running and renamed when done; on failure it is kept
    as `<stem>.failed.ipynb` and a BuildError carrying the notebook's exception name and message is raised.
    """
    import jupytext
    import nbformat
    import papermill as pm

    src = NB_SRC / f"{stem}.py"
    if not src.is_file():
        raise BuildError(f"{stem}: source {src.relative_to(ROOT)} not found")
    out, partial = GEN / f"{stem}.ipynb", GEN / f"{stem}.partial.ipynb"
    partial.parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if SMOKE is not None:
        SMOKE.add_cells(nb, stem)  # memory at start-up and at the peak
    t0 = time.perf_counter()
    os.environ["SPECTRAL_LIB_CHAPTER"] = stem  # the kernel's book.parameters names the chapter in its errors
    os.environ["SPECTRAL_LIB_TABLES"] = str(TABLES / stem)  # where report.save_table writes the chapter's CSVs
    shutil.rmtree(TABLES / stem, ignore_errors=True)  # no stale tables from an earlier run
    trained = trained_log(stem)
    trained.parent.mkdir(parents=True, exist_ok=True)
    trained.unlink(missing_ok=True)
    os.environ[TRAINED_LOG_ENV] = str(trained)
    try:
        pm.execute_notebook(nb, str(partial), parameters=params, kernel_name="python3", cwd=str(ROOT),
                            report_mode=False, progress_bar=sys.stderr.isatty())
    except pm.PapermillExecutionError as e:
        os.replace(partial, GEN / f"{stem}.failed.ipynb")
        raise BuildError(f"{stem}: {e.ename}: {e.evalue} (cell {e.exec_count}; "
                         f"see book/_generated/{stem}.failed.ipynb)") from None
    except Exception as e:  # kernel died, bad parameters, ...
        raise BuildError(f"{stem}: {type(e).__name__}: {e}") from None
    finally:
        os.environ.pop("SPECTRAL_LIB_CHAPTER", None)
        os.environ.pop("SPECTRAL_LIB_TABLES", None)
        os.environ.pop(TRAINED_LOG_ENV, None)
    wall = time.perf_counter() - t0
    nb = nbformat.read(partial, as_version=4)
    _tag_injected_cell(nb)
    nb.cells.append(nbformat.v4.new_markdown_cell(reproduce_box(nb, stem, profile, overrides or {})))
    nb.metadata[META_KEY] = {"profile": profile, "wall_s": round(wall, 2), "status": "ok",
                             "run_key": run_key(stem, params, profile),
                             "finished": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    atomic_write(out, nbformat.writes(nb))
    partial.unlink(missing_ok=True)
    (GEN / f"{stem}.failed.ipynb").unlink(missing_ok=True)
    return wall


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def write_run_report(stems: list[str], failures: dict[str, str], profile: str = "") -> Path:
    """Write `book/_generated/run_report.md` from the metadata stored in the executed notebooks."""
    rows = []
    for stem in stems:
        path = GEN / f"{stem}.ipynb"
        if stem in failures:
            rows.append((stem, profile, "", f"failed: {failures[stem]}"))
        elif path.is_file():
            m = run_meta(path)
            rows.append((stem, m.get("profile", "?"), f"{m.get('wall_s', float('nan')):.1f}",
                         f"{m.get('status', '?')} ({m.get('finished', '?')})"))
        else:
            rows.append((stem, "", "", "not run"))
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")
    lines = (["| notebook | profile | wall time (s) | status |", "|---|---|---:|---|"]
             + ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
             if rows else ["No notebook chapters are listed in `_toc.yml` yet."])
    threads = os.environ.get("OMP_NUM_THREADS") or os.environ.get("TORCH_NUM_THREADS") or "unset"
    lines += ["", f"- Report written: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
              f"- Python {platform.python_version()}, torch {_version('torch')}, "
              f"papermill {_version('papermill')}, jupyter-book {_version('jupyter-book')}",
              f"- CPU: {_cpu_model()}; {os.cpu_count()} logical cores; OMP_NUM_THREADS={threads}",
              f"- Platform: {platform.platform()}", ""]
    return atomic_write(GEN / "run_report.md", "\n".join(lines))


def install_mathjax() -> Path:
    """Copy MathJax 3 (tex-mml-chtml.js, CHTML woff-v2 fonts, TeX extensions) from django-static-mathjax."""
    try:
        import mathjax  # the import name of the PyPI package django-static-mathjax
    except ImportError:
        raise BuildError("django-static-mathjax is not installed: math would need a CDN") from None
    src = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (src / "tex-mml-chtml.js").is_file():
        raise BuildError(f"tex-mml-chtml.js not found under {src}")
    MATHJAX_DEST.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "tex-mml-chtml.js", MATHJAX_DEST / "tex-mml-chtml.js")
    for sub in ("output/chtml/fonts/woff-v2", "input/tex/extensions"):
        shutil.copytree(src / sub, MATHJAX_DEST / sub, dirs_exist_ok=True)
    return MATHJAX_DEST


def build_book(strict: bool, path_output: str | None) -> None:
    """Run `jupyter-book build` on the repository root (with -W --keep-going when strict)."""
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(ROOT)]
    if path_output:
        cmd += ["--path-output", path_output]
    if strict:
        cmd += ["-W", "--keep-going"]
    if (ROOT / "_static").is_dir():
        print("warning: a root _static/ folder makes Jupyter Book add a <script> tag for every .js file "
              "in every static path (including MathJax's)", file=sys.stderr)
    print("$", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=ROOT).returncode:
        raise BuildError("jupyter-book build failed (see messages above)")


def build_pdf(strict: bool, path_output: str | None) -> Path | None:
    """The whole book as one PDF in the HTML book's root (:mod:`book_pdf`); skipped with a message when Chromium is
    not installed, a BuildError when it fails."""
    if book_pdf.chromium() is None:
        print("PDF skipped: chromium not installed (scripts/setup.sh installs it)", file=sys.stderr)
        return None
    jb = Path(sys.executable).with_name("jupyter-book")
    try:
        return book_pdf.build_pdf(ROOT, Path(path_output or ROOT) / "_build", strict,
                                  str(jb) if jb.exists() else "jupyter-book")
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        raise BuildError(f"PDF: {e}") from None


def validate(profile: str, only: list[str] | None, params: list[str], devices: bool = True
             ) -> tuple[str, list[str], list[str], dict]:
    """Load and validate the profile for the selected chapters (``spectral_lib.companion.profiles.prepare``); returns
    (profile name, every chapter stem, the selected stems, stem -> parameters papermill injects). BuildError naming
    the chapter, the error type, the parameter and the value."""
    stems = toc_notebooks()
    selected = stems
    if only:
        bad = [s for s in only if s not in stems]
        if bad:
            raise BuildError(f"--only: not in _toc.yml: {', '.join(bad)}; known: {', '.join(stems) or '(none)'}")
        selected = [s for s in stems if s in only]
    overrides = parse_params(params)
    try:
        name, prof, chapters = prepare(profile, selected, overrides, notebooks_dir=NB_SRC,
                                       profiles_dir=ROOT / "profiles", devices=devices)
        if devices:  # on a GPU: every training batch and explanation pass must fit it (the memory plan)
            from spectral_lib.companion.profiles import chapter_points
            from spectral_lib.experiments.memory_plan import check_gpu

            for stem, ch in chapters.items():
                check_gpu(chapter_points(stem, ch.params), stem)
    except ConfigError as e:
        stem, sep, rest = str(e).partition(": ")
        raise BuildError(f"{stem}: {type(e).__name__}: {rest}" if sep and stem in stems
                         else f"{type(e).__name__}: {e}") from None
    unknown = sorted(set(prof["notebooks"]) - set(stems))
    if unknown:
        raise BuildError(f"profile {name!r} lists notebooks not in _toc.yml: {', '.join(unknown)}")
    return name, stems, selected, {s: c.given for s, c in chapters.items()}


def lanes_for(stems: list[str], jobs: int) -> list[list[str]]:
    """Split ``stems`` into at most ``jobs`` lanes, each run in order: the first ``jobs`` lanes of
    book/chapters.yaml's ``lanes`` (chapters that share networks in one lane, the heavy ones spread), restricted to
    ``stems``; a chapter named in no lane goes, in ``stems`` order, to the lane with the fewest chapters."""
    meta = yaml.safe_load((ROOT / "book" / "chapters.yaml").read_text()) or {}
    spec = [list(lane) for lane in (meta.get("lanes") or [])][:jobs]
    lanes = [[s for s in lane if s in stems] for lane in spec] + [[] for _ in range(jobs - len(spec))]
    placed = {s for lane in lanes for s in lane}
    for stem in stems:
        if stem not in placed:
            min(lanes, key=len).append(stem)
    return [lane for lane in lanes if lane]


def run_lanes(lanes: list[list[str]], args, name: str, t0: float) -> None:
    """Execute each lane's chapters in its own ``build_book.py --no-build`` subprocess, all lanes at once, with the
    CPU's threads divided between them; raises BuildError naming the chapters of a lane that failed."""
    threads = max(1, (os.cpu_count() or 1) // len(lanes))
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "SPECTRAL_BOOK_JOBS": "1"}
    procs = []
    # a profile given as a path relative to where the build was started: the lanes run in the repository root
    as_path = Path(args.profile).expanduser()
    profile = str(as_path.resolve()) if args.profile.endswith((".yaml", ".yml")) and as_path.is_file() else args.profile
    for k, lane in enumerate(lanes, 1):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--profile", profile, "--only", *lane,
               "--no-build", "--jobs", "1", *[x for p in args.param for x in ("--param", p)], *(["--force"] if args.force else [])]
        print(f"[{name}] lane {k}/{len(lanes)} ({threads} thread(s)): {', '.join(lane)}", flush=True)
        if SMOKE is not None:  # a lane of this smoke run: its folders, its (inherited) environment
            cmd += ["--smoke-lane", str(SMOKE.dir)]
        procs.append((lane, subprocess.Popen(cmd, cwd=ROOT, env=env)))
    failed = [lane for lane, p in procs if p.wait() != 0]
    print(f"[{name}] lanes done in {time.perf_counter() - t0:.0f} s", flush=True)
    if failed:
        raise BuildError("a lane failed: " + "; ".join(", ".join(lane) for lane in failed) + " (see above)")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="quick", help="profile name in profiles/ or path to a YAML file")
    ap.add_argument("--only", nargs="+", metavar="STEM", help="execute only these notebooks (others keep output)")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="parameter override for every executed notebook (value parsed as YAML); repeatable")
    ap.add_argument("--check", action="store_true", help="only validate the profile (every chapter, every grid "
                                                         "point) and exit; runs nothing")
    ap.add_argument("--no-execute", action="store_true", help="do not run notebooks; build from existing outputs")
    ap.add_argument("--force", action="store_true", help="re-execute chapters whose output is up to date (same "
                                                         "source, parameters, profile and library code)")
    ap.add_argument("--no-build", action="store_true", help="run notebooks and write the report, skip the book")
    ap.add_argument("--strict", action="store_true", help="turn Sphinx warnings into errors (-W --keep-going)")
    ap.add_argument("--no-pdf", action="store_true", help="skip the whole-book PDF (single-page HTML printed by "
                                                          "headless Chromium)")
    ap.add_argument("--path-output", help="jupyter-book output folder (default: the repository root, i.e. _build/)")
    ap.add_argument("--jobs", type=int, default=None, metavar="N",
                    help="execute the chapters in N lanes side by side, each a subprocess with OMP_NUM_THREADS = "
                         "cores / N (default: $SPECTRAL_BOOK_JOBS, else 1); networks shared between chapters are "
                         "trained once (a lock per cache entry); lanes from book/chapters.yaml")
    ap.add_argument("--smoke", action="store_true", help="every chapter on stand-in data with counts shrunk to the "
                    "minimum, in a temporary folder (--path-output names it); per-chapter time and peak memory; "
                    "no book (scripts/book_smoke.py); one chapter at a time unless --jobs is given")
    ap.add_argument("--smoke-lane", metavar="DIR", help=argparse.SUPPRESS)  # a lane of the smoke run in DIR
    args = ap.parse_args(argv)
    global GEN, TABLES, SMOKE
    try:
        if args.smoke_lane:
            SMOKE = book_smoke.Smoke.attached(args.smoke_lane)
            GEN, TABLES = SMOKE.gen, SMOKE.gen / "tables"
            args.no_build = True
        elif args.smoke:
            try:
                SMOKE = book_smoke.Smoke(args.profile, ROOT, args.path_output)
            except ConfigError as e:
                raise BuildError(f"{type(e).__name__}: {e}") from None
            GEN, TABLES = SMOKE.gen, SMOKE.gen / "tables"
            args.profile, args.force, args.no_build = str(SMOKE.profile), True, True
        t0 = time.perf_counter()
        name, stems, selected, plan = validate(args.profile, args.only, args.param,
                                               devices=args.check or not args.no_execute)
        if args.check:
            print(f"[{name}] {len(selected)} chapter(s) valid in {time.perf_counter() - t0:.1f} s: "
                  f"{', '.join(selected)}", flush=True)
            return 0
        failures: dict[str, str] = {}
        if not args.no_execute:
            os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
            os.environ.pop("MPLBACKEND", None)  # kernels must use the inline backend, or figures are not embedded
            overrides = parse_params(args.param or [])
            jobs = args.jobs if args.jobs is not None else int(os.environ.get("SPECTRAL_BOOK_JOBS", "1") or 1)
            if jobs < 1:
                raise BuildError(f"--jobs must be a positive integer, got {jobs}")
            todo = [s for s in selected if args.force or not up_to_date(s, run_key(s, plan[s], name))]
            # a smoke run takes lanes only when asked with --jobs (its wall times then include the other lane's load;
            # its memory is each chapter's own kernel's)
            smoke_jobs = SMOKE is not None and not SMOKE.lane and args.jobs is not None
            lanes = lanes_for(todo, jobs) if jobs > 1 and (SMOKE is None or smoke_jobs) and len(todo) > 1 else []
            if len(lanes) > 1:
                if SMOKE is not None:
                    SMOKE.lanes = len(lanes)
                    print(f"[smoke] {len(lanes)} lanes side by side: each chapter's wall time includes the other "
                          f"lanes' load", flush=True)
                started = time.time()
                try:
                    run_lanes(lanes, args, name, t0)
                finally:
                    if SMOKE is not None:  # the lanes' chapters into the report, in book order
                        done = [s for s in selected if (GEN / f"{s}.ipynb").is_file()
                                and (GEN / f"{s}.ipynb").stat().st_mtime >= started]
                        for stem in done:
                            SMOKE.chapter_done(stem, float(run_meta(GEN / f"{stem}.ipynb")["wall_s"]))
                        if len(done) < len(selected):
                            SMOKE.finish(failed=next(s for s in selected if s not in done))
                args.force = False  # the lanes executed them: the loop below finds them up to date
                if SMOKE is not None:
                    selected = []  # reported above
            for i, stem in enumerate(selected, 1):
                params = plan[stem]
                print(f"[{name}] [{i}/{len(selected)}] {stem}: running ({time.perf_counter() - t0:.0f} s into the "
                      f"build) with {params}", flush=True)
                if not args.force and up_to_date(stem, run_key(stem, params, name)):
                    print(f"[{name}] [{i}/{len(selected)}] {stem}: up to date (same source, parameters and library "
                          f"code; --force re-executes)", flush=True)
                    continue
                try:
                    wall = execute_notebook(stem, params, name, overrides)
                except BuildError as e:
                    failures[stem] = str(e).split(": ", 1)[1]
                    write_run_report(stems, failures, name)
                    if SMOKE is not None:
                        SMOKE.finish(failed=stem)
                    raise
                print(f"[{name}] [{i}/{len(selected)}] {stem}: ok in {wall:.1f} s", flush=True)
                if SMOKE is not None:
                    SMOKE.chapter_done(stem, wall)
                elif not overrides:  # the profile's own run: its time goes into the chapters' headers
                    book_meta.record_run_time(RUN_TIMES, name, stem, wall, _device(),
                                              book_meta.networks_in_log(trained_log(stem)))
        write_run_report(stems, failures, name)
        if SMOKE is not None:
            SMOKE.finish()
        if args.no_build:
            return 0
        missing = [s for s in stems if not (GEN / f"{s}.ipynb").is_file()]
        if missing:
            raise BuildError(f"no executed output for {', '.join(missing)}: run without --no-execute")
        try:
            done = book_decorate.decorate(ROOT, GEN, stems, META_KEY)
        except book_meta.MetaError as e:
            raise BuildError(str(e)) from None
        print(f"{done['headers']} chapter headers, {done['links']} new glossary links, "
              f"{len(done['rows'])} scorecard rows", flush=True)
        install_mathjax()
        t0 = time.perf_counter()
        build_book(args.strict, args.path_output)
        print(f"book built in {time.perf_counter() - t0:.1f} s", flush=True)
        if not args.no_pdf:
            build_pdf(args.strict, args.path_output)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
