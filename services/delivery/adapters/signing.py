"""Standard Webhooks signatures, with several secrets during a rotation."""

from __future__ import annotations

from datetime import datetime

from standardwebhooks.webhooks import Webhook

__all__ = ["WebhookSigner"]


class WebhookSigner:
    """Signs ``{webhook-id}.{timestamp}.{body}`` with every secret in force.

    During a rotation the registry lists the new and the old secret; the header then
    carries one ``v1,…`` signature per secret and a receiver holding either accepts it.
    """

    def __init__(self, secrets: list[str]) -> None:
        if not secrets:
            raise ValueError("at least one signing secret is needed")
        self._webhooks = [Webhook(secret) for secret in secrets]

    def sign(self, webhook_id: str, timestamp: datetime, body: bytes) -> str:
        """The ``webhook-signature`` header value."""
        text = body.decode()
        return " ".join(w.sign(webhook_id, timestamp, text) for w in self._webhooks)
