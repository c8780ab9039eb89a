"""The book's own metadata, written and read by ``scripts/build_book.py``: measured run times, chapter headers, lab plans.

* ``book/run_times.json`` (committed, machine-written): ``{profile: {chapter: {"seconds", "machine", "date",
  "networks_trained", "load"}}}``, one entry per chapter and profile, replaced by every successful execution of that
  chapter under that profile without ``--param`` overrides (:func:`record_run_time`, atomic and locked).
* ``book/chapters.yaml`` (hand-written): per chapter its prerequisites, background and what the reader will learn;
  the teaching guide's lab plans (:func:`load_chapters` validates it).
* The "Before you start" box after each chapter's title (:func:`header_markdown`, :func:`insert_header`), and the
  teaching guide's generated tables (:func:`labs_markdown`): both from these two files, never typed by hand.
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Mapping

import yaml

HEADER_BEGIN = "% spectral-companion chapter header (written by scripts/build_book.py; do not edit)"
HEADER_END = "% end of chapter header"
_HEADER_RE = re.compile(re.escape(HEADER_BEGIN) + r".*?" + re.escape(HEADER_END) + r"\n?", re.S)
CHAPTER_KEYS = {"prerequisites", "background", "learn"}
LAB_KEYS = {"id", "title", "minutes", "profile", "chapters", "exercises", "notes"}


class MetaError(ValueError):
    """A problem in book/chapters.yaml or book/run_times.json, named by file and entry."""


# ------------------------------------------------------------------------------------------------ chapters.yaml
def load_chapters(path: Path, stems: list[str] | None = None, profiles: list[str] | None = None) -> dict:
    """Read and validate ``book/chapters.yaml``: ``{"chapters": {stem: {...}}, "labs": [...]}``.

    Refused with a MetaError naming the entry: unknown keys, a chapter of ``stems`` (the TOC's, in reading order)
    without an entry, a prerequisite that is not a chapter listed before it in ``stems`` (prerequisites of chapters
    not in the TOC only have to be known chapters), an empty ``learn``, a lab whose profile is not in ``profiles`` or
    whose chapters are not in ``stems``."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise MetaError(f"{path}: cannot read: {e}") from None
    chapters, labs = data.get("chapters") or {}, data.get("labs") or []
    lanes = data.get("lanes") or []
    if set(data) - {"chapters", "labs", "lanes"} or not isinstance(chapters, dict) or not isinstance(labs, list):
        raise MetaError(f"{path}: expected a mapping with 'chapters' (stem -> entry), 'labs' (a list) and "
                        f"optionally 'lanes' (lists of chapters)")
    if not isinstance(lanes, list) or any(not isinstance(lane, list) or any(c not in chapters for c in lane)
                                          for lane in lanes):
        raise MetaError(f"{path}: lanes must be lists of chapters that have an entry under 'chapters'")
    order = list(stems) if stems is not None else list(chapters)
    for stem, entry in chapters.items():
        if not isinstance(entry, dict) or set(entry) - CHAPTER_KEYS:
            raise MetaError(f"{path}: chapters.{stem}: keys must be among {sorted(CHAPTER_KEYS)}")
        learn = entry.get("learn")
        if not learn or not isinstance(learn, list) or not all(isinstance(s, str) and s for s in learn):
            raise MetaError(f"{path}: chapters.{stem}.learn must be a non-empty list of phrases")
        pre = entry.get("prerequisites") or []
        for p in pre:
            if p not in chapters:
                raise MetaError(f"{path}: chapters.{stem}.prerequisites: unknown chapter {p!r}")
            if stem in order and (p not in order or order.index(p) >= order.index(stem)):
                raise MetaError(f"{path}: chapters.{stem}.prerequisites: {p!r} is not a chapter before it "
                                f"in _toc.yml")
    missing = [s for s in (stems or []) if s not in chapters]
    if missing:
        raise MetaError(f"{path}: no entry for chapter(s) {', '.join(missing)} (every chapter in _toc.yml needs "
                        f"prerequisites and what the reader will learn)")
    for i, lab in enumerate(labs):
        where = f"{path}: labs[{i}] ({lab.get('id', '?') if isinstance(lab, dict) else '?'})"
        if not isinstance(lab, dict) or set(lab) - LAB_KEYS or not {"id", "title", "profile", "chapters"} <= set(lab):
            raise MetaError(f"{where}: keys must be among {sorted(LAB_KEYS)} with id, title, profile, chapters")
        if profiles is not None and lab["profile"] not in profiles:
            raise MetaError(f"{where}: unknown profile {lab['profile']!r}; available: {', '.join(profiles)}")
        bad = [c for c in lab["chapters"] if stems is not None and c not in stems]
        if bad:
            raise MetaError(f"{where}: chapter(s) not in _toc.yml: {', '.join(bad)}")
    return {"chapters": chapters, "labs": labs}


# ----------------------------------------------------------------------------------------------- run_times.json
def load_run_times(path: Path) -> dict:
    """``{profile: {chapter: entry}}`` from ``book/run_times.json``; ``{}`` when the file does not exist."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as e:
        raise MetaError(f"{path}: not readable JSON ({e}); delete it to start afresh") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise MetaError(f"{path}: expected {{profile: {{chapter: entry}}}}")
    return data


def record_run_time(path: Path, profile: str, stem: str, seconds: float, machine: str,
                    networks_trained: int | None = None, when: dt.datetime | None = None) -> dict:
    """Replace the entry of (``profile``, ``stem``) in ``path`` and return the whole mapping.

    Read-modify-write under an exclusive lock on ``<path>.lock`` (two builds at once do not lose each other's
    entries), written atomically (a reader never sees half a file). ``seconds`` must be finite and positive."""
    from spectral_lib.cache import atomic_write

    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
        raise MetaError(f"run time of {stem} under {profile} must be a positive number of seconds, got {seconds!r}")
    when = when or dt.datetime.now().astimezone()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = load_run_times(path)
        entry = {"seconds": round(float(seconds), 1), "machine": machine, "date": when.date().isoformat(),
                 "networks_trained": networks_trained}
        try:
            entry["load"] = round(os.getloadavg()[0], 2)  # 1-minute load average at the end of the run
        except OSError:
            pass
        data.setdefault(profile, {})[stem] = entry
        atomic_write(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
    return data


def networks_in_log(log: Path) -> int:
    """How many distinct networks a chapter's kernel trained and stored: the lines of the file that
    ``$SPECTRAL_LIB_TRAINED_LOG`` named while it ran (``spectral_lib.training.loop``); 0 when it trained none."""
    log = Path(log)
    return len({line for line in log.read_text().splitlines() if line}) if log.is_file() else 0


def format_seconds(s: float) -> str:
    """``"45 s"``, ``"3 min 05 s"``, ``"1 h 02 min"``."""
    s = float(s)
    if s < 60:
        return f"{s:.0f} s" if s >= 10 else f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(round(s % 60)):02d} s"
    return f"{int(s // 3600)} h {int(round(s % 3600 / 60)):02d} min"


def _run_time_text(entry: Mapping[str, Any]) -> str:
    n = entry.get("networks_trained")
    trained = ("" if n is None else "; every network from the cache" if n == 0
               else f"; {n} network{'s' if n != 1 else ''} trained")
    return f"{format_seconds(entry['seconds'])} ({entry.get('date', '?')}{trained})"


def run_time_line(stem: str, run_times: Mapping[str, Mapping], profiles: list[str]) -> str:
    """One Markdown line: the chapter's measured run time on every profile (``profiles``: all known, in order)."""
    parts, machines, missing = [], [], []
    for prof in profiles:
        entry = run_times.get(prof, {}).get(stem)
        if entry:
            parts.append(f"`{prof}` {_run_time_text(entry)}")
            machines.append(entry.get("machine", "?"))
        else:
            missing.append(f"`{prof}`")
    extra = sorted(set(run_times) - set(profiles))  # profiles given as files, recorded under their name
    for prof in extra:
        if stem in run_times[prof]:
            parts.append(f"`{prof}` {_run_time_text(run_times[prof][stem])}")
            machines.append(run_times[prof][stem].get("machine", "?"))
    text = "; ".join(parts) if parts else "not measured yet"
    uniq = list(dict.fromkeys(machines))
    where = f" on {uniq[0]}" if len(uniq) == 1 else (" on " + " / ".join(uniq) if uniq else "")
    tail = f" Not run by a recorded build: {', '.join(missing)}." if missing and parts else ""
    return (f"**Run time**, measured by the book's own builds (`book/run_times.json`){where}: {text}.{tail} "
            f"The cold runs train networks; later chapters reuse them through the cache.")


def header_markdown(stem: str, entry: Mapping[str, Any], run_times: Mapping[str, Mapping], profiles: list[str],
                    titles: Mapping[str, str]) -> str:
    """The "Before you start" box of chapter ``stem``: prerequisites (links to the chapters in ``titles``: stem ->
    TOC title; others as plain names), background, what the reader will learn, and :func:`run_time_line`."""
    pre = [f"{{doc}}`{titles[p]} <{p}>`" if p in titles else f"{p} (not in this build)"
           for p in entry.get("prerequisites") or []]
    lines = [HEADER_BEGIN, "````{admonition} Before you start", ":class: tip chapter-header", "",
             f"**Prerequisites:** {', '.join(pre) if pre else 'none: this chapter starts from scratch'}."]
    if entry.get("background"):
        lines += ["", f"**Background assumed:** {entry['background']}."]
    lines += ["", "**You will learn:**", ""] + [f"- {item}" for item in entry["learn"]]
    lines += ["", run_time_line(stem, run_times, profiles), "````", HEADER_END, ""]
    return "\n".join(lines)


def insert_header(nb, header: str) -> bool:
    """Put ``header`` right after the chapter's title (the first ``# `` line of the first markdown cell), replacing
    an earlier header; returns whether the notebook changed. A notebook without a title gets it in a new first
    cell."""
    import nbformat

    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        src = _HEADER_RE.sub("", cell.source)
        m = re.search(r"^# .*$", src, re.M)
        if m is None:
            break
        new = src[: m.end()] + "\n\n" + header + src[m.end():].lstrip("\n")
        new = new if new.endswith("\n") or not src.endswith("\n") else new
        changed = new != cell.source
        cell.source = new
        return changed
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(header))
    return True


# --------------------------------------------------------------------------------------------- teaching guide
def labs_markdown(meta: Mapping[str, Any], run_times: Mapping[str, Mapping], titles: Mapping[str, str],
                  doc_prefix: str = "_generated/") -> str:
    """The teaching guide's generated part: per lab its chapters (links), profile, exercises and the measured run
    time of every chapter on the lab's profile (from ``run_times``), with their total; "not measured yet" where a
    build has not recorded the chapter on that profile (then no total is given)."""
    out = []
    for lab in meta["labs"]:
        prof = lab["profile"]
        times = run_times.get(prof, {})
        rows, total, complete = [], 0.0, True
        for stem in lab["chapters"]:
            entry = times.get(stem)
            link = f"{{doc}}`{titles.get(stem, stem)} <{doc_prefix}{stem}>`"
            if entry:
                total += entry["seconds"]
                rows.append(f"| {link} | {_run_time_text(entry)} | {entry.get('machine', '?')} |")
            else:
                complete = False
                rows.append(f"| {link} | not measured yet | |")
        head = f"### {lab['title']} ({lab.get('minutes', '?')} minutes)"
        cmd = " && ".join(f"bash scripts/book.sh --profile {prof} --only {s}" for s in lab["chapters"])
        ex = ", ".join(f"{{ref}}`{e}`" for e in lab.get("exercises") or []) or "none"
        total_line = (f"**Total run time on `{prof}`:** {format_seconds(total)} on this book's machine (a student "
                      f"laptop with more cores is usually faster; the first run of a chapter trains its networks)."
                      if complete and rows else f"**Total run time on `{prof}`:** not measured yet for every "
                      f"chapter (run the commands below once with the book command to record it).")
        out += [head, "", lab.get("notes", "").strip(), "",
                f"**Profile:** `{prof}` · **exercises to assign:** {ex}", "",
                "| chapter | measured run time | machine |", "|---|---|---|", *rows, "", total_line, "",
                "```bash", cmd.replace(" && ", " \\\n  && "), "```", ""]
    return "\n".join(out)
