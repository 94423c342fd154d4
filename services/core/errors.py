"""Error roots shared by every service.

Messages of these errors are written by us and never carry personal data, so they may be
logged and returned to callers as they are. Foreign exceptions are logged by type only
(see ``services.core.logging``).
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "PermanentError",
    "RetryableError",
    "TellUsOnceError",
]


class TellUsOnceError(Exception):
    """Root of our own errors; the message is safe to log (no personal data)."""


class RetryableError(TellUsOnceError):
    """A failure that may succeed if the same operation is tried again later."""


class PermanentError(TellUsOnceError):
    """A failure that will not succeed on retry; it needs a human or a different input."""


class ConfigurationError(PermanentError):
    """Settings or a registry file are invalid; raised at start-up, never mid-request."""
