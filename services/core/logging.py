"""JSON logs through structlog, with personal data redacted before anything is written.

Three defences, in order: values under personal keys are replaced wholesale; every string
is scrubbed of things that look like a NINO, an email, a UK postcode, a phone number, a
driving licence or passport number; and exceptions that are not our own are logged by
type and frames only, because a foreign exception's message may quote user input
(``KeyError('Jane Smith')``). Frame locals are never rendered.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from structlog.tracebacks import ExceptionDictTransformer

from services.core.errors import TellUsOnceError

__all__ = ["PERSONAL_KEYS", "configure_logging", "get_logger", "redact", "scrub_text"]

REDACTED = "[redacted]"

#: Keys whose values are personal data wherever they appear in a log event.
PERSONAL_KEYS = frozenset(
    {
        "nino",
        "name",
        "names",
        "given_names",
        "family_name",
        "full_name",
        "previous_family_name",
        "new_given_names",
        "new_family_name",
        "date_of_birth",
        "date_of_death",
        "address",
        "old_address",
        "new_address",
        "lines",
        "line1",
        "line2",
        "postcode",
        "email",
        "phone",
        "telephone",
        "driving_licence_number",
        "passport_number",
        "subject",
        "data",
        "body",
        "payload",
        "partner",
        "parents",
        "informant",
        "authorization",
        "token",
        "secret",
        "signing_secret",
        "password",
    }
)

_I = re.IGNORECASE
_PATTERNS = [
    re.compile(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", _I),
    re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b", _I),
    re.compile(r"\b[A-Z9]{5}\d{6}[A-Z9]{2}\d[A-Z]{2}\b", _I),
    re.compile(r"(?<![\w-])\+?\d[\d ]{8,14}\d\b"),
    re.compile(r"whsec_[A-Za-z0-9+/=]+"),
    re.compile(r"(?i)bearer\s+\S+"),
]


def scrub_text(text: str) -> str:
    """Replace anything in ``text`` that looks like an identifier, contact or secret."""
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:  # noqa: ANN401 - log values are any JSON
    """Return ``value`` with personal data removed (recursively)."""
    if key is not None and key.lower() in PERSONAL_KEYS and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(v) for v in value]
    return value


def _safe_exceptions(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:  # noqa: ANN401
    """Drop the message of foreign exceptions before they are rendered."""
    exc_info = event_dict.get("exc_info")
    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[1] is not None:
        exc = exc_info[1]
        if not isinstance(exc, TellUsOnceError):
            # A fresh exception of the same type keeps the traceback but not the message.
            safe = _message_free_copy(exc)
            event_dict["exc_info"] = (type(safe), safe, exc_info[2])
        else:
            event_dict["exc_info"] = exc_info
    return event_dict


def _message_free_copy(exc: BaseException) -> BaseException:
    try:
        safe = type(exc)()
    except Exception:  # noqa: BLE001 - some exception types need arguments
        safe = RuntimeError(f"{type(exc).__qualname__} (message withheld)")
    safe.__traceback__ = exc.__traceback__
    return safe


def _redact_processor(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> Any:  # noqa: ANN401
    """Last processor: nothing personal leaves, whatever was bound upstream."""
    return {k: redact(v, k) for k, v in event_dict.items()}


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (it may be swapped after configuration)."""

    @property
    def stream(self) -> Any:  # noqa: ANN401 - a text stream
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:  # noqa: ANN401
        pass


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Route structlog and stdlib logging through one JSON renderer with redaction.

    Safe to call more than once (the last call wins).
    """
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _safe_exceptions,
    ]
    native: list[Any] = [
        structlog.stdlib.filter_by_level,  # drop below-level events before any work
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _safe_exceptions,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.ExceptionRenderer(ExceptionDictTransformer(show_locals=False)),
            _redact_processor,
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Access logs would carry query strings; our own middleware logs requests instead.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("aiokafka", "aiokafka.conn", "aiokafka.cluster"):
        logging.getLogger(noisy).setLevel(max(logging.getLevelName(level), logging.WARNING))
    structlog.configure(
        processors=[*native, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger for ``name`` (configure_logging decides where it goes)."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
