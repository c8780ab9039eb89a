"""Render test: build the book offline and inspect its pages in headless Chromium.

The book is built with `scripts/build_book.py --profile tiny --strict` in a temporary copy of the repository
(so the real `book/_generated/` and `_build/` are left alone). If `_toc.yml` lists no notebook chapters yet, or
`SPECTRAL_BOOK_TEST_SCRATCH=1` is set, a throwaway notebook (markdown math + a matplotlib figure) is added to the
copy. Needs Chromium at /usr/bin/chromium (`apt-get install -y chromium`); skipped with a reason otherwise. The
PDF checks need poppler's `pdftoppm`, `pdftotext`, `pdffonts` and `pdfimages` (`apt-get install -y poppler-utils`,
which scripts/setup.sh does beside Chromium).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import build_book  # noqa: E402
import book_meta  # noqa: E402
import book_build  # noqa: E402  (tests/book_build.py)
from book_build import SCRATCH_STEM, tiny_book  # noqa: E402

# one pytest-xdist worker runs every test of the tiny book, its SLURM sweep and the local cluster (session
# fixtures shared by these modules: built once, on one cluster); scripts/test.sh runs the suite on two workers
pytestmark = pytest.mark.xdist_group("book_and_slurm")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1100,1000", "--virtual-time-budget=5000"]
RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{")
SKIP_TAGS = {"script", "style", "pre", "code", "textarea", "mjx-container"}


def chromium(url: str, *args: str) -> tuple[str, str]:
    """Run headless Chromium on `url`; return (stdout, stderr)."""
    with tempfile.TemporaryDirectory() as profile:
        p = subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={profile}", *args, url],
                           capture_output=True, text=True, timeout=90)
    return p.stdout, p.stderr


class PageScan(HTMLParser):
    """Collect visible text (outside code/script/MathJax output), <img> sources and remote resources."""

    def __init__(self):
        super().__init__()
        self.skip, self.text, self.imgs, self.remote, self.mjx = 0, [], [], [], 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.mjx += tag == "mjx-container"
        if tag in SKIP_TAGS:
            self.skip += 1
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        src = a.get("src") if tag in ("img", "script", "iframe") else a.get("href") if tag == "link" else None
        if src and urlsplit(src).scheme in ("http", "https") and not (tag == "link" and a.get("rel") != "stylesheet"):
            self.remote.append(src)

    def handle_endtag(self, tag):
        if tag in SKIP_TAGS and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.text.append(data)


def _local(url: str) -> Path:
    return Path(url2pathname(unquote(urlsplit(url).path)))


@pytest.fixture(scope="module")
def book(tmp_path_factory, request):
    """The tiny book (strict, fresh cache), built once per session in a temp copy of the repo
    (:func:`book_build.tiny_book`, shared with ``test_exercises.py``): (html dir, notebook pages, executed-notebook
    dir, stems, repo copy, cache, seconds). This is also the notebooks' smoke test."""
    return tiny_book(tmp_path_factory, request)


@pytest.fixture
def browser_book(book):
    if not CHROMIUM:
        pytest.skip("chromium not installed (scripts/setup.sh installs it: apt-get install -y chromium)")
    return book[:2]


def test_every_chapter_ran_and_made_figures_and_tables(book):
    """Each notebook executed without error under the tiny profile and produced at least one figure (PNG) and,
    except the toolkit-free Lemma 1 plots-only cells, a table (HTML output of a DataFrame)."""
    import nbformat

    gen, stems = book.gen, book.stems
    assert stems, "no notebook chapters in _toc.yml"
    for stem in stems:
        nb = nbformat.read(gen / f"{stem}.ipynb", as_version=4)
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        assert not [o for o in outputs if o.output_type == "error"], f"{stem}: error output"
        pngs = [o for o in outputs if "image/png" in o.get("data", {})]
        tables = [o for o in outputs if "<table" in str(o.get("data", {}).get("text/html", ""))]
        assert pngs, f"{stem}: no figure"
        if stem != SCRATCH_STEM:
            assert tables, f"{stem}: no table"
        assert nb.metadata["spectral_companion"]["status"] == "ok"


def _run_build(tmp_path, *args):
    """Run the build driver in a copy of the repository (so the real book/_generated is left alone)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT, repo, symlinks=True, ignore=shutil.ignore_patterns(*book_build.SKIP, "benchmarks"))
    env = {**os.environ, "SPECTRAL_LIB_CACHE": str(tmp_path / "cache")}
    return subprocess.run([sys.executable, str(repo / "scripts" / "build_book.py"), *args],
                          cwd=repo, capture_output=True, text=True, timeout=300, env=env)


def test_invalid_parameter_stops_notebook_naming_it(tmp_path):
    """A bad value stops the notebook in its first cell; the command exits non-zero naming notebook + parameter."""
    p = _run_build(tmp_path, "--profile", "tiny", "--only", "02_lemma1", "--param", "betas=[-1.0]", "--no-build")
    assert p.returncode == 1
    assert "02_lemma1" in p.stderr and "betas" in p.stderr and "ParameterError" in p.stderr, p.stderr[-2000:]


def test_unknown_parameter_rejected_before_running(tmp_path):
    p = _run_build(tmp_path, "--profile", "tiny", "--only", "02_lemma1", "--param", "no_such_param=1", "--no-build")
    assert p.returncode == 1 and "no_such_param" in p.stderr, p.stderr[-2000:]


def test_screenshot(browser_book, tmp_path):
    """A screenshot of the first notebook page is written and is not blank."""
    from PIL import Image

    html, pages = browser_book
    png = tmp_path / "page.png"
    chromium(pages[0].as_uri(), f"--screenshot={png}")
    assert png.is_file() and png.stat().st_size > 20_000, "screenshot missing or tiny"
    with Image.open(png) as im:
        assert im.size == (1100, 1000)
        assert im.convert("RGB").getcolors(maxcolors=200) is None, "screenshot has fewer than 200 colours"


def test_pages_render_offline(browser_book):
    """Math is typeset by local MathJax, every image and file the pages load exists, nothing is fetched remotely."""
    html, pages = browser_book
    problems, n_imgs = [], 0
    for page in [html / "book" / "intro.html", html / "book" / "reproducibility.html", *pages]:
        assert page.is_file(), f"{page} not built"
        dom, log = chromium(page.as_uri(), "--dump-dom", "--enable-logging=stderr",
                            "--vmodule=file_url_loader_factory=1")
        scan = PageScan()
        scan.feed(dom)
        name = page.relative_to(html).as_posix()
        if 'class="math' in page.read_text() and not scan.mjx:
            problems.append(f"{name}: math present but no <mjx-container> (MathJax did not run)")
        raw = RAW_TEX.findall("".join(scan.text))
        if raw:
            problems.append(f"{name}: raw TeX left in visible text: {raw[:5]}")
        problems += [f"{name}: remote resource {u}" for u in scan.remote]
        for src in scan.imgs:
            url = urljoin(page.as_uri(), src)
            if not url.startswith("data:") and not _local(url).is_file():
                problems.append(f"{name}: <img> {src} not found on disk")
        n_imgs += len(scan.imgs) if page in pages else 0
        for url in re.findall(r"FileURLLoader::Start: (\S+)", log):
            if not _local(url).exists():
                problems.append(f"{name}: failed load {url}")
        problems += [f"{name}: {line.strip()}" for line in log.splitlines() if "net::ERR_" in line]
    assert not problems, "\n".join(problems)
    assert n_imgs > 0, "no <img> on the notebook pages"


def test_unknown_profile_lists_available(capsys):
    """An unknown profile name fails with a message that lists the available profiles."""
    assert build_book.main(["--profile", "no-such-profile", "--no-build"]) == 1
    err = capsys.readouterr().err
    assert "unknown profile 'no-such-profile'" in err and "tiny" in err


def test_param_overrides_are_yaml():
    """`--param` values are parsed as YAML."""
    assert build_book.parse_params(["n=3", "betas=[1, 2.5]", "name=abc"]) == {"n": 3, "betas": [1, 2.5], "name": "abc"}
    with pytest.raises(build_book.BuildError):
        build_book.parse_params(["novalue"])


def test_theorems_exercises_figures_downloads_and_reproduce_box(browser_book):
    """The reader's features render: Lemma 1 and Theorem 1 as theorem blocks (sphinx-proof), exercises with
    dropdown solutions (sphinx-exercise), numbered figures with captions, the "Reproduce this page" box with the
    executed notebook and the chapter's CSV tables downloadable (files present), and no code line wider than the
    page's code block (it would be cut off or need scrolling)."""
    html, pages = browser_book
    problems = []
    by_stem = {p.stem: p for p in pages}
    for stem, kind in (("02_lemma1", "lemma"), ("03_theorem1", "theorem")):
        if stem in by_stem and f'class="proof {kind} admonition"' not in by_stem[stem].read_text():
            problems.append(f"{stem}: no rendered {kind} block")
    for page in pages:
        text, name = page.read_text(), page.stem
        if name.startswith("0") and name != "00_render_check":
            if 'class="exercise admonition"' not in text or 'class="solution dropdown admonition"' not in text:
                problems.append(f"{name}: no exercise with a dropdown solution")
            if "Reproduce this page" not in text:
                problems.append(f"{name}: no 'Reproduce this page' box")
            downloads = re.findall(r'href="([^"]*_downloads/[^"]+)"', text)
            if not any(d.endswith(".ipynb") for d in downloads):
                problems.append(f"{name}: executed notebook not downloadable")
            problems += [f"{name}: download {d} missing" for d in downloads
                         if not _local(urljoin(page.as_uri(), d)).is_file()]
            if re.search(r'<figure[^>]*id="fig-', text) and not re.search(r'<span class="caption-number">Fig\. \d+', text):
                problems.append(f"{name}: figure without a number")
    csvs = [d for p in pages for d in re.findall(r'href="([^"]*_downloads/[^"]+\.csv)"', p.read_text())]
    if not csvs:
        problems.append("no chapter offers a CSV table")
    numbered = sum(len(re.findall(r'<span class="caption-number">Fig\. \d+', p.read_text())) for p in pages)
    if numbered == 0:
        problems.append("no numbered figure in the book")
    # code lines: the widest line of any code cell must fit in the rendered code block (measured in the browser)
    page = by_stem.get("04_ef_vs_beta") or pages[-1]
    probe = page.with_name(page.stem + "_probe.html")
    probe.write_text(page.read_text().replace("</body>", """<script>
window.addEventListener('load', () => { const cut = [...document.querySelectorAll('div.highlight pre')]
  .filter(p => p.scrollWidth > p.clientWidth + 1).length; document.title = 'CUT=' + cut; });</script></body>"""))
    dom, _ = chromium(probe.as_uri(), "--dump-dom")
    m = re.search(r"<title>CUT=(\d+)</title>", dom)
    if not m:
        problems.append("code-width probe did not run")
    elif int(m.group(1)):
        problems.append(f"{page.stem}: {m.group(1)} code block(s) wider than the page")
    assert not problems, "\n".join(problems)


def test_run_key_follows_source_parameters_profile_and_library(tmp_path, monkeypatch):
    """A chapter is re-executed exactly when something it depends on changed (warm rebuilds skip the rest)."""
    import nbformat

    stem = "02_lemma1"
    k = build_book.run_key(stem, {"betas": [1.0]}, "quick")
    assert k == build_book.run_key(stem, {"betas": [1.0]}, "quick")
    assert k != build_book.run_key(stem, {"betas": [2.0]}, "quick")
    assert k != build_book.run_key(stem, {"betas": [1.0]}, "tiny")
    assert k != build_book.run_key("01_spectral_toolkit", {"betas": [1.0]}, "quick")
    monkeypatch.setattr(build_book, "GEN", tmp_path)
    assert not build_book.up_to_date(stem, k)  # no output yet
    nb = nbformat.v4.new_notebook()
    nb.metadata[build_book.META_KEY] = {"status": "ok", "run_key": k}
    (tmp_path / f"{stem}.ipynb").write_text(nbformat.writes(nb))
    assert build_book.up_to_date(stem, k) and not build_book.up_to_date(stem, "0" * 20)
    # a change in any library source file changes the key
    lib = tmp_path / "repo"
    shutil.copytree(build_book.ROOT / "spectral_lib", lib / "spectral_lib")
    shutil.copytree(build_book.NB_SRC, lib / "notebooks")
    monkeypatch.setattr(build_book, "ROOT", lib)
    monkeypatch.setattr(build_book, "NB_SRC", lib / "notebooks")
    before = build_book.run_key(stem, {"betas": [1.0]}, "quick")
    spectrum = lib / "spectral_lib" / "spectral" / "spectrum.py"
    spectrum.write_text(spectrum.read_text() + "\n# x\n")
    assert build_book.run_key(stem, {"betas": [1.0]}, "quick") != before


# ----------------------------------------------------------------------------------------- the reader's pages
POPPLER = all(shutil.which(t) for t in ("pdftoppm", "pdftotext", "pdffonts", "pdfimages"))


@pytest.fixture
def pdf(browser_book, book):
    """The whole-book PDF of the tiny build (printed by the book command itself)."""
    if not POPPLER:
        pytest.skip("poppler-utils not installed (scripts/setup.sh installs it: apt-get install -y poppler-utils)")
    path = book.html / "spectral-companion.pdf"
    assert path.is_file(), f"the book command wrote no PDF at {path}"
    return path


def test_pdf_is_the_whole_book_with_math_and_figures(pdf, book, tmp_path):
    """The PDF holds every chapter, its math was typeset by MathJax (MathJax's fonts are embedded and no TeX source
    is left in the text layer), it embeds the figures, and a page of it renders to a non-blank image. The intro
    links to it."""
    from PIL import Image

    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for title in ("Results at a glance", "Glossary", "Teaching with this book", "Before you start"):
        assert title in text, f"{title!r} not in the PDF"
    flat = re.sub(r"\s+", " ", text)
    n_chapters = len([s for s in book.stems if s != SCRATCH_STEM])
    assert flat.count("Reproduce this page") >= n_chapters, "not every chapter is in the PDF"
    assert flat.count("Before you start") >= n_chapters, "not every chapter's header is in the PDF"
    raw = re.findall(r"\$\$|\\frac|\\begin\{|\\\(|\\\[|\\operatorname", text)
    assert not raw, f"raw TeX in the PDF's text layer: {raw[:5]}"
    # the intro's Eq. (1), SP_beta(x) = ..., typeset: subscript beta as its own glyph, no TeX source
    assert re.search(r"SP\s*β\s*\(x\)\s*=", text), "the intro's SoftPlus equation is not typeset in the PDF"
    images = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True).stdout
    listed = [ln.split() for ln in images.strip().splitlines()[2:]]
    colour = [r for r in listed if r[2] == "image" and r[5] in ("rgb", "icc", "cmyk") and int(r[3]) > 100]
    n_pngs = sum(len(re.findall(r"<img[^>]+_images/", p.read_text())) for p in book.pages)
    assert len(colour) >= n_pngs > 0, f"{len(colour)} colour images in the PDF for {n_pngs} figures in the chapters"
    # the first page with a colour figure, rendered: not blank (many colours, not mostly white)
    first = int(colour[0][0])
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", str(first), "-l", str(first), str(pdf),
                    str(tmp_path / "p")], check=True)
    png = next(tmp_path.glob("p*.png"))
    with Image.open(png) as im:
        rgb = im.convert("RGB")
        assert rgb.getcolors(maxcolors=256) is None, "the rendered page has fewer than 256 colours"
        white = float(np.all(np.asarray(rgb) == 255, axis=-1).mean())  # share of pure-white pixels
        assert white < 0.97, f"the rendered page is {white:.0%} white"
    intro = (book.html / "book" / "intro.html").read_text()
    link = re.search(r'href="([^"]*spectral-companion\.pdf)"', intro)
    assert link and _local(urljoin((book.html / "book" / "intro.html").as_uri(), link.group(1))) == pdf


def test_chapter_headers_glossary_links_and_run_times(book):
    """Every chapter opens with its "Before you start" box (prerequisites as links, what the reader will learn, the
    run time this very build measured and recorded in book/run_times.json), and links glossary terms to the
    glossary page, whose terms all exist."""
    import json

    times = json.loads((book.repo / "book" / "run_times.json").read_text())["tiny"]
    glossary = (book.html / "book" / "glossary.html").read_text()
    problems = []
    for stem, page in zip(book.stems, book.pages):
        text = page.read_text()
        if "Before you start" not in text or "You will learn" not in text:
            problems.append(f"{stem}: no 'Before you start' box")
        entry = times.get(stem)
        if not entry or not entry["seconds"] > 0:
            problems.append(f"{stem}: no tiny run time recorded")
        elif f"{book_meta.format_seconds(entry['seconds'])} ({entry['date']}" not in text:
            problems.append(f"{stem}: header does not show the tiny run time this build measured")
        for target in re.findall(r'href="[^"]*glossary\.html#(term-[^"]+)"', text):
            if f'id="{target}"' not in glossary:
                problems.append(f"{stem}: glossary link to missing {target}")
        if stem != SCRATCH_STEM and "glossary.html#term-" not in text:
            problems.append(f"{stem}: no glossary link")
    assert not problems, "\n".join(problems)


def test_scorecard_and_teaching_pages(book):
    """The results-at-a-glance page has a row per claim with a verdict and the CSV download (the columns the issue
    names); the teaching guide shows every lab plan with its chapters."""
    import csv

    from spectral_lib.experiments.scorecard import COLUMNS

    page = (book.html / "book" / "results.html").read_text()
    with open(book.gen / "scorecard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and tuple(rows[0]) == COLUMNS
    verdicts = {"reproduced", "not reproduced", "holds", "does not hold", "the run cannot tell",
                "not computed in this build"}
    assert {r["verdict"] for r in rows} <= verdicts
    assert page.count("<tr") >= len(rows) and "scorecard.csv" in page
    teaching = (book.html / "book" / "teaching.html").read_text()
    assert teaching.count("Total run time on") >= 2 and "classroom" in teaching
