"""Look for a secret everywhere a run leaves traces: files (Prefect's pickled results decoded);
what the Prefect API holds is read with tests/support/prefect.py."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from pathlib import Path


def _decoded_results(data: bytes) -> bytes:
    """A Prefect result record stores the value base64-encoded: look inside it too."""
    try:
        record = json.loads(data)
        return base64.b64decode(record["result"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        return b""


def files_holding(secret: str, roots: Iterable[Path]) -> tuple[list[Path], int]:
    """Files under `roots` that contain `secret`, and how many files were read."""
    needle, hits, read = secret.encode(), [], 0
    for root in roots:
        for path in sorted(p for p in Path(root).rglob("*") if p.is_file()):
            data = path.read_bytes()
            read += 1
            if needle in data or needle in _decoded_results(data):
                hits.append(path)
    return hits, read
