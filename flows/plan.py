"""The dry run: everything up to the first X request, then the plan instead of the requests.

It validates and ranks like a real run but reads no database, writes no file or row and sends
nothing to X; the plan goes to the flow's log and back to the caller (the CLI prints it).
"""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from prefect import get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Failed

from flows.settings import Settings
from sources.catalogue import SAMPLE_CATALOGUE
from transforms.cost import Prices
from transforms.plan import Plan, PlannedApp
from transforms.queries import with_mention_queries
from transforms.ranking import normalise_genres, selection_name


def plan_run(
    settings: Settings,
    csv_path: Path | None,
    genres: list[str] | None,
    top_n: int,
    strategy: str,
    max_pages: int,
    max_spend: Decimal | None = None,
) -> dict[str, Any] | State:
    # the flow module imports this one: its tasks are looked up when a plan is made
    from flows.app_mentions import DEFAULT_GENRES, REJECTED, Rejection, validate_and_rank

    chosen = normalise_genres(genres or DEFAULT_GENRES)
    source = Path(csv_path) if csv_path else SAMPLE_CATALOGUE
    with tempfile.TemporaryDirectory(prefix="appbuzz-plan-") as workdir:
        catalogue = validate_and_rank(
            source, chosen, top_n, settings.max_reject_share, Path(workdir)
        )
    if isinstance(catalogue, Rejection):
        return Failed(name=REJECTED, message=catalogue.message)
    apps = with_mention_queries(catalogue.top, settings.x_query_template).sort("rank")
    plan = Plan(
        selection=selection_name(chosen, top_n),
        strategy=strategy,
        max_pages=max_pages,
        apps=tuple(
            PlannedApp(r["rank"], r["id"], r["track_name"], r["mention_query"])
            for r in apps.iter_rows(named=True)
        ),
        prices=Prices(settings.x_price_per_request_usd, settings.x_price_per_post_usd),
        max_spend=settings.x_max_spend_usd if max_spend is None else max_spend,
    )
    lines = plan.lines()
    get_run_logger().info("\n".join(lines))
    return {
        "dry_run": True,
        "selection": plan.selection,
        "strategy": strategy,
        "requests": plan.requests,
        "worst_case_posts": plan.worst_posts,
        "worst_case_cost_usd": plan.worst_cost,
        "plan": lines,
    }
