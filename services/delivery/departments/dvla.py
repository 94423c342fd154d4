"""DVLA's own format: driver number at the top, addresses as flat lines."""

from __future__ import annotations

from typing import Any

__all__ = ["transform"]


def _flat(address: dict[str, Any]) -> dict[str, Any]:
    lines = [*address.get("lines", []), address.get("town")]
    return {"address_lines": [line for line in lines if line], "postcode": address.get("postcode")}


def transform(body: dict[str, Any]) -> dict[str, Any]:
    """Reshape a minimised body into DVLA's format (no field is added)."""
    data = dict(body.get("data", {}))
    out: dict[str, Any] = {k: v for k, v in body.items() if k not in {"data", "subject"}}
    driver_number = data.pop("driving_licence_number", None)
    if driver_number:
        out["driver_number"] = driver_number
    if "new_address" in data:
        data["new_address"] = _flat(data["new_address"])
    out["driver"] = body.get("subject", {})
    out["change"] = data
    return out
