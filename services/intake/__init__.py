"""Intake: validates a change once, records consent, and puts it durably on Kafka."""

__all__: list[str] = []
