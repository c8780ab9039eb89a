"""Text passes over the book's chapters, run by ``scripts/build_book.py`` on the executed notebooks (not on the
sources in ``notebooks/``), and the exercises' runnable solutions that the test suite executes.

* :func:`glossary_entries` reads the terms of ``book/glossary.md`` (a MyST ``{glossary}`` block: one entry is one or
  more term lines followed by an indented definition); :func:`link_terms` links the first occurrence of each entry in
  a chapter's markdown cells with the ``{term}`` role. Prose only: never inside headings, code, math, links, roles,
  HTML, directive options or non-prose directives. Idempotent: an entry already linked in a chapter is left alone.
* :func:`solution_commands`: the machine-readable form of a runnable solution is a fenced ``bash`` block inside a
  ``{solution}`` directive whose lines are book commands, ``bash scripts/book.sh --only <stem> [--param NAME=VALUE
  ...]``. ``tests/test_exercises.py`` finds every one and runs it on the tiny profile.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Iterable

# Directives whose body is prose (terms may be linked inside them); any other fenced block is left alone.
PROSE_DIRECTIVES = {"exercise", "solution", "admonition", "note", "tip", "warning", "important", "attention",
                    "hint", "seealso", "dropdown", "prf:lemma", "prf:theorem", "prf:definition", "prf:remark",
                    "prf:corollary", "prf:proposition", "epigraph", "sidebar", "margin"}
# Glossary aliases too common as plain words to be linked automatically (their longer forms are linked).
NOT_AUTOLINKED = {"gap", "cap", "front", "ties", "profile", "input gradient"}
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,}|:{3,})")
# spans a term must not be linked inside: roles, inline code, display/inline math, links/images, autolinks, HTML
_PROTECTED = re.compile(r"\{[^}\s]+\}`[^`]*`|`+[^`]*`+|\$\$.*?\$\$|\$[^$]*\$|!?\[[^\]]*\]\([^)]*\)|\[[^\]]*\]"
                        r"|<[^>\s][^>]*>")
_TERM_ROLE = re.compile(r"\{term\}`([^`]*)`")


def glossary_entries(path: Path) -> list[list[str]]:
    """The entries of the first ``{glossary}`` block of ``path``: each a list of its term lines (aliases)."""
    lines = Path(path).read_text().splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if re.match(r"^(`{3,}|:{3,})\{glossary\}", ln.strip()))
    except StopIteration:
        raise ValueError(f"{path}: no {{glossary}} block") from None
    fence = re.match(r"^(`{3,}|:{3,})", lines[start].strip()).group(1)
    entries: list[list[str]] = []
    current: list[str] = []
    for ln in lines[start + 1:]:
        if ln.strip() == fence:
            break
        if ln.strip() and not ln[0].isspace() and not ln.startswith(":"):
            current.append(ln.strip())
        elif current:
            entries.append(current)
            current = []
    if current:
        entries.append(current)
    return entries


def _alias_pattern(alias: str) -> str:
    body = re.escape(alias).replace(r"\ ", r"\s+")
    plural = "" if alias[-1:] in "s)" or not alias[-1:].isalpha() else "(?:e?s)?"
    core = body + plural
    if not re.search(r"[a-z]", alias):  # acronyms and symbols: exact case
        return core
    return f"(?i:{core})"


def _compile(entries: list[list[str]]) -> tuple[re.Pattern, dict[str, int]]:
    aliases = sorted({a for e in entries for a in e}, key=len, reverse=True)
    owner = {a.lower(): i for i, e in enumerate(entries) for a in e}
    groups = "|".join(f"(?P<t{k}>{_alias_pattern(a)})" for k, a in enumerate(aliases))
    pat = re.compile(rf"(?<![\w\-{{`$]){'(?:' + groups + ')'}(?![\w\-])")
    index = {f"t{k}": owner[a.lower()] for k, a in enumerate(aliases)}
    return pat, index


def _linked_entries(text: str, entries: list[list[str]]) -> set[int]:
    owner = {a.lower(): i for i, e in enumerate(entries) for a in e}
    done = set()
    for m in _TERM_ROLE.finditer(text):
        inner = m.group(1)
        target = re.search(r"<([^>]*)>\s*$", inner)
        name = (target.group(1) if target else inner).strip().lower()
        if name in owner:
            done.add(owner[name])
    return done


def _link_line(line: str, pat: re.Pattern, index: dict[str, int], entries: list[list[str]],
               done: set[int]) -> str:
    out, pos = [], 0
    spans = [m.span() for m in _PROTECTED.finditer(line)]

    def protected(a: int, b: int) -> bool:
        return any(s < b and a < e for s, e in spans)

    for m in pat.finditer(line):
        entry = index[m.lastgroup]
        text = m.group(0)
        if entry in done or protected(*m.span()) or text.lower() in NOT_AUTOLINKED:
            continue
        canonical = entries[entry][0]
        role = f"{{term}}`{text}`" if text.lower() == canonical.lower() else f"{{term}}`{text} <{canonical}>`"
        out += [line[pos:m.start()], role]
        pos = m.end()
        done.add(entry)
    return "".join(out) + line[pos:]


def _walk(text: str):
    """Yield ``(line, stack, is_fence)`` for every line of MyST ``text``: ``stack`` is the list of open fenced blocks
    as ``(fence, name)`` (name: the directive, e.g. ``exercise``, or the code language, ``""`` for none), after
    the line's own opening or before its closing."""
    stack: list[tuple[str, str]] = []
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if m:
            fence, rest = m.group(2), line[m.end(2):].strip()
            top = stack[-1][0] if stack else None
            if top and not rest and fence[0] == top[0] and len(fence) >= len(top):
                yield line, list(stack), True
                stack.pop()
                continue
            d = re.match(r"\{([^}]+)\}\s*(.*)", rest)
            name = d.group(1).strip() if d else rest.split()[0] if rest else ""
            if d and name in ("code-block", "code", "code-cell"):
                name = d.group(2).split()[0] if d.group(2).split() else "code"
            stack.append((fence, name))
            yield line, list(stack), True
            continue
        yield line, list(stack), False


def link_terms(sources: Iterable[str], entries: list[list[str]]) -> list[str]:
    """``sources`` (a chapter's markdown cells, in order) with the first prose occurrence of every glossary entry
    linked; entries already linked anywhere in the chapter are skipped (so a second pass changes nothing)."""
    sources = list(sources)
    pat, index = _compile(entries)
    done = set().union(*(_linked_entries(s, entries) for s in sources)) if sources else set()
    out = []
    for src in sources:
        lines, in_math, in_header = [], False, False
        for line, stack, is_fence in _walk(src):
            stripped = line.strip()
            if stripped.startswith(("% spectral-companion chapter header", "% end of chapter header")):
                in_header = stripped.startswith("% spectral-companion")  # the build's header box: not prose
            if is_fence or in_header:
                lines.append(line)
                continue
            if stripped.startswith("$$"):
                if not (len(stripped) > 4 and stripped.endswith("$$")):
                    in_math = not in_math
                lines.append(line)
                continue
            prose = all(name in PROSE_DIRECTIVES for _, name in stack)
            if (in_math or not prose or not stripped or stripped.startswith(("#", ":", "%", "<", "|-", "|:"))
                    or line.startswith("    ")):
                lines.append(line)
                continue
            lines.append(_link_line(line, pat, index, entries, done))
        out.append("\n".join(lines))
    return out


# ------------------------------------------------------------------------------------ runnable solutions
_BOOK_CMD = re.compile(r"^\s*bash\s+scripts/book\.sh\s+(.*)$")


def solution_commands(markdown: str) -> list[str]:
    """Every book command in a fenced ``bash`` block inside a ``{solution}`` directive of ``markdown`` (lines ending
    with a backslash are joined), in order."""
    cmds, buf = [], ""
    for line, stack, is_fence in _walk(markdown):
        in_bash = (not is_fence and stack and stack[-1][1] in ("bash", "sh", "shell")
                   and any(name == "solution" for _, name in stack[:-1]))
        if not in_bash:
            buf = ""
            continue
        text = buf + line.strip()
        if text.endswith("\\"):
            buf = text[:-1].rstrip() + " "
            continue
        buf = ""
        if _BOOK_CMD.match(text):
            cmds.append(text.strip())
    return cmds


def parse_book_command(cmd: str) -> dict:
    """``{"only": [stems], "params": ["NAME=VALUE", ...], "profile": str | None}`` of a book command; ValueError
    naming the command when it has no ``--only`` (a solution reruns one chapter, not the whole book) or an option
    other than ``--only``, ``--param`` and ``--profile``."""
    m = _BOOK_CMD.match(cmd)
    if not m:
        raise ValueError(f"not a book command (bash scripts/book.sh ...): {cmd!r}")
    args = shlex.split(m.group(1))
    out: dict = {"only": [], "params": [], "profile": None}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--only":
            i += 1
            while i < len(args) and not args[i].startswith("--"):
                out["only"].append(args[i])
                i += 1
            continue
        if a in ("--param", "--profile") and i + 1 < len(args):
            if a == "--param":
                out["params"].append(args[i + 1])
            else:
                out["profile"] = args[i + 1]
            i += 2
            continue
        raise ValueError(f"{cmd!r}: option {a!r} is not allowed in a runnable solution (use --only, --param, "
                         f"--profile)")
    if not out["only"]:
        raise ValueError(f"{cmd!r}: a runnable solution must name its chapter with --only <stem>")
    return out


def markdown_of(path: Path) -> str:
    """The markdown text of a chapter source (``notebooks/<stem>.py``, jupytext percent format: its markdown cells
    joined) or of a book page (``.md``: the file itself)."""
    path = Path(path)
    if path.suffix == ".md":
        return path.read_text()
    import jupytext

    nb = jupytext.read(path)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
