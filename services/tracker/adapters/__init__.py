"""Tracking store implementations, one technology each."""

__all__: list[str] = []
