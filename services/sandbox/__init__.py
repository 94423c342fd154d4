"""Sandbox departments: a real HTTP server that stands in for every department."""

__all__: list[str] = []
