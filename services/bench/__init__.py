"""Benchmarks: the intake against a bare FastAPI endpoint and a naive intake, one at a time."""

from __future__ import annotations

__all__: list[str] = []
