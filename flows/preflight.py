"""What must hold before a run spends anything: one check for every way a run starts.

The catalogue is checked when it is opened (`sources.catalogue.CatalogueFile.open`); this checks
the rest. The flow runs it as its first task (a deployment run, a retry, the CLI's run alike);
the CLI also calls it before importing Prefect, so a mistake costs a second, not Prefect's
start-up. Nothing here writes, except the database tables created when missing (the schema is
the database's half of "it answers"); the output folder is checked, never created.
"""

from __future__ import annotations

from pathlib import Path

from sinks.database import Database
from sinks.files import check_out_dir


def preflight(database: Database, out_dir: Path | None, *, dry_run: bool = False) -> None:
    """The output folder is writable, the database answers and its tables exist; else the typed
    error of the first that does not (`transforms.errors`).

    The user's own input first, the database (which may create the tables) last, so a rejected
    run leaves the database as it was. A dry run touches no database, not even to create its
    tables (it reads the ledger, if there is one).
    """
    if out_dir is not None:
        check_out_dir(out_dir)
    if not dry_run:
        database.check()
