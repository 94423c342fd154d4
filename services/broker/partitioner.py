"""The Kafka clients' default partition for a key: murmur2, as the Java client hashes it.

aiokafka's ``DefaultPartitioner`` computes the same in pure Python one byte at a time
(~7 µs for a 36-byte key); reading the key as little-endian 32-bit words in one ``struct``
call and skipping the redundant masks takes it to ~3 µs. Every change the intake publishes
and every delivery's status is hashed once, so this is on both hot paths. Tests compare
each function here with aiokafka's on arbitrary bytes.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

__all__ = ["KafkaPartitioner", "default_partition", "murmur2"]

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS = [struct.Struct(f"<{count}I") for count in range(64)]  # keys up to 255 bytes


def murmur2(data: bytes) -> int:
    """The 32-bit murmur2 hash of ``data`` with Kafka's seed (``Utils.murmur2`` in Java)."""
    length = len(data)
    count = length >> 2
    words = _WORDS[count] if count < len(_WORDS) else struct.Struct(f"<{count}I")
    h = _SEED ^ length
    for word in words.unpack_from(data):
        k = (word * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    tail = length & 3
    if tail:
        end = count << 2
        if tail == 3:
            h ^= data[end + 2] << 16
        if tail >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def default_partition(key: bytes, partitions: Sequence[int]) -> int:
    """The partition the producer's default partitioner picks for ``key`` among ``partitions``.

    ``partitions``: all of the topic's partitions, in ascending order (as the Java client
    and aiokafka's producer list them).
    """
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]


class KafkaPartitioner:
    """aiokafka's ``partitioner`` option with ``DefaultPartitioner``'s choices, hashed faster.

    A key goes where the Java client and aiokafka's default would send it; a record
    without a key goes to a random available partition (any partition if none is).
    """

    def __call__(
        self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
    ) -> int:
        """The partition for ``key``: the one ``DefaultPartitioner`` picks from these lists."""
        if key is None:
            return random.choice(available or all_partitions)
        return default_partition(key, all_partitions)
