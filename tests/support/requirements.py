"""What the suite needs from the machine (PostgreSQL, Docker, Chromium, the real data set): when
one is not there, its tests skip on a laptop and fail in CI (CI=true), where nothing may be
missing."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(message: str) -> None:
    """Something the suite needs is not here: a failure in CI, a skip elsewhere."""
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
