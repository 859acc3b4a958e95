"""Flow-run heartbeats only where someone listens for them.

A deployment's runs send heartbeats (prefect.yaml sets their frequency) so that the server's
automation can mark a run whose worker died `Crashed`. A run of `appbuzz run` against the temporary
server Prefect starts in process has nobody to detect it: the server dies with it. There the
heartbeat thread is pure cost: Prefect 3.9 joins it at the end of the run, and it sleeps in
one-second steps, so every such run's wall time was padded by up to a second.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def heartbeats_only_with_a_server() -> Iterator[None]:
    """No heartbeats when no Prefect server is configured (PREFECT_API_URL unset)."""
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        get_current_settings,
        temporary_settings,
    )

    if get_current_settings().api.url:
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
