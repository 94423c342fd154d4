"""Our murmur2 partition is the one aiokafka's default partitioner (and Java's) picks."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from services.broker.partitioner import KafkaPartitioner, default_partition, murmur2


@given(st.binary(max_size=600))  # past the precomputed word formats (255 bytes) too
def test_the_same_hash_as_aiokafkas(data: bytes) -> None:
    assert murmur2(data) == aiokafka_murmur2(data)


@given(st.binary(min_size=1, max_size=80), st.integers(min_value=1, max_value=64))
def test_the_same_partition_as_the_default_partitioner(key: bytes, count: int) -> None:
    partitions = list(range(count))
    assert default_partition(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_known_values_of_the_java_client() -> None:
    # org.apache.kafka.common.utils.Utils.murmur2 on these UTF-8 strings (its own test).
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF
    assert murmur2(b"foobar") == -790332482 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-long-string") == -985981536 & 0xFFFFFFFF
    assert murmur2(b"a-little-bit-longer-string") == -1486304829 & 0xFFFFFFFF
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971 & 0xFFFFFFFF
    assert murmur2(b"abc") == 479470107


@given(st.binary(min_size=1, max_size=80), st.lists(st.integers(0, 99), min_size=1, unique=True))
def test_the_producer_hook_chooses_as_the_default_partitioner(key: bytes, ids: list[int]) -> None:
    partitions = sorted(ids)
    ours = KafkaPartitioner()(key, partitions, partitions[:1])
    assert ours == DefaultPartitioner()(key, partitions, partitions[:1])


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    chosen = {KafkaPartitioner()(None, [0, 1, 2, 3], [1, 3]) for _ in range(200)}
    assert chosen == {1, 3}
    assert KafkaPartitioner()(None, [0, 1], []) in {0, 1}
