"""Response models of the intake API (they document the OpenAPI description)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from services.web.openapi import ProblemDetail

__all__ = [
    "AcceptedResponse",
    "ChangeRequest",
    "Consent",
    "Organisation",
    "OrganisationPreviewOut",
    "PreviewResponse",
    "ProblemDetail",
    "SchemaSummary",
]


class Consent(BaseModel):
    """The organisations the citizen asked us to tell."""

    notify: list[str] = Field(min_length=1)


class ChangeRequest(BaseModel):
    """A change of circumstance; the full rules are the JSON Schema of its type/version."""

    type: str = Field(examples=["address_changed"])
    schema_version: int = Field(examples=[1])
    subject: dict[str, Any]
    data: dict[str, Any]
    consent: Consent


class AcceptedResponse(BaseModel):
    """The change is durably on Kafka."""

    reference: str = Field(examples=["C6F5-EB23-25D4"])
    event_id: str
    notified: list[str]
    status_url: str


class OrganisationPreviewOut(BaseModel):
    """Exactly which facts one organisation would receive."""

    id: str
    name: str
    fields: list[str]
    receives: dict[str, Any]


class PreviewResponse(BaseModel):
    """What each consented organisation would receive."""

    type: str
    schema_version: int
    organisations: list[OrganisationPreviewOut]


class Organisation(BaseModel):
    """One organisation a citizen can ask us to tell."""

    id: str
    name: str
    event_types: list[str]
    local_authority: str | None = None


class SchemaSummary(BaseModel):
    """One event type and its versions."""

    type: str
    versions: list[int]
    latest: int
    url: str
