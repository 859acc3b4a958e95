"""Loaded by schemathesis (SCHEMATHESIS_HOOKS) in tests/api/test_api_fuzz.py: how to read
`/apps.csv`, so its 200s are checked against the document like every JSON answer."""

from __future__ import annotations

import csv
import io
from typing import Any

import schemathesis


@schemathesis.deserializer("text/csv")
def apps_csv(_: Any, response: Any) -> str:
    """The body as the document's `string`, once it reads as UTF-8 CSV under apps.csv's header."""
    text = response.content.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0][:2] != ["id", "track_name"]:
        raise ValueError("not apps.csv: its header (id, track_name, ...) is missing")
    if any(len(row) != len(rows[0]) for row in rows):
        raise ValueError("rows of apps.csv differ in length from its header")
    return text
