"""Standard Webhooks signature checks for the sandbox, with every secret of a rotation."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

__all__ = ["SignatureChecker"]

_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureChecker:
    """Verifies ``webhook-signature`` over ``{webhook-id}.{webhook-timestamp}.{body}``.

    The HMAC is computed by the official ``standardwebhooks`` package; a request passes if
    any ``v1`` signature it carries matches any of the department's secrets (several are in
    force during a rotation) and its timestamp is within ``tolerance_s`` of now.
    """

    def __init__(self, secrets: Sequence[str], *, tolerance_s: float = 300) -> None:
        if not secrets:
            raise ValueError("a department needs at least one signing secret")
        self._webhooks = [Webhook(secret) for secret in secrets]
        self._tolerance_s = tolerance_s

    def problem(self, headers: Mapping[str, str], body: bytes) -> str | None:
        """Why the request fails verification (a message safe to show), or None if it passes."""
        msg_id = headers.get("webhook-id")
        stamp = headers.get("webhook-timestamp")
        signature = headers.get("webhook-signature")
        if not (msg_id and stamp and signature):
            return "webhook-id, webhook-timestamp and webhook-signature are all required"
        if not _TIMESTAMP.fullmatch(stamp):
            return "webhook-timestamp must be whole seconds since the epoch"
        sent = int(stamp)
        if abs(time.time() - sent) > self._tolerance_s:
            return f"webhook-timestamp is more than {self._tolerance_s:g} s away from now"
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return "the body is not UTF-8"
        offered = [
            decoded
            for version, _, value in (part.partition(",") for part in signature.split())
            if version == "v1" and (decoded := _b64(value)) is not None
        ]
        when = datetime.fromtimestamp(sent, UTC)
        for webhook in self._webhooks:
            expected = _b64(webhook.sign(msg_id, when, text).partition(",")[2])
            if expected is not None and any(hmac.compare_digest(expected, o) for o in offered):
                return None
        return "no v1 signature matches the department's signing secrets"


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
