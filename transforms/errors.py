"""The one exception a user's input can cause; its message is shown as is, on one line."""


class InputRejected(ValueError):
    """The input cannot be a catalogue (or too much of it is broken): nothing gets written."""


class TokenRefused(RuntimeError):
    """The X API refused the bearer token (401) or its plan (403): nothing can be counted."""


class UsageCapped(RuntimeError):
    """The X account is spent (a usage-capped 429, or 402: no credits): no request can succeed
    until the cap resets or credits are bought, so none is sent."""


class SpendCapReached(RuntimeError):
    """The next X request could take the run's spend past its cap: it was not sent."""
