"""Intake entrypoints: HTTP requests in, handler calls, HTTP responses out."""

__all__: list[str] = []
