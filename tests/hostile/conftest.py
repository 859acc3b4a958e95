"""Fixtures of the hostile tests; the tools they use live in `tests/hostile/tools.py`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, create_engine


@pytest.fixture
def pg_session(postgres_url: str) -> Iterator[Connection]:
    """A second session on the test's database, in autocommit, to hold locks and end backends."""
    engine = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        yield connection
    engine.dispose()
