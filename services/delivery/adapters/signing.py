"""Standard Webhooks signatures, with several secrets during a rotation."""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime
from math import floor

from standardwebhooks.webhooks import Webhook

__all__ = ["WebhookSigner"]

_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def _key(secret: str) -> bytes:
    Webhook(secret)  # refuses what the official library refuses (an empty secret)
    # As the library decodes it: the base64 after the prefix, padding added if it lacks it.
    return base64.b64decode(secret.removeprefix(_SECRET_PREFIX) + "==")


class WebhookSigner:
    """Signs ``{webhook-id}.{timestamp}.{body}`` with every secret in force.

    During a rotation the registry lists the new and the old secret; the header then
    carries one ``v1,…`` signature per secret and a receiver holding either accepts it.
    The signature is the ``standardwebhooks`` package's, byte for byte (the tests check
    it), computed on the body's bytes from an HMAC keyed once per secret: the package's
    ``sign`` takes text and keys a new HMAC on every push (~2x the CPU).
    """

    def __init__(self, secrets: list[str]) -> None:
        if not secrets:
            raise ValueError("at least one signing secret is needed")
        # HMAC-SHA256 keyed once per secret; each signature continues a copy of it.
        self._keyed = [hmac.new(_key(secret), digestmod="sha256") for secret in secrets]

    def sign(self, webhook_id: str, timestamp: datetime, body: bytes) -> str:
        """The ``webhook-signature`` header value."""
        seconds = floor(timestamp.replace(tzinfo=UTC).timestamp())  # as the package does
        message = b"%s.%d.%s" % (webhook_id.encode(), seconds, body)
        if len(self._keyed) == 1:  # outside a rotation
            return _signature(self._keyed[0], message)
        return " ".join(_signature(keyed, message) for keyed in self._keyed)


def _signature(keyed: hmac.HMAC, message: bytes) -> str:
    mac = keyed.copy()
    mac.update(message)
    return "v1," + binascii.b2a_base64(mac.digest(), newline=False).decode()
