"""The one redaction every log path uses: URLs, bearer tokens and passwords."""

from __future__ import annotations

import logging

import pytest

from transforms.redaction import RedactingFilter, redact, safe_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://app:s3cret@db:5432/x", "postgresql+psycopg://app:***@db:5432/x"),
        ("postgresql+psycopg://app@db/x?password=s3cret&sslmode=require",
         "postgresql+psycopg://app@db/x?password=***&sslmode=require"),
        ("https://user:s3cret@gw.example.com:8443/x", "https://gw.example.com:8443/x"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("sqlite:///data/appbuzz.db", "sqlite:///data/appbuzz.db"),
        ("not a url at all s3cret", "<unparsable database URL>"),
    ],
)  # fmt: skip
def test_safe_url_shows_no_secret(url: str, shown: str) -> None:
    assert safe_url(url) == shown
    assert "s3cret" not in safe_url(url)


def test_redact_cleans_tokens_and_passwords_inside_free_text() -> None:
    text = (
        "headers {'Authorization': 'Bearer AAAAs3cret'} from "
        "postgresql://app:s3cret@db/x?sslpassword=s3cret"
    )
    cleaned = redact(text)
    assert "s3cret" not in cleaned
    assert "Bearer ***" in cleaned and "app:***@db" in cleaned and "sslpassword=***" in cleaned


def test_the_filter_redacts_a_logged_record(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("appbuzz.test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.DEBUG, logger=logger.name):
        logger.debug("sending %s", {"Authorization": "Bearer tok3n"})
    assert "tok3n" not in caplog.text and "Bearer ***" in caplog.text
