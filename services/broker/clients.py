"""Connection and security options shared by every Kafka client we build."""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from services.core.config import KafkaSettings

__all__ = ["client_options"]


def client_options(settings: KafkaSettings) -> dict[str, Any]:
    """Bootstrap servers plus TLS/SASL as configured (Apache Kafka in production)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        if settings.kafka_sasl_password:
            options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_security_protocol in {"SSL", "SASL_SSL"}:
        cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        options["ssl_context"] = create_ssl_context(cafile=cafile)
    return options
