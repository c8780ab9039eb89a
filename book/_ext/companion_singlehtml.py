"""Sphinx extension: let the single-page HTML builder (used for the book's PDF) render every node the HTML builder
renders.

Sphinx looks up custom-node handlers by builder name and falls back to the format ("html") only when nothing is
registered under the name; sphinx-exercise registers its nodes under "singlehtml", so the HTML-only handlers of
myst-nb (hidden cells) and others are then missing ("departing unknown node type: HideCodeCellNode"). On
``builder-inited`` this copies the "html" handlers that "singlehtml" lacks.
"""
from __future__ import annotations


def _merge_handlers(app) -> None:
    handlers = app.registry.translation_handlers
    if app.builder.name == "singlehtml" and "singlehtml" in handlers:
        for name, pair in handlers.get("html", {}).items():
            handlers["singlehtml"].setdefault(name, pair)


def setup(app):
    app.connect("builder-inited", _merge_handlers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
