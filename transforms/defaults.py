"""The default choice of a run (genres Book and Music, top 10): the CLI's, the flow's, the
deployment's and the one `/apps.json` serves unasked. No heavy import: the CLI reads it first."""

from __future__ import annotations

DEFAULT_GENRES: tuple[str, ...] = ("Book", "Music")
DEFAULT_TOP_N = 10
