"""Delivery: one subscriber adapter per department pushes each change, minimised and signed."""

__all__: list[str] = []
