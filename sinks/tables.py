"""The database contract: tables and the latest-snapshot view, in SQLAlchemy Core.

The same definitions serve SQLite and PostgreSQL; the read-only API imports them too.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.sql.ddl import CreateView

metadata = MetaData()

USD = Numeric(14, 6)  # what X requests cost: exact decimal dollars, never float

appbuzz_runs = Table(
    "appbuzz_runs",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("flow_run_id", String(36)),
    Column("snapshot_date", Date, nullable=False),
    Column("selection", Text, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),
    Column("message", Text),
    Column("source_path", Text, nullable=False),
    Column("source_sha256", String(64)),
    Column("rows_read", BigInteger),
    Column("rows_rejected", BigInteger),
    Column("strategy", String(16), nullable=False),
    Column("mentions_ok", Integer),
    Column("mentions_capped", Integer),
    Column("mentions_failed", Integer),
    Column("mentions_skipped", Integer),
    Column("x_requests", Integer),
    Column("posts_consumed", BigInteger),
    Column("x_cost_usd", USD),
    Column("max_spend_usd", USD),
)

app_mentions = Table(
    "app_mentions",
    metadata,
    Column("snapshot_date", Date, primary_key=True),
    Column("selection", Text, primary_key=True),
    Column("app_id", BigInteger, primary_key=True),
    Column("rank", Integer, nullable=False),
    Column("track_name", Text, nullable=False),
    Column("prime_genre", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("price", Double, nullable=False),
    Column("rating_count_tot", BigInteger, nullable=False),
    Column("n_citacoes", BigInteger),
    Column("mention_status", String(16), nullable=False),
    Column("mention_query", Text),
    Column("mention_error", Text),
    Column("window_start", DateTime(timezone=True)),
    Column("window_end", DateTime(timezone=True)),
    Column("x_requests", Integer, nullable=False, default=0),
    Column("run_id", String(36), nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
    # added after the first release: nullable, so older databases gain them in place
    Column("posts_consumed", BigInteger),
    Column("x_cost_usd", USD),
)

# The ledger of counts: each app's count for a night and selection, written as X answers it (a
# failure too, with what it cost), so no retry or rerun on any host asks X again for a settled
# count. The snapshot load and the files read it; `--recount` replaces what it holds.
mention_ledger = Table(
    "mention_ledger",
    metadata,
    Column("snapshot_date", Date, primary_key=True),
    Column("selection", Text, primary_key=True),
    Column("app_id", BigInteger, primary_key=True),
    # counts, search or all (a backfill, whose night is the day after its last one)
    Column("strategy", String(16), primary_key=True),
    Column("mention_query", Text),  # null: the name has no searchable words
    Column("max_pages", Integer),  # null for the counts strategy
    Column("n_citacoes", BigInteger),
    Column("mention_status", String(16), nullable=False),
    Column("mention_error", Text),
    Column("window_start", DateTime(timezone=True)),
    Column("window_end", DateTime(timezone=True)),
    Column("x_requests", Integer, nullable=False),
    Column("posts_consumed", BigInteger, nullable=False),
    Column("x_cost_usd", USD, nullable=False),
    Column("settled", Boolean, nullable=False),  # X's whole answer: reused, never asked again
    Column("run_id", String(36), nullable=False),  # the appbuzz run that counted it
    Column("counted_at", DateTime(timezone=True), nullable=False),
)

# Mentions per UTC day, from X's day buckets (counts/recent, counts/all) or a search's posts, per
# selection and app. A whole day observed again replaces the older observation (a past day's
# count can shrink as posts are deleted); a partial day never replaces a whole one.
app_mention_days = Table(
    "app_mention_days",
    metadata,
    Column("selection", Text, primary_key=True),
    Column("app_id", BigInteger, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("mentions", BigInteger, nullable=False),
    Column("whole", Boolean, nullable=False),
    Column("source", String(8), nullable=False),  # recent, all or search
    Column("mention_query", Text),
    Column("run_id", String(36), nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
)

# The validated catalogue, one row per app and catalogue version (the file's sha256), so mentions
# can be joined with the whole catalogue: app_mentions -> appbuzz_runs.source_sha256 + app_id.
# Columns are the schema's (transforms.schema.Catalogue); an unchanged file is loaded once.
app_catalogue = Table(
    "app_catalogue",
    metadata,
    Column("catalogue_sha256", String(64), primary_key=True),
    Column("id", BigInteger, primary_key=True),
    Column("track_name", Text, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("price", Double, nullable=False),
    Column("rating_count_tot", BigInteger, nullable=False),
    Column("user_rating", Double, nullable=False),
    Column("prime_genre", Text, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# One row per catalogue version loaded: claimed first in the load's transaction, so two runs on
# the same file never load it twice, and a reader can list what versions exist.
app_catalogue_versions = Table(
    "app_catalogue_versions",
    metadata,
    Column("catalogue_sha256", String(64), primary_key=True),
    Column("source_path", Text, nullable=False),
    Column("rows_loaded", BigInteger, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

_newest = (
    select(app_mentions.c.selection, func.max(app_mentions.c.snapshot_date).label("snapshot_date"))
    .group_by(app_mentions.c.selection)
    .subquery("newest")
)

app_mentions_latest = CreateView(
    select(
        app_mentions.c.app_id.label("id"),
        app_mentions.c.track_name,
        app_mentions.c.n_citacoes,
        app_mentions.c.size_bytes,
        app_mentions.c.price,
        app_mentions.c.prime_genre,
        app_mentions.c.rank,
        app_mentions.c.rating_count_tot,
        app_mentions.c.mention_status,
        app_mentions.c.snapshot_date,
        app_mentions.c.selection,
        app_mentions.c.mention_query,
        app_mentions.c.window_start,
        app_mentions.c.window_end,
        app_mentions.c.run_id,
        app_mentions.c.loaded_at,
    ).join_from(
        app_mentions,
        _newest,
        (app_mentions.c.selection == _newest.c.selection)
        & (app_mentions.c.snapshot_date == _newest.c.snapshot_date),
    ),
    "app_mentions_latest",
    metadata=metadata,
).table
