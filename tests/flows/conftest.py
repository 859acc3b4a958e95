"""Fixtures of the flow tests: the loopback fake X API as the settings of this process (`x_env`),
the flow run in this process (`run_flow`), and the shipped sample's top 10 as X queries (an
oracle, not the flow)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

from sources.catalogue import SAMPLE_CATALOGUE
from tests.fake_x_api import FakeXApi
from tests.support.catalogues import top_apps
from transforms.queries import build_query

DAY = date(2026, 1, 15)  # the snapshot date of `run_flow` unless a test gives another


@pytest.fixture
def x_env(
    clean_environment: None,
    monkeypatch: pytest.MonkeyPatch,
    fake_x_api: FakeXApi,
    tmp_path: Path,
    sqlite_url: str,
) -> Iterator[FakeXApi]:
    """Settings pointing at the fake and a fresh database; task results kept in `tmp_path`."""
    monkeypatch.setenv("X_BEARER_TOKEN", fake_x_api.token)
    monkeypatch.setenv("X_API_BASE_URL", fake_x_api.base_url)
    monkeypatch.setenv("APPBUZZ_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("APPBUZZ_X_RETRY_BASE_SECONDS", "0.02")
    monkeypatch.setenv("APPBUZZ_X_RATE_LIMIT_MARGIN_SECONDS", "0.05")
    monkeypatch.setenv("APPBUZZ_X_TIMEOUT_SECONDS", "2")
    with temporary_settings({PREFECT_LOCAL_STORAGE_PATH: tmp_path / "results"}):
        yield fake_x_api


@pytest.fixture
def run_flow(tmp_path: Path) -> Callable[..., Any]:
    """`run_flow(**params)`: the app-mentions flow in this process, its files in `tmp_path/out`,
    on DAY unless told; returns the final state."""
    from flows.app_mentions import app_mentions

    def run(**params: Any) -> Any:
        params.setdefault("snapshot_date", DAY)
        return app_mentions(out_dir=tmp_path / "out", return_state=True, **params)

    return run


@pytest.fixture
def sample_top_queries() -> list[str]:
    """The queries of the shipped sample's default top 10, in rank order."""
    return [build_query(name) for name in top_apps(SAMPLE_CATALOGUE)["track_name"]]
