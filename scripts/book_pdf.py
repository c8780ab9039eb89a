"""The whole book as one PDF, offline: Sphinx's single-page HTML builder (``jupyter-book build --builder
singlehtml``), then headless Chromium's print-to-PDF (MathJax served locally typesets the math before printing).

The single page is written where the book's root document lives (``book/intro.html``) but its links are relative to
the output root, so it is copied to the root (``_print.html``) before printing. The PDF lands in the HTML book's
root as :data:`PDF_NAME`, where the intro links to it.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

PDF_NAME = "spectral-companion.pdf"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--run-all-compositor-stages-before-draw", "--no-pdf-header-footer", "--virtual-time-budget=60000"]


def chromium() -> str | None:
    """The headless browser's executable (``chromium`` or ``chromium-browser``), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def print_to_pdf(page: Path, pdf: Path, timeout: float = 600) -> Path:
    """Print the HTML file ``page`` to ``pdf`` with headless Chromium (written atomically); RuntimeError when
    Chromium is missing, fails or writes nothing."""
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium not found (scripts/setup.sh installs it: apt-get install -y chromium)")
    partial = pdf.with_name(pdf.name + ".partial")
    partial.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        p = subprocess.run([exe, *CHROME_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={partial}",
                            page.resolve().as_uri()], capture_output=True, text=True, timeout=timeout)
    if p.returncode or not partial.is_file() or partial.stat().st_size < 1000:
        raise RuntimeError(f"chromium could not print {page} (exit {p.returncode}): {p.stderr[-500:]}")
    partial.replace(pdf)
    return pdf


def build_pdf(root: Path, build_dir: Path, strict: bool, jupyter_book: str) -> Path:
    """Build the single-page HTML book of ``root`` into ``build_dir/singlehtml`` and print it to
    ``build_dir/html/`` :data:`PDF_NAME`; returns the PDF's path. RuntimeError on failure."""
    t0 = time.perf_counter()
    cmd = [jupyter_book, "build", str(root), "--builder", "singlehtml"]
    if build_dir.parent != root:
        cmd += ["--path-output", str(build_dir.parent)]
    if strict:
        cmd += ["-W", "--keep-going"]
    p = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if p.returncode:
        raise RuntimeError(f"single-page build failed:\n{(p.stdout + p.stderr)[-3000:]}")
    single = build_dir / "singlehtml"
    pages = [f for f in single.rglob("*.html") if f.name != "index.html" and not f.name.startswith("_")
             and not f.relative_to(single).parts[0].startswith("_")]  # not _static/, _sources/, ...
    if len(pages) != 1:
        raise RuntimeError(f"expected one page in {single}, found {[str(f) for f in pages]}")
    printable = single / "_print.html"
    shutil.copy2(pages[0], printable)
    t1 = time.perf_counter()
    pdf = print_to_pdf(printable, build_dir / "html" / PDF_NAME)
    print(f"PDF: single page built in {t1 - t0:.1f} s, printed in {time.perf_counter() - t1:.1f} s: {pdf} "
          f"({pdf.stat().st_size / 1e6:.1f} MB)", flush=True)
    return pdf
