"""Delivery port implementations, one technology each."""

__all__: list[str] = []
