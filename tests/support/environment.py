"""The environment a test hands to appbuzz: this process's, minus every setting appbuzz reads, so
a developer's shell (a real X token, another database) never leaks into a test."""

from __future__ import annotations

import os
from collections.abc import Mapping

SETTINGS_PREFIXES = ("APPBUZZ_", "X_", "TWITTER_")


def is_setting(name: str) -> bool:
    return name.startswith(SETTINGS_PREFIXES)


def clean_env(extra: Mapping[str, str] | None = None, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """`os.environ` without appbuzz/X settings (and names starting with `drop`), plus `extra`."""
    prefixes = SETTINGS_PREFIXES + drop
    kept = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**kept, **(extra or {})}
