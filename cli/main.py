"""`appbuzz`: run the flow once in process, serve the results, prepare a Prefect server, or
regenerate the shipped sample. The one place that knows both the flow (`flows`) and the API
(`api`): it reads the settings and hands each what it needs.

Exit status: 0 success; 2 bad usage or input rejected before anything was written (one line on
stderr: the file, the column or line, what was expected); 1 any other failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, NoReturn

from transforms.defaults import DEFAULT_GENRES, DEFAULT_TOP_N

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# An in-process run starts Prefect's temporary server; it needs no telemetry, and a person at a
# terminal wants warnings, not Prefect's chatter (`--verbose` brings it back). Set before import.
# DO_NOT_TRACK is the client's switch: without it a first run at a terminal also prints Prefect's
# three-line telemetry notice on stderr.
_QUIET_PREFECT = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {value}")
    return value


def _usd(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"expected an amount in USD like 2.50, got {text!r}"
        ) from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"expected an amount of at least 0, got {text!r}")
    return value


def _port(text: str) -> int:
    port = _positive_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {port}")
    return port


def _genres(text: str) -> list[str]:
    genres = [g.strip() for g in text.split(",") if g.strip()]
    if not genres:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated genres like Book,Music, got {text!r}"
        )
    return genres


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _selection_and_spend(command: argparse.ArgumentParser) -> None:
    """What `run` and `backfill` both take: the catalogue, the selection, the database, the cap,
    a dry run, a recount, and Prefect's logs."""
    command.add_argument("--csv", type=Path, help="catalogue CSV (default: the shipped sample)")
    command.add_argument(
        "--genres",
        type=_genres,
        default=list(DEFAULT_GENRES),
        help=f"default: {','.join(DEFAULT_GENRES)}",
    )
    command.add_argument(
        "--top-n", type=_positive_int, default=DEFAULT_TOP_N, help=f"default: {DEFAULT_TOP_N}"
    )
    command.add_argument("--database-url", help="SQLAlchemy URL (default: APPBUZZ_DATABASE_URL)")
    command.add_argument(
        "--max-spend-usd",
        type=_usd,
        help="the most this run may spend on the X API (default: APPBUZZ_X_MAX_SPEND_USD or 1)",
    )
    command.add_argument(
        "--dry-run",
        action="store_true",
        help="validate, rank and print the plan (queries, which counts the ledger holds, "
        "requests, worst-case cost); send nothing to X, write nothing",
    )
    command.add_argument(
        "--recount",
        action="store_true",
        help="ask X again for every app, even those the ledger already holds",
    )
    command.add_argument("-v", "--verbose", action="store_true", help="show Prefect's logs")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="appbuzz", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run the app-mentions flow once, in process")
    _selection_and_spend(run)
    run.add_argument("--strategy", choices=("counts", "search"), default="counts")
    run.add_argument("--max-pages", type=_positive_int, default=10, help="search pages per app")
    run.add_argument("--snapshot-date", type=_iso_date, help="YYYY-MM-DD (default: today, UTC)")
    run.add_argument("--out", type=Path, help="output folder (default: APPBUZZ_OUT_DIR or out)")
    run.add_argument(
        "--no-catalogue",
        dest="load_catalogue",
        action="store_false",
        help="do not load the validated catalogue into the app_catalogue table",
    )

    backfill = commands.add_parser(
        "backfill", help="count past days from X's full archive (counts/all), in process"
    )
    _selection_and_spend(backfill)
    backfill.add_argument(
        "--days", type=_positive_int, default=30, help="whole days before --until (default: 30)"
    )
    backfill.add_argument(
        "--until", type=_iso_date, help="YYYY-MM-DD, the day after the last (default: today, UTC)"
    )

    serve = commands.add_parser("serve", help="serve the results over HTTP, read-only")
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=_port, default=8080, help="default: 8080")
    serve.add_argument("--database-url", help="SQLAlchemy URL (default: APPBUZZ_DATABASE_URL)")
    serve.add_argument("--workers", type=_positive_int,
                       help="server processes (default: one per core)")  # fmt: skip

    sample = commands.add_parser("sample", help="write the synthetic sample catalogue")
    sample.add_argument("--out", type=Path, required=True, help="where to write the CSV")

    setup = commands.add_parser(
        "setup", help="prepare the Prefect server: work pool, X API limit, alerts, automations"
    )
    setup.add_argument(
        "--x-api-limit", type=_positive_int, help="default: APPBUZZ_X_API_LIMIT or 5"
    )
    setup.add_argument(
        "--x-token-from-env",
        action="store_true",
        help="store X_BEARER_TOKEN in the Prefect Secret block APPBUZZ_X_TOKEN_BLOCK "
        "(default appbuzz-x-token), so workers need no token of their own",
    )
    return parser


def _fail(status: int, message: str) -> int:
    print(f"appbuzz: {message}", file=sys.stderr)
    return status


def _precheck(args: argparse.Namespace) -> None:
    """The flow's own first checks, run before Prefect is imported: a mistake costs a second.
    Raises the typed error of the first that fails."""
    from flows.preflight import preflight
    from flows.settings import read_settings
    from sinks.database import Database
    from sources.catalogue import CatalogueFile

    out = getattr(args, "out", None)
    settings = read_settings().overridden(out_dir=out, x_max_spend_usd=args.max_spend_usd)
    if args.csv is not None:
        CatalogueFile.open(args.csv)
    url = settings.database_url.get_secret_value()
    with Database.open(url, read_only=args.dry_run) as database:
        out_dir = settings.out_dir if args.command == "run" else None  # a backfill writes none
        preflight(database, out_dir, dry_run=args.dry_run)


def _in_process(args: argparse.Namespace, start: Callable[[], Any]) -> int:
    """A flow run in this process, as `run` and `backfill` make one: checked first, then run
    with its progress on this console; its closing lines (or a dry run's plan), or one line of
    why it failed."""
    if args.database_url:  # the flow run in this process reads its settings from here
        os.environ["APPBUZZ_DATABASE_URL"] = args.database_url
    if args.csv is not None:
        from sources.content_hash import prefetch_sha256

        prefetch_sha256(args.csv)  # on the idle core, while Prefect and Polars are imported

    from transforms.errors import AppbuzzError, UserError

    try:
        _precheck(args)
    except AppbuzzError as error:
        return _fail(EXIT_USAGE if isinstance(error, UserError) else EXIT_FAILED, str(error))

    from flows.heartbeats import heartbeats_only_with_a_server
    from flows.progress import console_progress
    from transforms.errors import REJECTED

    with heartbeats_only_with_a_server(), console_progress():
        state = start()
    if state.is_completed():  # the run's closing lines, or a dry run's plan
        print("\n".join(f"appbuzz: {line}" for line in state.result().lines()))
        return EXIT_OK
    return _fail(
        EXIT_USAGE if state.name == REJECTED else EXIT_FAILED,
        state.message or state.name or "failed",
    )


def run_command(args: argparse.Namespace) -> int:
    def start() -> Any:
        from flows.app_mentions import app_mentions

        return app_mentions(
            csv_path=args.csv, genres=args.genres, top_n=args.top_n, strategy=args.strategy,
            max_pages=args.max_pages, snapshot_date=args.snapshot_date, out_dir=args.out,
            load_catalogue=args.load_catalogue, max_spend_usd=args.max_spend_usd,
            dry_run=args.dry_run, recount=args.recount, return_state=True,
        )  # fmt: skip

    return _in_process(args, start)


def backfill_command(args: argparse.Namespace) -> int:
    def start() -> Any:
        from flows.backfill import app_backfill

        return app_backfill(
            csv_path=args.csv, genres=args.genres, top_n=args.top_n, days=args.days,
            until=args.until, max_spend_usd=args.max_spend_usd, dry_run=args.dry_run,
            recount=args.recount, return_state=True,
        )  # fmt: skip

    return _in_process(args, start)


def serve_command(args: argparse.Namespace) -> int:
    from api.server import default_workers, listen, prepare, serve
    from flows.settings import read_settings
    from transforms.errors import AppbuzzError, UserError
    from transforms.redaction import safe_url

    try:
        settings = read_settings()
        url = args.database_url or settings.database_url.get_secret_value()
        app = prepare(url, settings.spike_rule)
        sock = listen(args.host, args.port)
    except AppbuzzError as error:
        return _fail(EXIT_USAGE if isinstance(error, UserError) else EXIT_FAILED, str(error))
    except OSError as error:
        reason = error.strerror or error
        return _fail(EXIT_FAILED, f"cannot listen on {args.host}:{args.port}: {reason}")
    host, port = sock.getsockname()[:2]
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    print(f"appbuzz: serving {safe_url(url)} on http://{where} (docs at /docs)", flush=True)
    serve(app, sock, args.workers or default_workers())
    return EXIT_OK


def sample_command(args: argparse.Namespace) -> int:
    from sinks.files import write_sample
    from sources.sample import sample_catalogue

    write_sample(args.out, sample_catalogue())
    print(f"appbuzz: wrote {args.out}")
    return EXIT_OK


def setup_command(args: argparse.Namespace) -> int:
    from flows.setup import setup_command as setup

    return setup(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name, value in _QUIET_PREFECT.items():
        os.environ.setdefault(name, value)
    if not getattr(args, "verbose", False):
        # the terminal gets warnings; the Prefect API (and UI) still gets every INFO line
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
        if not os.environ.get("PREFECT_API_URL"):
            # the temporary server dies with this run: its services' shutdown errors (events
            # still being flushed as the run ends) are nobody's to act on
            os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
        # Prefect's "Still processing items" while its event queue drains at exit: not news
        logging.getLogger("EventsWorker").setLevel(logging.ERROR)
    commands = {"run": run_command, "serve": serve_command, "sample": sample_command}
    commands["backfill"] = backfill_command
    commands["setup"] = setup_command
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
