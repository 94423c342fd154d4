"""The embedded Kafka-protocol broker (Tansu) and topic administration."""

__all__: list[str] = []
