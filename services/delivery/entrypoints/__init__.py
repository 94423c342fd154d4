"""Adapter entrypoints: Kafka records in, deliveries queued; operator commands in."""

__all__: list[str] = []
