"""A small async client for the sandbox's control API, for tests and the command line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import httpx

from services.sandbox.recorder import Received

__all__ = ["SandboxClient", "SandboxError"]


class SandboxError(Exception):
    """The sandbox answered an error; ``detail`` is its problem+json detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"sandbox answered {status}: {detail}")
        self.status = status
        self.detail = detail


class SandboxClient:
    """Reads what sandbox departments received and tells them how to fail.

    Every call is a single HTTP request and none is retried: control calls are cheap to
    repeat by hand, and ``add_fault`` is not idempotent (each call adds a rule).
    Use as ``async with SandboxClient(url) as sandbox: ...`` or call ``aclose``.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying connections."""
        await self._http.aclose()

    async def health(self) -> dict[str, Any]:
        """``GET /healthz``: the status and the department ids served."""
        return await self._call("GET", "/healthz")

    async def received(self, department: str, *, unique: bool = False) -> list[Received]:
        """Every request ``department`` got, in order; ``unique``: first acceptances only."""
        params = {"unique": "true"} if unique else {}
        data = await self._call("GET", f"/sandbox/departments/{department}/received", params)
        return [Received.from_json(item) for item in data["received"]]

    async def received_anywhere(
        self, *, reference: str | None = None, event_id: str | None = None
    ) -> list[Received]:
        """Requests to any department whose body carries this reference and/or event id."""
        params = {k: v for k, v in (("reference", reference), ("event_id", event_id)) if v}
        data = await self._call("GET", "/sandbox/received", params)
        return [Received.from_json(item) for item in data["received"]]

    async def add_fault(self, department: str, **rule: object) -> str:
        """Add a fault rule (fields as in ``FaultRule``, e.g. ``kind="status", status=503``).

        Returns the rule id. Raises ``SandboxError`` (422) if the rule is not valid.
        """
        data = await self._call("POST", f"/sandbox/departments/{department}/faults", json=rule)
        return str(data["id"])

    async def faults(self, department: str) -> list[dict[str, Any]]:
        """The rules in force for ``department`` (``times`` is what is left)."""
        data = await self._call("GET", f"/sandbox/departments/{department}/faults")
        return list(data["faults"])

    async def clear_faults(self, department: str) -> int:
        """Remove every fault rule of ``department``; returns how many there were."""
        data = await self._call("DELETE", f"/sandbox/departments/{department}/faults")
        return int(data["cleared"])

    async def reset(self) -> None:
        """Forget every record and fault rule in every department."""
        await self._call("POST", "/sandbox/reset")

    async def wait_for(
        self,
        department: str,
        predicate: Callable[[list[Received]], bool],
        *,
        timeout: float,  # noqa: ASYNC109 - a polling deadline, not a cancellation
        unique: bool = False,
        interval: float = 0.05,
    ) -> list[Received]:
        """Poll ``received`` until ``predicate`` holds for it; returns those records.

        Raises ``TimeoutError`` (with how many records were seen) after ``timeout`` s.
        """
        deadline = time.monotonic() + timeout
        while True:
            records = await self.received(department, unique=unique)
            if predicate(records):
                return records
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{department}: condition not met within {timeout:g} s "
                    f"({len(records)} records seen)"
                )
            await asyncio.sleep(interval)

    async def _call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        *,
        json: dict[str, object] | None = None,
    ) -> dict[str, Any]:
        response = await self._http.request(method, path, params=params, json=json)
        if response.is_error:
            raise SandboxError(response.status_code, _detail(response))
        data: dict[str, Any] = response.json()
        return data


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or response.reason_phrase)
    return response.reason_phrase
