"""Every failure a person can act on, in one place; each message is one line, shown as is.

Code that meets one raises it; one boundary (`flows.app_mentions.app_mentions`) turns it into
the flow run's `Failed` state, named `state_name`, with the message. `Rejected` means the user's
input or settings must change (the CLI exits 2, before anything is written); any other name is
a failure of something the run depends on (the CLI exits 1). Anything else raised is a bug and
keeps its traceback.
"""

from __future__ import annotations

from typing import ClassVar

REJECTED = "Rejected"


class AppbuzzError(Exception):
    """A failure with a one-line message meant for a person, not a traceback."""

    state_name: ClassVar[str] = "Failed"


class UserError(AppbuzzError, ValueError):
    """The input or a setting must change; nothing was written."""

    state_name: ClassVar[str] = REJECTED


class InputRejected(UserError):
    """The input cannot be a catalogue (or too much of it is broken): nothing gets written."""


class ParametersRejected(UserError):
    """A flow parameter outside what the flow accepts (a deployment run is not checked by the
    CLI's argument parser)."""


class SettingInvalid(UserError):
    """A setting (environment variable or `.env`) that does not validate."""


class OutputUnavailable(UserError):
    """The output folder cannot be written: said before the run, not after the load."""


class DatabaseUrlInvalid(UserError):
    """The database URL cannot be used as written: not a URL, or a driver that is not installed."""


class DatabaseUnavailable(AppbuzzError, RuntimeError):
    """The database cannot be reached or used; the message is one line and hides the password."""


class XApiError(AppbuzzError, RuntimeError):
    """The X API stopped the run's mention counts as a whole (one app's failure is not this).

    `keeps_counts`: whether what was counted before the stop is loaded (a spent account), or
    the run loads nothing and leaves what is stored as it was (a refused token)."""

    keeps_counts: ClassVar[bool] = False


class XTokenRefused(XApiError):
    """The X API refused the bearer token (401/403): no further request is worth sending."""


class XUsageCapped(XApiError):
    """The X account is spent (a usage-capped 429, or 402: no credits): no request can succeed
    until the cap resets or credits are bought, so none is sent; what was counted is kept."""

    keeps_counts: ClassVar[bool] = True


class XArchiveForbidden(XApiError):
    """The account has no access to the full-archive counts (403 on counts/all: the plan does
    not include it): a backfill cannot run, and stores nothing."""


class XEnrichmentStopped(XApiError):
    """Counting stopped for the whole run (another app's request found the token refused)."""


class XSlotUnavailable(XApiError):
    """No slot of the shared X API concurrency limit came within the bounded wait (the limit
    full, or the Prefect server away, for minutes): the run stops asking, keeps what it counted
    and fails with this one line, so no night waits without end."""

    keeps_counts: ClassVar[bool] = True


class XSpendCapReached(XApiError):
    """The next X request could take the run's spend past its cap: it was not sent."""


class RateLimitWaitTooLong(RuntimeError):
    """A rate-limit window resets later than the caller is willing to wait: that app fails."""


class GateClosed(RuntimeError):
    """The rate gate was closed (enrichment stopped) while a request waited for its turn."""
