"""Bearer tokens: channel tokens for ``/v1``, scoped operator tokens for ``/ops``."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from services.core.errors import ConfigurationError

__all__ = ["Principal", "TokenTable", "parse_channel_tokens", "parse_operator_tokens"]


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who called: a channel (``scope`` None) or an operator with a scope (``*`` or a dept)."""

    name: str
    scope: str | None = None


class TokenTable:
    """Looks tokens up in constant time per entry, so timing reveals nothing."""

    def __init__(self, entries: list[tuple[str, Principal]]) -> None:
        self._entries = [(token.encode(), principal) for token, principal in entries]

    def __bool__(self) -> bool:
        return bool(self._entries)

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The principal for an ``Authorization: Bearer …`` header, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        presented = token.strip().encode()
        found: Principal | None = None
        for known, principal in self._entries:
            if hmac.compare_digest(known, presented):
                found = principal
        return found


def parse_channel_tokens(text: str) -> TokenTable:
    """Parse ``name:token,name2:token2`` (the ``TUO_CHANNEL_TOKENS`` format)."""
    entries = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, token = item.partition(":")
        if not sep or not name or len(token) < 8:
            raise ConfigurationError(
                "TUO_CHANNEL_TOKENS must be name:token pairs with tokens of 8+ characters"
            )
        entries.append((token, Principal(name=name)))
    return TokenTable(entries)


def parse_operator_tokens(text: str) -> TokenTable:
    """Parse ``name:token:scope,…`` (``TUO_OPERATOR_TOKENS``); scope ``*`` sees everything."""
    entries = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        parts = item.split(":")
        if len(parts) != 3 or not parts[0] or len(parts[1]) < 8 or not parts[2]:
            raise ConfigurationError(
                "TUO_OPERATOR_TOKENS must be name:token:scope triples with tokens of 8+ chars"
            )
        entries.append((parts[1], Principal(name=parts[0], scope=parts[2])))
    return TokenTable(entries)
