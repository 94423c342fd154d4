"""Shared kernel: settings, envelope, topics, schemas, departments; no framework imports."""

__all__: list[str] = []
