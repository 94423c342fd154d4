"""Creating the bus's topics, on the embedded broker or on Apache Kafka alike."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from services.core.config import KafkaSettings
from services.core.topics import CHANGES, DELIVERY_CONTROL, DELIVERY_STATUS, topics_for

__all__ = ["ensure_topics"]


async def ensure_topics(
    settings: KafkaSettings, department_ids: list[str], *, wait_s: float = 20.0
) -> list[str]:
    """Create every topic the bus needs that does not exist yet; return the names created.

    The changes and status topics get ``settings.changes_partitions`` partitions (scaling
    out = more partitions); the control topic one (commands stay in order); dead-letter
    topics 4. Retries wait in the adapters' delivery store, not on a topic: a citizen's
    later changes must wait behind a retry that may take hours, which a topic offset
    cannot do without blocking every other citizen's commits.
    """
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000
        )
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [name for name in topics_for(department_ids) if name not in existing]
            created = []
            for name in wanted:
                partitions = {
                    CHANGES: settings.changes_partitions,
                    DELIVERY_STATUS: settings.changes_partitions,
                    DELIVERY_CONTROL: 1,
                }.get(name, 4)
                try:
                    await admin.create_topics(
                        [
                            NewTopic(
                                name=name,
                                num_partitions=partitions,
                                replication_factor=settings.kafka_replication_factor,
                            )
                        ]
                    )
                    created.append(name)
                except TopicAlreadyExistsError:
                    pass
        except KafkaError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)
        else:
            return created
        finally:
            await admin.close()
