"""The book's machine-written metadata and text passes (scripts/book_meta.py, scripts/book_links.py,
scripts/book_decorate.py): run times, chapter headers, glossary links, lab tables, chapters.yaml, CITATION.cff."""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
import threading
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import book_decorate  # noqa: E402
import book_links  # noqa: E402
import book_meta  # noqa: E402
import build_book  # noqa: E402

ENTRIES = [["Expected Frequency", "EF"], ["radial profile", "radial power spectrum"], ["power spectrum"],
           ["explanation gap", "gap"], ["SmoothGrad"]]


# ------------------------------------------------------------------------------------------------- run times
def test_record_run_time_replaces_one_entry_atomically(tmp_path):
    path = tmp_path / "run_times.json"
    when = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
    book_meta.record_run_time(path, "tiny", "01_x", 12.34, "CPU: test", 2, when)
    book_meta.record_run_time(path, "quick", "01_x", 300.0, "CPU: test", 0, when)
    data = book_meta.record_run_time(path, "tiny", "01_x", 10.0, "CPU: test", 0, when)
    assert data == json.loads(path.read_text())
    assert data["tiny"]["01_x"]["seconds"] == 10.0 and data["quick"]["01_x"]["seconds"] == 300.0
    assert data["tiny"]["01_x"]["date"] == "2026-12-01" and data["tiny"]["01_x"]["networks_trained"] == 0
    with pytest.raises(book_meta.MetaError):
        book_meta.record_run_time(path, "tiny", "01_x", float("nan"), "CPU")
    path.write_text("{not json")
    with pytest.raises(book_meta.MetaError, match="run_times.json"):
        book_meta.load_run_times(path)


def test_concurrent_recorders_lose_no_entry(tmp_path):
    """Two builds (threads here) recording at once: the lock keeps every entry."""
    path = tmp_path / "run_times.json"
    threads = [threading.Thread(target=book_meta.record_run_time, args=(path, "tiny", f"{i:02d}", 1.0 + i, "m"))
               for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(book_meta.load_run_times(path)["tiny"]) == [f"{i:02d}" for i in range(16)]


def test_format_seconds():
    assert [book_meta.format_seconds(s) for s in (4.24, 45, 185, 3725)] == ["4.2 s", "45 s", "3 min 05 s",
                                                                             "1 h 02 min"]


def test_a_chapter_counts_the_networks_its_own_kernel_trained(tmp_path, monkeypatch):
    """Training and storing a network notes it in $SPECTRAL_LIB_TRAINED_LOG; loading it from the cache does not, and
    networks stored by another process (the other lane) are not in this process's log."""
    from spectral_lib.training import TrainConfig, train_or_load
    from spectral_lib.training.loop import TRAINED_LOG_ENV

    log = tmp_path / "trained.txt"
    assert book_meta.networks_in_log(log) == 0  # no file: nothing trained
    monkeypatch.setenv(TRAINED_LOG_ENV, str(log))
    config = TrainConfig(dataset="digits", max_epochs=1, accuracy_cap=None, device="cpu")
    train_or_load(config, tmp_path / "cache", progress=False)
    assert book_meta.networks_in_log(log) == 1
    train_or_load(config, tmp_path / "cache", progress=False)  # a cache hit
    assert book_meta.networks_in_log(log) == 1
    other = TrainConfig(dataset="digits", max_epochs=1, accuracy_cap=None, device="cpu", seed=1)
    monkeypatch.delenv(TRAINED_LOG_ENV)  # another process, which logs elsewhere
    train_or_load(other, tmp_path / "cache", progress=False)
    assert book_meta.networks_in_log(log) == 1
    (tmp_path / "twice.txt").write_text("a.pt\nb.pt\na.pt\n")  # a network stored twice counts once
    assert book_meta.networks_in_log(tmp_path / "twice.txt") == 2


# ----------------------------------------------------------------------------------------------------- headers
def test_header_shows_every_profile_and_is_replaced_not_stacked():
    times = {"tiny": {"02_b": {"seconds": 20.0, "machine": "CPU: X", "date": "2026-12-01", "networks_trained": 0}},
             "quick": {"02_b": {"seconds": 200.0, "machine": "CPU: X", "date": "2026-12-02", "networks_trained": 3}}}
    entry = {"prerequisites": ["01_a", "07_c"], "learn": ["one thing", "another"], "background": "Fourier"}
    titles = {"01_a": "1. A", "02_b": "2. B"}
    h = book_meta.header_markdown("02_b", entry, times, ["tiny", "classroom", "quick", "paper"], titles)
    assert "{doc}`1. A <01_a>`" in h and "07_c (not in this build)" in h
    assert "`tiny` 20 s (2026-12-01; every network from the cache)" in h
    assert "`quick` 3 min 20 s (2026-12-02; 3 networks trained)" in h and "on CPU: X" in h
    assert "Not run by a recorded build: `classroom`, `paper`." in h and "- another" in h
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Title\n\nFirst paragraph.")])
    assert book_meta.insert_header(nb, h)
    assert not book_meta.insert_header(nb, h)  # same header: unchanged
    h2 = h.replace("one thing", "a new thing")
    assert book_meta.insert_header(nb, h2)
    src = nb.cells[0].source
    assert src.startswith("# Title\n\n" + book_meta.HEADER_BEGIN) and src.count(book_meta.HEADER_BEGIN) == 1
    assert "a new thing" in src and "one thing" not in src and src.endswith("First paragraph.")


def test_header_when_nothing_was_measured():
    h = book_meta.header_markdown("01_a", {"prerequisites": [], "learn": ["x"]}, {}, ["tiny"], {})
    assert "none: this chapter starts from scratch" in h and "not measured yet" in h


# ---------------------------------------------------------------------------------------------- glossary links
def test_link_terms_first_prose_occurrence_only():
    cells = ["# EF and gaps\n\nThe EF of a map.\nAgain EF.",
             "```python\nEF = 1\n```\n\n$$\n\\mathrm{EF}\n$$\n\nSee `EF`, [EF](x.md) and {eq}`EF`.\n\n"
             "The radial power spectrum, then the power spectrum: not inside the longer term.\n\n"
             "```{exercise}\n:label: ex-1\n\nSmoothGrad's explanation gaps.\n```"]
    out = book_links.link_terms(cells, ENTRIES)
    assert out[0] == "# EF and gaps\n\nThe {term}`EF <Expected Frequency>` of a map.\nAgain EF."
    second = out[1]
    assert "```python\nEF = 1\n```" in second and "\\mathrm{EF}" in second and "[EF](x.md)" in second
    assert "{term}`radial power spectrum <radial profile>`, then the {term}`power spectrum`" in second
    assert "{term}`SmoothGrad`'s {term}`explanation gaps <explanation gap>`" in second  # prose directive
    assert book_links.link_terms(out, ENTRIES) == out  # idempotent


def test_link_terms_skips_the_header_box_and_common_words():
    header = book_meta.header_markdown("01_a", {"prerequisites": [], "learn": ["the EF of maps"]}, {}, [], {})
    cells = [f"# T\n\n{header}\nA gap, then SmoothGrad."]
    out = book_links.link_terms(cells, ENTRIES)[0]
    assert "the EF of maps" in out and "A gap" in out and "{term}`SmoothGrad`" in out


def test_glossary_page_terms_parse_and_are_unique():
    entries = book_links.glossary_entries(ROOT / "book" / "glossary.md")
    aliases = [a.lower() for e in entries for a in e]
    assert len(aliases) == len(set(aliases)), "a glossary term appears twice"
    for must in ("expected frequency", "radial profile", "tps", "tsps", "explanation gap", "sp(β)",
                 "gaussian-smoothed relu", "accuracy cap", "rank normalisation", "nyquist frequency", "surrogate",
                 "post-hoc transform"):
        assert must in aliases, must
    text = (ROOT / "book" / "glossary.md").read_text()
    for role in re.findall(r"\{term\}`([^`]+)`", text):
        target = re.search(r"<([^>]+)>", role)
        assert (target.group(1) if target else role).lower() in aliases, role


# ------------------------------------------------------------------------------------------------ chapters.yaml
def test_chapters_yaml_covers_the_toc_and_labs_name_real_exercises():
    stems = build_book.toc_notebooks()
    profiles = book_decorate.profile_names(ROOT / "profiles")
    meta = book_meta.load_chapters(ROOT / "book" / "chapters.yaml", stems, profiles)
    sources = "\n".join(p.read_text() for p in (ROOT / "notebooks").glob("*.py"))
    labels = set(re.findall(r":label: (ex-[\w-]+)", sources + (ROOT / "book" / "teaching.md").read_text()))
    assert len(meta["labs"]) >= 2
    for lab in meta["labs"]:
        missing = [e for e in lab.get("exercises") or [] if e not in labels]
        assert not missing, f"lab {lab['id']}: exercises not in any chapter: {missing}"


def test_lanes_split_the_book_as_chapters_yaml_says():
    """build_book.lanes_for: the lanes of book/chapters.yaml restricted to the chapters to run, in their order; every
    chapter of the book in exactly one lane; a chapter named in no lane goes to the lane with the fewest."""
    stems = build_book.toc_notebooks()
    spec = yaml.safe_load((ROOT / "book" / "chapters.yaml").read_text())["lanes"]
    lanes = build_book.lanes_for(stems, 2)
    assert lanes == [[s for s in lane if s in stems] for lane in spec[:2]]
    assert sorted(s for lane in lanes for s in lane) == sorted(stems)
    assert build_book.lanes_for([spec[0][1], spec[1][0]], 2) == [[spec[0][1]], [spec[1][0]]]
    assert build_book.lanes_for(stems, 1) == [[s for s in spec[0] if s in stems]
                                              + [s for s in stems if s not in spec[0]]]
    unnamed = build_book.lanes_for([spec[0][0], spec[0][1], spec[1][0], "zz_new"], 2)
    assert unnamed == [[spec[0][0], spec[0][1]], [spec[1][0], "zz_new"]]


def test_chapters_yaml_refuses_bad_entries(tmp_path):
    p = tmp_path / "chapters.yaml"
    p.write_text(yaml.safe_dump({"chapters": {"01_a": {"prerequisites": ["02_b"], "learn": ["x"]},
                                              "02_b": {"prerequisites": [], "learn": ["y"]}}}))
    with pytest.raises(book_meta.MetaError, match="not a chapter before it"):
        book_meta.load_chapters(p, ["01_a", "02_b"])
    with pytest.raises(book_meta.MetaError, match="no entry for chapter"):
        book_meta.load_chapters(p, ["02_b", "01_a", "03_c"])
    p.write_text(yaml.safe_dump({"chapters": {"01_a": {"learn": []}}}))
    with pytest.raises(book_meta.MetaError, match="learn"):
        book_meta.load_chapters(p, ["01_a"])
    p.write_text(yaml.safe_dump({"chapters": {"01_a": {"learn": ["x"]}},
                                 "labs": [{"id": "l", "title": "t", "profile": "nope", "chapters": ["01_a"]}]}))
    with pytest.raises(book_meta.MetaError, match="unknown profile 'nope'"):
        book_meta.load_chapters(p, ["01_a"], ["tiny"])


def test_lab_tables_use_the_recorded_times():
    meta = {"labs": [{"id": "l", "title": "Lab", "minutes": 45, "profile": "classroom",
                      "chapters": ["01_a", "02_b"], "exercises": ["ex-1"]}]}
    times = {"classroom": {"01_a": {"seconds": 30.0, "date": "2026-12-01", "machine": "M"},
                           "02_b": {"seconds": 90.0, "date": "2026-12-01", "machine": "M"}}}
    md = book_meta.labs_markdown(meta, times, {"01_a": "1. A"})
    assert "**Total run time on `classroom`:** 2 min 00 s" in md and "{ref}`ex-1`" in md
    assert "bash scripts/book.sh --profile classroom --only 01_a" in md
    partial = book_meta.labs_markdown(meta, {"classroom": {"01_a": times["classroom"]["01_a"]}}, {})
    assert "not measured yet" in partial and "2 min" not in partial


def test_classroom_profile_validates():
    """The classroom profile's entries are parameters the chapters declare (checked without running anything)."""
    meta = book_meta.load_chapters(ROOT / "book" / "chapters.yaml")
    stems = sorted({s for lab in meta["labs"] if lab["profile"] == "classroom" for s in lab["chapters"]})
    name, _, selected, _ = build_book.validate("classroom", stems, [], devices=False)
    assert name == "classroom" and selected == [s for s in build_book.toc_notebooks() if s in stems]


# ---------------------------------------------------------------------------------------------------- citation
def test_citation_cff_matches_the_bibliography():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software"
    paper = cff["preferred-citation"]
    bib = (ROOT / "book" / "references.bib").read_text()
    entry = bib[bib.index("@inproceedings{mehrpanah2025complexity"):].split("\n}\n")[0]
    assert paper["title"] in entry and f"year      = {{{paper['year']}}}" in entry
    assert f"{paper['start']}--{paper['end']}" in entry
    assert [a["family-names"] for a in paper["authors"]] == ["Mehrpanah", "Gamba", "Smith", "Azizpour"]
    assert any(v["value"] == "arXiv:2508.10490" for v in paper["identifiers"])
    intro = (ROOT / "book" / "intro.md").read_text()
    assert "## How to cite" in intro and "CITATION.cff" in intro and "spectral-companion.pdf" in intro
