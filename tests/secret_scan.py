"""Look for a secret everywhere a run leaves traces: files (Prefect's pickled results decoded),
database rows, and what the Prefect API holds about a flow run."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from pathlib import Path

import httpx


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


def prefect_records(api_url: str, flow_run_id: str) -> dict[str, list]:
    """The flow run, its task runs, logs and artifacts as the Prefect API returns them."""
    flow_runs = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
    with httpx.Client(base_url=api_url, timeout=30) as client:
        return {
            "flow_run": [client.get(f"/flow_runs/{flow_run_id}").raise_for_status().json()],
            "task_runs": client.post("/task_runs/filter", json=flow_runs).raise_for_status().json(),
            "logs": client.post(
                "/logs/filter", json={"logs": {"flow_run_id": {"any_": [flow_run_id]}}}
            )
            .raise_for_status()
            .json(),
            "artifacts": client.post(
                "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}}
            )
            .raise_for_status()
            .json(),
        }
