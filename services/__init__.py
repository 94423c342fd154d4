"""Tell Us Once: a change-of-circumstance event bus (import root)."""

__all__: list[str] = []
