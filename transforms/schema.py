"""The catalogue's contract: the columns appbuzz uses, their types and checks (pandera)."""

from __future__ import annotations

import pandera.backends.polars.builtin_checks  # noqa: F401  (register before checks are built)
import pandera.polars as pa

NO_CONTROL_CHARACTERS = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class Catalogue(pa.DataFrameModel):
    """One App Store app per row; the single source of truth for validation.

    Only the columns the pipeline uses are declared: other columns of the file are ignored, and
    `strict=False` lets them pass through pandera untouched.
    """

    id: int = pa.Field(gt=0, unique=True, nullable=False)
    # Text is checked with surrounding whitespace stripped (transforms.parsing), so "not
    # blank" is a length of at least 1: as strict as a \S pattern, and a length costs a
    # fraction of a regex at millions of rows. Not a megabyte either, and no control characters
    # but tab and line breaks: PostgreSQL text cannot hold a NUL byte, and an escape sequence
    # is no part of an app's name.
    track_name: str = pa.Field(
        str_length={"min_value": 1, "max_value": 1000},
        str_contains=NO_CONTROL_CHARACTERS,
        nullable=False,
    )
    size_bytes: int = pa.Field(ge=0, nullable=False)
    price: float = pa.Field(ge=0, nullable=False)
    rating_count_tot: int = pa.Field(ge=0, nullable=False)
    user_rating: float = pa.Field(in_range={"min_value": 0, "max_value": 5}, nullable=False)
    prime_genre: str = pa.Field(str_length={"min_value": 1}, nullable=False)

    class Config:
        strict = False
        coerce = False


CATALOGUE_SCHEMA = Catalogue.to_schema()
REQUIRED_COLUMNS: tuple[str, ...] = tuple(CATALOGUE_SCHEMA.columns)
