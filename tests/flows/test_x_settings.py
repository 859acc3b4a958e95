"""The X API settings: what a user can get wrong is refused before a run starts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from pydantic import ValidationError

from flows.count_tasks import count_cache_key
from flows.settings import Settings
from transforms.enrichment import NightCounts
from transforms.queries import DEFAULT_TEMPLATE
from transforms.redaction import safe_url as shown_url

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_defaults_and_the_twitter_alias(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.x_bearer_token is None and settings.x_api_base_url == "https://api.x.com"
    assert settings.x_query_template == DEFAULT_TEMPLATE and settings.x_max_concurrency == 5
    monkeypatch.setenv("TWITTER_BEARER_TOKEN", " canary-alias ")
    token = Settings().x_bearer_token
    assert token is not None and token.get_secret_value() == "canary-alias"
    assert "canary" not in repr(Settings()) and "canary" not in str(Settings().model_dump())


def test_an_empty_token_is_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "  ")
    assert Settings().x_bearer_token is None


@pytest.mark.parametrize(
    "url", ["http://gateway.example.com", "ftp://127.0.0.1", "api.twitter.com", "https://"]
)
def test_the_token_only_travels_over_https_or_to_this_machine(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("X_API_BASE_URL", url)
    with pytest.raises(ValidationError, match="expected an https:// URL"):
        Settings()


def test_loopback_http_and_gateways_with_a_path_are_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_API_BASE_URL", "http://127.0.0.1:8099/")
    assert Settings().x_api_base_url == "http://127.0.0.1:8099"
    monkeypatch.setenv("X_API_BASE_URL", "https://gw.example.com/x/")
    assert Settings().x_api_base_url == "https://gw.example.com/x"


def test_a_template_without_a_quoted_placeholder_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("APPBUZZ_X_QUERY_TEMPLATE", "{phrase} lang:en")
    with pytest.raises(ValidationError, match="in double quotes"):
        Settings()


def test_logged_urls_lose_their_credentials() -> None:
    assert shown_url("https://user:secret@gw.example.com:8443/x") == "https://gw.example.com:8443/x"
    assert shown_url("http://[::1]:8080") == "http://[::1]:8080"


def test_the_cache_key_is_what_determines_a_count_and_never_the_token_nor_the_address() -> None:
    night = NightCounts(date(2026, 1, 15), "Book+Music/top10", "counts", 10, run_id="r1")
    params = {"app_id": 1, "query": '"A" -is:retweet', "night": night, "x": object()}
    key = count_cache_key(None, params)
    # the run, the client and the address it reached X at are not part of it
    assert key == count_cache_key(None, {**params, "night": replace(night, run_id="r2")})
    assert key == count_cache_key(None, {**params, "x": object(), "held": None})
    assert key == count_cache_key(None, {**params, "night": replace(night, max_pages=3)})
    assert key != count_cache_key(None, {**params, "app_id": 2})
    assert key != count_cache_key(None, {**params, "night": replace(night, selection="Book/top3")})
    later = replace(night, snapshot_date=date(2026, 1, 16))
    assert key != count_cache_key(None, {**params, "night": later})
    assert key != count_cache_key(None, {**params, "query": '"B" -is:retweet'})
    search = {**params, "night": replace(night, strategy="search")}
    assert key != count_cache_key(None, search)
    fewer = {**search, "night": replace(night, strategy="search", max_pages=2)}
    assert count_cache_key(None, search) != count_cache_key(None, fewer)
    assert count_cache_key(None, {**params, "query": None}) is None
