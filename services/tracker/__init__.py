"""Tracker: where each change stands, for citizens and operators, from the bus's topics."""

__all__: list[str] = []
