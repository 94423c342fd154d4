"""Tracker entrypoints: change and delivery-status records in, tracking rows out."""

__all__: list[str] = []
