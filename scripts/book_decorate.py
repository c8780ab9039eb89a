"""What ``scripts/build_book.py`` adds to the executed chapters and generated pages before Sphinx runs, all from the
build's own files (never typed by hand):

* every chapter: the "Before you start" box after its title (``book/chapters.yaml`` + ``book/run_times.json``) and
  links from the first occurrence of each glossary term to ``book/glossary.md``;
* ``book/_generated/lab_times.md``: the teaching guide's lab plans with their measured run times;
* ``book/_generated/scorecard.csv`` and ``scorecard.md``: the "Results at a glance" rows, computed from the tables
  the chapters saved in this build (:mod:`spectral_lib.experiments.scorecard`).
"""
from __future__ import annotations

from pathlib import Path

import yaml

import book_links
import book_meta

PROFILE_ORDER = ("tiny", "classroom", "quick", "paper")


def toc_titles(toc_path: Path, prefix: str = "book/_generated/") -> dict[str, str]:
    """stem -> the title ``_toc.yml`` gives each generated chapter (the stem where it gives none)."""
    out: dict[str, str] = {}

    def walk(node):
        if isinstance(node, dict):
            f = node.get("file")
            if isinstance(f, str) and f.startswith(prefix):
                stem = Path(f[len(prefix):]).with_suffix("").as_posix()
                out[stem] = str(node.get("title") or stem)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(yaml.safe_load(Path(toc_path).read_text()))
    return out


def profile_names(profiles_dir: Path) -> list[str]:
    """The profiles in ``profiles/``, the usual ones first (tiny, classroom, quick, paper)."""
    names = sorted(p.stem for p in Path(profiles_dir).glob("*.yaml"))
    return [p for p in PROFILE_ORDER if p in names] + [p for p in names if p not in PROFILE_ORDER]


def chapter_info(gen: Path, stems: list[str], meta_key: str = "spectral_companion") -> dict[str, dict]:
    """stem -> ``{"profile", "dataset"}`` of every chapter with a successful executed notebook in ``gen``."""
    import nbformat

    out = {}
    for stem in stems:
        path = gen / f"{stem}.ipynb"
        if not path.is_file():
            continue
        nb = nbformat.read(path, as_version=4)
        m = nb.metadata.get(meta_key, {})
        if m.get("status") != "ok":
            continue
        params = nb.metadata.get("papermill", {}).get("parameters", {})
        out[stem] = {"profile": m.get("profile", ""), "dataset": params.get("dataset", "")}
    return out


def decorate(root: Path, gen: Path, stems: list[str], meta_key: str = "spectral_companion") -> dict:
    """Decorate the executed chapters in ``gen`` and write the generated pages; returns a summary
    ``{"headers": n, "links": n, "rows": [...]}``. Each notebook is rewritten (atomically) only when it changes."""
    import nbformat

    from spectral_lib.cache import atomic_write
    from spectral_lib.experiments import scorecard, scorecard_rows

    profiles = profile_names(root / "profiles")
    meta = book_meta.load_chapters(root / "book" / "chapters.yaml", stems, profiles)
    run_times = book_meta.load_run_times(root / "book" / "run_times.json")
    titles = toc_titles(root / "_toc.yml")
    entries = book_links.glossary_entries(root / "book" / "glossary.md")
    n_headers = n_links = 0
    for stem in stems:
        path = gen / f"{stem}.ipynb"
        if not path.is_file():
            continue
        nb = nbformat.read(path, as_version=4)
        header = book_meta.header_markdown(stem, meta["chapters"][stem], run_times, profiles, titles)
        changed = book_meta.insert_header(nb, header)
        cells = [c for c in nb.cells if c.cell_type == "markdown"]
        linked = book_links.link_terms([c.source for c in cells], entries)
        for c, new in zip(cells, linked):
            if new != c.source:
                n_links += new.count("{term}") - c.source.count("{term}")
                c.source, changed = new, True
        if changed:
            atomic_write(path, nbformat.writes(nb))
        n_headers += 1
    atomic_write(gen / "lab_times.md", book_meta.labs_markdown(meta, run_times, titles))
    info = chapter_info(gen, stems, meta_key)
    rows = scorecard.scorecard(scorecard.Build(gen / "tables", info), scorecard_rows.ROWS)
    scorecard.write_csv(rows, gen / "scorecard.csv")
    profs = sorted({i["profile"] for i in info.values()})
    intro = (f"Computed in this build from the chapters' saved tables, on profile "
             f"{', '.join(f'`{p}`' for p in profs) or '(none: no chapter ran)'}"
             f"{' (the chapters ran on different profiles)' if len(profs) > 1 else ''}.")
    atomic_write(gen / "scorecard.md", intro + "\n\n" + scorecard.page_markdown(rows, titles))
    return {"headers": n_headers, "links": n_links, "rows": rows}
