"""Fixtures of the flow tests: settings pointing at the loopback fake X API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

from tests.fake_x_api import FakeXApi


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
