"""What of a URL, a header or a message may be shown: the one redaction every log path uses.

Secrets reach text in three ways: a password in a URL (`user:pw@host`, or libpq's
`?password=...`), a bearer token in a logged header, and both inside a driver's error message.
`safe_url` shows a URL with its secrets replaced; `redact` cleans free text; `RedactingFilter`
applies `redact` to a logger's records (tweepy logs request headers at DEBUG).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from sqlalchemy import URL, make_url

HIDDEN = "***"
# libpq also takes secrets as URL query parameters (`?password=...`): hide those too
SECRET_QUERY_KEYS = frozenset({"password", "sslpassword", "passfile", "sslkey"})
_BEARER = re.compile(r"(Bearer\s+)[^\s'\",}]+", re.IGNORECASE)
_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)([^/@\s:]*):[^/@\s]*@", re.IGNORECASE)
_QUERY_SECRET = re.compile(
    r"([?&](?:" + "|".join(sorted(SECRET_QUERY_KEYS)) + r")=)[^&\s]*", re.IGNORECASE
)


def shown_database_url(url: URL) -> str:
    """A parsed SQLAlchemy URL with its password and secret query values replaced."""
    hidden = {k: HIDDEN for k in url.query if k.lower() in SECRET_QUERY_KEYS}
    shown = url.update_query_dict(hidden).render_as_string(hide_password=True)
    return shown.replace("=%2A%2A%2A", f"={HIDDEN}")


def safe_url(url: str) -> str:
    """Any URL as it may be shown to a person.

    An http(s) URL (an API base) loses its whole `user:password@` part; a database URL keeps
    the user and shows `***` for the password and secret query values.
    """
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        try:
            port = parts.port
        except ValueError:
            return "<unparsable URL>"
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        shown = parts._replace(netloc=host + (f":{port}" if port else "")).geturl()
        return _QUERY_SECRET.sub(rf"\1{HIDDEN}", shown)
    try:
        return shown_database_url(make_url(url))
    except Exception:  # an unparsable URL may hold a secret anywhere in it
        return "<unparsable database URL>"


def redact(text: str) -> str:
    """Free text with bearer tokens, URL passwords and secret query values replaced."""
    text = _BEARER.sub(rf"\1{HIDDEN}", text)
    text = _USERINFO.sub(rf"\1\2:{HIDDEN}@", text)
    return _QUERY_SECRET.sub(rf"\1{HIDDEN}", text)


class RedactingFilter(logging.Filter):
    """Applies `redact` to every record of the logger it is added to."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
