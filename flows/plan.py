"""The dry run: everything up to the first X request, then the plan instead of the requests.

It validates and ranks like a real run but reads no database, writes no file or row and sends
nothing to X; the plan goes to the flow's log and back to the caller (the CLI prints it).
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

from prefect import get_run_logger

from flows.settings import Settings
from sources.catalogue import SAMPLE_CATALOGUE
from transforms.cost import Prices
from transforms.plan import Plan, PlannedApp
from transforms.queries import with_mention_queries
from transforms.ranking import selection_name


def plan_run(
    settings: Settings,
    csv_path: Path | None,
    genres: tuple[str, ...],
    top_n: int,
    strategy: str,
    max_pages: int,
    max_spend: Decimal,
) -> Plan:
    # the flow module imports this one: its task is looked up when a plan is made
    from flows.app_mentions import validate_and_rank

    with tempfile.TemporaryDirectory(prefix="appbuzz-plan-") as workdir:
        catalogue = validate_and_rank(
            csv_path or SAMPLE_CATALOGUE, genres, top_n, settings.max_reject_share, Path(workdir)
        )
    apps = with_mention_queries(catalogue.top, settings.x_query_template).sort("rank")
    plan = Plan(
        selection=selection_name(genres, top_n),
        strategy=strategy,
        max_pages=max_pages,
        apps=tuple(
            PlannedApp(r["rank"], r["id"], r["track_name"], r["mention_query"])
            for r in apps.iter_rows(named=True)
        ),
        prices=Prices(settings.x_price_per_request_usd, settings.x_price_per_post_usd),
        max_spend=max_spend,
    )
    get_run_logger().info("\n".join(plan.lines()))
    return plan
