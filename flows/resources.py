"""The outside systems a run touches, each behind one object, built once per run from the one
settings object and handed to the tasks: the catalogue file and the X API (`sources`), the
database and the run's scratch folder (`sinks`), and where task results go (`flows.results`).

Each has an in-memory twin for tests (`InMemoryCatalogue`, `InMemoryX`, `Database.in_memory()`):
a unit test of a task builds `Resources` from those, and swaps no network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import httpx
from prefect.blocks.system import Secret
from prefect.runtime import deployment, flow_run
from pydantic import SecretStr

from flows.concurrency import x_api_slot
from flows.liveness import Liveness
from flows.results import object_storage
from flows.run_log import run_logger
from flows.settings import Settings
from sinks.database import Database
from sinks.scratch import Scratch
from sources.catalogue import SAMPLE_CATALOGUE, Catalogue, CatalogueFile
from sources.rate_limit import RateGate
from sources.x_api import MentionCounter, RetryPolicy, XApi
from transforms.cost import usd
from transforms.errors import SettingInvalid
from transforms.redaction import safe_url

if TYPE_CHECKING:
    from prefect_aws import S3Bucket


class Resources:
    """What one run works with; a plain object, so Prefect passes it to tasks untouched."""

    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        database: Database,
        x: MentionCounter | None,
        scratch: Scratch,
        results: S3Bucket | None = None,
    ) -> None:
        self.settings = settings
        self.catalogue = catalogue
        self.database = database
        self.x = x  # None: no X token, nothing is asked
        self.scratch = scratch
        self.results = results  # the object storage block of APPBUZZ_RESULTS_URL, if set

    @property
    def result_storage(self) -> S3Bucket | Path | None:
        """Where the count tasks keep results and cache records: the object storage block,
        else the folder APPBUZZ_RESULTS_DIR, else Prefect's default (None)."""
        if self.results is not None:
            return self.results
        folder = self.settings.results_dir
        return folder.resolve() if folder is not None else None

    def __repr__(self) -> str:
        return f"Resources({self.catalogue.source_path}, {self.database.shown_url})"


@contextmanager
def open_resources(
    settings: Settings, csv_path: Path | None, *, dry_run: bool = False
) -> Iterator[Resources]:
    """Build the run's resources, cheapest and most likely to be the user's mistake first: the
    catalogue (its head checked), then the database (an engine; no connection yet), the scratch
    folder and the X API (a client; nothing sent; none for a dry run, which only reads the
    database; the object storage block of APPBUZZ_RESULTS_URL, read from the Prefect server). All
    are closed when the run ends."""
    catalogue = CatalogueFile.open(csv_path or SAMPLE_CATALOGUE)
    with ExitStack() as stack:
        url = settings.database_url.get_secret_value()
        database = stack.enter_context(Database.open(url, read_only=dry_run))
        scratch = stack.enter_context(Scratch())
        # the object storage block (a folder or Prefect's default are the settings' own)
        results = (
            None
            if dry_run or settings.results_url is None
            else object_storage(settings.results_url)
        )
        alive = None if dry_run else this_attempt()
        if alive is not None:
            stack.enter_context(alive)
        x = None if dry_run else open_x_api(settings, alive)
        if x is not None:
            stack.callback(x.close)
        yield Resources(settings, catalogue, database, x, scratch, results)


def x_token(settings: Settings) -> SecretStr | None:
    """The bearer token: `X_BEARER_TOKEN`, else the Prefect Secret block `APPBUZZ_X_TOKEN_BLOCK`
    names, else none. Never logged; a named block that is missing is a setting to fix."""
    if settings.x_bearer_token is not None or not settings.x_token_block:
        return settings.x_bearer_token
    name = settings.x_token_block
    try:
        secret: Secret[str] = Secret.load(name, _sync=True)  # type: ignore[call-arg, assignment]
    except ValueError:
        raise SettingInvalid(
            f"setting APPBUZZ_X_TOKEN_BLOCK: the Prefect server has no Secret block named "
            f"{name!r} (`appbuzz setup --x-token-from-env` stores X_BEARER_TOKEN in it)"
        ) from None
    except httpx.HTTPError as error:
        raise SettingInvalid(
            f"setting APPBUZZ_X_TOKEN_BLOCK: the Secret block {name!r} cannot be read: the "
            f"Prefect server did not answer ({type(error).__name__})"
        ) from None
    value = str(secret.get()).strip()
    return SecretStr(value) if value else None


def this_attempt() -> Liveness | None:
    """A deployment's run watches that it is still the night's attempt (`flows.liveness`)."""
    if not flow_run.id or not deployment.id:
        return None
    return Liveness(UUID(flow_run.id), flow_run.run_count)


def open_x_api(settings: Settings, alive: Liveness | None = None) -> XApi | None:
    """The X API client for this run, or None without a token (counts are then skipped)."""
    token = x_token(settings)
    if token is None:
        return None
    this_run = UUID(flow_run.id) if flow_run.id else None
    slot = x_api_slot(settings.x_concurrency_limit, this_run, alive)
    run_logger().info(
        "X API at %s: at most %d requests in flight, at most %s spent%s",
        safe_url(settings.x_api_base_url),
        settings.x_max_concurrency,
        usd(settings.x_max_spend_usd),
        f", within Prefect concurrency limit {settings.x_concurrency_limit!r}" if slot else "",
    )
    return XApi(
        token,
        settings.x_api_base_url,
        timeout=settings.x_timeout_seconds,
        max_concurrency=settings.x_max_concurrency,
        retry=RetryPolicy(settings.x_max_retries, settings.x_retry_base_seconds),
        gate=RateGate(
            margin=settings.x_rate_limit_margin_seconds, max_wait=settings.x_max_rate_wait_seconds
        ),
        shared_slot=slot,
        prices=settings.prices,
        max_spend=settings.x_max_spend_usd,
    )
