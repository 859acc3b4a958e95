"""Runtime configuration, read once from the environment (CLI flags win over it)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything appbuzz reads from the environment; secrets stay `SecretStr`."""

    # empty means unset: compose passes `X_BEARER_TOKEN=` on as "" when .env leaves it empty
    model_config = SettingsConfigDict(env_prefix="APPBUZZ_", extra="ignore", env_ignore_empty=True)

    database_url: SecretStr = SecretStr("sqlite:///data/appbuzz.db")
    out_dir: Path = Path("out")
    max_reject_share: float = Field(default=0.01, ge=0.0, le=1.0)

    x_bearer_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("X_BEARER_TOKEN", "TWITTER_BEARER_TOKEN"),
    )
    x_api_base_url: str = Field(
        default="https://api.twitter.com", validation_alias=AliasChoices("X_API_BASE_URL")
    )
    x_max_concurrency: int = Field(default=5, ge=1, le=100)


def get_settings() -> Settings:
    return Settings()
