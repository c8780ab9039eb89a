"""The paper's published numbers and settings, as recorded (with sources) in ``resources/paper_published.yaml``.

Nothing here is computed: it is what we could read, each entry with where it came from. The paper's own tables could
not be read in any stored copy; a third-party summary's tables are available under an explicit "unverified" label.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["published", "secondary_table", "SOURCE_NOTE"]

_PATH = Path(__file__).resolve().parents[1] / "resources" / "paper_published.yaml"
SOURCE_NOTE = (
    "Paper column: as shown by a third-party summary of the paper (papernotes), NOT verified against the paper's "
    "PDF, which no stored copy we could read contains. Treat as indicative."
)


@lru_cache(maxsize=1)
def published() -> dict[str, Any]:
    """The whole record (source, settings from the authors' code, tables, findings, not_found, secondary)."""
    return yaml.safe_load(_PATH.read_text())


def secondary_table(table_id: str):
    """One of the third-party (unverified) tables as a pandas DataFrame (rows: methods)."""
    import pandas as pd

    for t in published()["secondary_unverified"]["tables"]:
        if t["id"] == table_id:
            return pd.DataFrame.from_dict(t["rows"], orient="index", columns=t["columns"])
    ids = [t["id"] for t in published()["secondary_unverified"]["tables"]]
    raise ValueError(f"table_id must be one of {ids}, got {table_id!r}")
