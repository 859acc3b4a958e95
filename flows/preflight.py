"""What must hold before a run spends anything: one check for every way a run starts.

The flow runs it as its first task (a deployment run, a retry, the CLI's run alike); the CLI
also calls it before importing Prefect, so a mistake costs a second, not Prefect's start-up.
Nothing here writes, except the database tables created when missing (the schema is the
database's half of "it answers"); the output folder is checked, never created.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from flows.settings import Settings, get_settings
from sinks.database import check_database, database
from sinks.files import check_out_dir
from sources.catalogue import open_catalogue
from transforms.errors import SettingInvalid


def read_settings() -> Settings:
    """The settings, or `SettingInvalid` naming the first one that does not validate."""
    try:
        return get_settings()
    except ValidationError as error:
        first = error.errors()[0]
        raise SettingInvalid(
            f"setting {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None


def preflight(
    settings: Settings, csv_path: Path | None, out_dir: Path, dry_run: bool = False
) -> None:
    """The catalogue opens, the output folder is writable, the database answers and its tables
    exist; else the typed error of the first that does not (`transforms.errors`).

    In that order: the cheap checks of the user's own input first, the database (which may
    create the tables) last, so a rejected run leaves the database as it was. A dry run touches
    no database, not even to create its tables.
    """
    if csv_path is not None:  # None: the shipped sample, always there
        open_catalogue(csv_path)
    check_out_dir(out_dir)
    if dry_run:
        return
    with database(settings.database_url.get_secret_value()) as engine:
        check_database(engine)
