"""appbuzz's configuration: one class, read once from the environment (and `.env`); the CLI's
flags and the flow's parameters override its fields in one place (`Settings.overridden`).

The spike rule's thresholds are declared by `transforms.day_spikes.SpikeRule` (the settings are a
rule too, and hand the API a plain copy); what `appbuzz setup` keeps on a Prefect server (the
pool, the X API limit, the alerts, the self-healing automations) is part of the same class.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from transforms.cost import Prices
from transforms.day_spikes import SpikeRule
from transforms.errors import SettingInvalid
from transforms.queries import DEFAULT_TEMPLATE, check_template

_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
# what only `appbuzz setup` reads (a worker's runs never do)
SETUP_FIELDS = (
    "x_api_limit", "crash_after_seconds", "stall_after_seconds", "max_restarts",
    "night_deadline_seconds",
    "alert_webhook_url", "alert_block", "work_pool",
)  # fmt: skip


class Settings(SpikeRule, BaseSettings):
    """Everything appbuzz reads from the environment; secrets stay `SecretStr`."""

    # empty means unset: compose passes `X_BEARER_TOKEN=` on as "" when .env leaves it empty
    model_config = SettingsConfigDict(
        env_prefix="APPBUZZ_",
        extra="ignore",
        env_ignore_empty=True,
        frozen=True,
        validate_by_name=True,
    )

    database_url: SecretStr = SecretStr("sqlite:///data/appbuzz.db")
    out_dir: Path = Path("out")
    max_reject_share: float = Field(default=0.01, ge=0.0, le=1.0)
    # where task results persist (Prefect's result cache of the counts: an accelerator, the
    # ledger in the database is what a rerun trusts). Unset: Prefect's own local storage path.
    results_dir: Path | None = None
    # s3://bucket[/prefix]: task results and cache records on S3-compatible object storage, in
    # the Prefect block `appbuzz setup` saves (flows/results.py); wins over results_dir
    results_url: str | None = None

    x_bearer_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("X_BEARER_TOKEN", "TWITTER_BEARER_TOKEN"),
    )
    # a Prefect Secret block holding the token, used when X_BEARER_TOKEN is not set
    x_token_block: str | None = None
    x_api_base_url: str = Field(
        default="https://api.x.com", validation_alias=AliasChoices("X_API_BASE_URL")
    )
    x_max_concurrency: int = Field(default=5, ge=1, le=100)
    # a Prefect global concurrency limit of this name, when the server has one, also applies;
    # `appbuzz setup` creates it with `x_api_limit` slots
    x_concurrency_limit: str = "x-api"
    x_api_limit: int = Field(default=5, ge=1, le=1000)
    x_query_template: str = DEFAULT_TEMPLATE
    x_timeout_seconds: float = Field(default=30.0, gt=0)
    # 5xx, timeouts, dropped connections and malformed replies: retried here, not by Prefect
    x_max_retries: int = Field(default=4, ge=0, le=20)
    x_retry_base_seconds: float = Field(default=1.0, ge=0)
    # the longest wait for a rate-limit window to reset before the app is marked failed
    x_max_rate_wait_seconds: float = Field(default=960.0, ge=0)
    # sent this long after the reset second has passed, for clock skew between us and X
    x_rate_limit_margin_seconds: float = Field(default=0.25, ge=0, le=60)
    # pay-per-use prices (USD): per counts/recent request answered, per post search returns
    x_price_per_request_usd: Decimal = Field(default=Decimal("0.005"), ge=0)
    x_price_per_post_usd: Decimal = Field(default=Decimal("0.005"), ge=0)
    # no request is sent whose worst case would take the run's spend past this (USD)
    x_max_spend_usd: Decimal = Field(default=Decimal("1"), ge=0)
    # what X bills per counts/all request (a backfill's): pay-per-use, USD
    x_price_per_archive_request_usd: Decimal = Field(default=Decimal("0.010"), ge=0)
    # where people read the dashboard (`appbuzz serve`), for the links in spike alerts
    dashboard_url: str | None = None

    # `appbuzz setup`: a run silent this long is `Crashed`. Keep it about 3x the heartbeat
    # frequency set for the deployment's runs in prefect.yaml (PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    # 30 s: Prefect's minimum), so two late heartbeats on a busy machine are not a crash.
    crash_after_seconds: int = Field(default=90, ge=31)
    # `appbuzz setup`: a running night that reports no progress (an app counted, a rate-limit
    # wait announced) this long is `Crashed`, even while its process still sends heartbeats
    # (then restarted, and alerted, as a crash is). Longer than any single wait the run allows
    # itself unannounced (a request's timeout and retries, a slot of the X API limit: 300 s).
    stall_after_seconds: int = Field(default=600, ge=60)
    # how many times one night's crashed run is started again
    max_restarts: int = Field(default=2, ge=0, le=10)
    # a nightly run that has not `Completed` this long after it started (or went late) is alerted
    night_deadline_seconds: int = Field(default=4 * 3600, ge=10)
    # a webhook that gets the alerts as JSON {"subject": ..., "body": ...}; a secret (it may
    # carry a token), stored in the Prefect block, never printed
    alert_webhook_url: SecretStr | None = None
    # the notification block the alerts go to: any Prefect notification block of this name
    alert_block: str = "appbuzz-alerts"
    work_pool: str = "appbuzz-process"

    @field_validator("x_bearer_token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        """An empty token is no token: the run skips enrichment instead of sending `Bearer `."""
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("x_query_template")
    @classmethod
    def _template(cls, value: str) -> str:
        return check_template(value)

    @field_validator("x_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        """https, or plain http to this machine only: the bearer token travels with each request."""
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value.rstrip("/")
        if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
            return value.rstrip("/")
        raise ValueError(
            "expected an https:// URL (or http:// to 127.0.0.1/localhost), "
            f"got {parts.scheme or 'no scheme'}://{parts.hostname or ''}"
        )

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http(s):// URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("results_url")
    @classmethod
    def _results_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return check_results_url(value)

    @property
    def prices(self) -> Prices:
        """What X bills, as the settings say."""
        return Prices(
            self.x_price_per_request_usd,
            self.x_price_per_post_usd,
            self.x_price_per_archive_request_usd,
        )

    @property
    def spike_rule(self) -> SpikeRule:
        """The spike thresholds alone (what the API needs of the settings)."""
        return SpikeRule.model_validate(self.model_dump(include=set(SpikeRule.model_fields)))

    def overridden(self, **fields: Any) -> Settings:
        """These settings with the fields a flag or a flow parameter gives (None: not given),
        validated as the environment would be; `SettingInvalid` names the first that fails."""
        given = {name: value for name, value in fields.items() if value is not None}
        if not given:
            return self
        return _validated(lambda: self.model_validate({**dict(self), **given}))


_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[A-Za-z0-9!_.*'()/-]*")


def check_results_url(value: str) -> str:
    """`s3://bucket[/prefix]`, normalised (no trailing slash); anything else is one line."""
    expected = "expected s3://bucket[/prefix]"
    parts = urlsplit(value.strip())
    bucket, prefix = parts.netloc, parts.path.strip("/")
    if parts.scheme != "s3" or not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValueError(f"{expected} (a bucket name of 3-63 lowercase letters, digits, dots, "
                         f"hyphens), got {parts.scheme or 'no scheme'}://{bucket}")  # fmt: skip
    if parts.query or parts.fragment or not _PREFIX.fullmatch(prefix) or "//" in prefix:
        raise ValueError(f"{expected}, got a prefix or query S3 keys cannot hold")
    return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"


def _validated(build: Any) -> Settings:
    try:
        settings = build()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"])) or "settings"
        raise SettingInvalid(f"setting {where}: {first['msg']}") from None
    assert isinstance(settings, Settings)
    return settings


def read_settings() -> Settings:
    """The settings, or `SettingInvalid` naming the first one that does not validate."""
    return _validated(Settings)
