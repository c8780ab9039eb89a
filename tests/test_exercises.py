"""Exercises checked against their solutions.

The machine-readable form of a solution that runs code: inside a ``{solution}`` directive, a fenced ``bash`` block
whose lines are book commands, ``bash scripts/book.sh [--profile P] --only <stem> [--param NAME=VALUE ...]``
(:func:`book_links.solution_commands`). Every such command in the chapters (``notebooks/*.py``) and the book's pages
(``book/*.md``) is

* validated in-process on the tiny profile and on the profile it names (parameter names and values, grid points),
  in seconds; and
* run on the tiny profile (whatever profile it names) in a copy of the repository that shares the network cache of
  the session's tiny book build (``book_build.tiny_book``), so that only what the solution changes is recomputed.

Also checked: every ``--param NAME=VALUE`` quoted in an exercise's own text names a parameter its chapter declares.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import book_links  # noqa: E402
import build_book  # noqa: E402
from book_build import copy_repo, tiny_book  # noqa: E402

# one pytest-xdist worker runs every test of the tiny book, its SLURM sweep and the local cluster (session
# fixtures shared by these modules: built once, on one cluster); scripts/test.sh runs the suite on two workers
pytestmark = pytest.mark.xdist_group("book_and_slurm")


def _sources() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.py")) + sorted((ROOT / "book").glob("*.md"))


def _commands() -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), c) for p in _sources()
            for c in book_links.solution_commands(book_links.markdown_of(p))]


COMMANDS = _commands()


def test_extraction_of_runnable_solutions():
    text = "\n".join([
        "```{exercise}", ":label: e", "", "Try `--param x=1`.", "", "```bash",
        "bash scripts/book.sh --only 02_lemma1 --param x=9", "```", "```", "",  # in the exercise: not a solution
        "````{solution} e", ":class: dropdown", "", "Text.", "", "```bash",
        "bash scripts/book.sh --profile quick --only 02_lemma1 \\", "  --param \"betas=[0.5, 5.0]\"",
        "echo not a book command", "```", "", "```python", "bash scripts/book.sh --only 01_x", "```", "````"])
    assert book_links.solution_commands(text) == [
        'bash scripts/book.sh --profile quick --only 02_lemma1 --param "betas=[0.5, 5.0]"']
    parsed = book_links.parse_book_command(book_links.solution_commands(text)[0])
    assert parsed == {"only": ["02_lemma1"], "params": ["betas=[0.5, 5.0]"], "profile": "quick"}
    with pytest.raises(ValueError, match="--only"):
        book_links.parse_book_command("bash scripts/book.sh --param x=1")
    with pytest.raises(ValueError, match="--force"):
        book_links.parse_book_command("bash scripts/book.sh --only a --force")


def test_the_book_has_runnable_solutions():
    assert COMMANDS, "no runnable solution anywhere in the book (see this module's docstring for the form)"


@pytest.mark.parametrize("where,cmd", COMMANDS, ids=[f"{w}:{c.split('--only ')[1][:40]}" for w, c in COMMANDS])
def test_solution_command_is_valid(where, cmd):
    """Each solution's command names chapters in _toc.yml and parameters they declare, with valid values, on the
    tiny profile and on the profile it names."""
    parsed = book_links.parse_book_command(cmd)
    for profile in dict.fromkeys(["tiny", parsed["profile"] or "quick"]):
        try:
            build_book.validate(profile, parsed["only"], parsed["params"], devices=False)
        except build_book.BuildError as e:
            pytest.fail(f"{where}: {cmd}\n  refused on profile {profile!r}: {e}")


def _exercise_params() -> list[tuple[str, str, list[str]]]:
    """(chapter stem, exercise label, NAME=VALUE items) for every `--param ...` code span in an exercise's text."""
    out = []
    for path in sorted((ROOT / "notebooks").glob("*.py")):
        text = book_links.markdown_of(path)
        for m in re.finditer(r"```\{exercise\}\n:label: ([\w-]+)\n(.*?)\n```", text, re.S):
            for span in re.findall(r"`([^`]*--param[^`]*)`", m.group(2)):
                args = shlex.split(span)
                items = [args[i + 1] for i, a in enumerate(args[:-1]) if a == "--param"]
                out.append((path.stem, m.group(1), items))
    return out


@pytest.mark.parametrize("stem,label,items", _exercise_params(),
                         ids=[f"{s}:{lab}:{'+'.join(i)[:30]}" for s, lab, i in _exercise_params()])
def test_exercise_text_names_real_parameters(stem, label, items):
    if stem not in build_book.toc_notebooks():
        pytest.skip(f"{stem} is not in _toc.yml yet: the book command cannot run it")
    try:
        build_book.validate("tiny", [stem], items, devices=False)
    except build_book.BuildError as e:
        pytest.fail(f"{stem} exercise {label}: `--param {' --param '.join(items)}` is refused: {e}")


@pytest.fixture(scope="module")
def exercise_repo(tmp_path_factory, request):
    """A fresh copy of the repository whose cache is the session's tiny book's (its networks are trained)."""
    book = tiny_book(tmp_path_factory, request)
    return copy_repo(tmp_path_factory.mktemp("exercises") / "repo"), book.cache


@pytest.mark.parametrize("where,cmd", COMMANDS, ids=[f"{w}:{c.split('--only ')[1][:40]}" for w, c in COMMANDS])
def test_solution_runs_on_tiny(exercise_repo, where, cmd):
    """The solution's command runs to the end on the tiny profile (executes its chapters; no book build)."""
    repo, cache = exercise_repo
    parsed = book_links.parse_book_command(cmd)
    args = ["--profile", "tiny", "--only", *parsed["only"], "--no-build"]
    for item in parsed["params"]:
        args += ["--param", item]
    env = {**os.environ, "SPECTRAL_LIB_CACHE": str(cache)}
    p = subprocess.run([sys.executable, str(repo / "scripts" / "build_book.py"), *args], cwd=repo,
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, f"{where}: {cmd}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
