"""Offset commits: only stored records, few of them, in order, none lost when one fails."""

import asyncio

from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from services.broker.offsets import OffsetCommitter

P0, P1, P2 = (TopicPartition("tuo.changes.v1", n) for n in range(3))


class Consumer:
    """The two methods of AIOKafkaConsumer the committer uses; commits can be held or fail."""

    def __init__(self) -> None:
        self.owned = {P0, P1, P2}
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail_next = False
        self.gate: asyncio.Event | None = None  # when set up, a commit waits for it

    def assignment(self) -> set[TopicPartition]:
        return set(self.owned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_next:
            self.fail_next = False
            raise CommitFailedError("rebalanced")
        self.commits.append(dict(offsets))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def committer(*, held: bool = False) -> tuple[Consumer, Clock, OffsetCommitter]:
    """A committer on a fake consumer and clock; ``held``: its commits wait for the gate."""
    consumer, clock = Consumer(), Clock()
    if held:
        consumer.gate = asyncio.Event()
    return consumer, clock, OffsetCommitter(consumer, interval_s=0.5, clock=clock)


async def commit_under_way() -> tuple[Consumer, OffsetCommitter]:
    """A committer whose commit of ``{P0: 10}`` has started and waits for the gate."""
    consumer, _, offsets = committer(held=True)
    offsets.stored({P0: 10})
    offsets.idle()
    await settle()
    return consumer, offsets


async def test_stored_offsets_wait_for_the_interval_then_go_in_one_commit():
    consumer, clock, offsets = committer()
    offsets.stored({P0: 10})
    clock.now += 0.2
    offsets.stored({P0: 12, P1: 3})
    await settle()
    assert consumer.commits == []
    clock.now += 0.3
    offsets.stored({P1: 5})
    await settle()
    assert consumer.commits == [{P0: 12, P1: 5}]


async def test_a_poll_that_found_nothing_commits_what_is_pending_at_once():
    consumer, _, offsets = committer()
    offsets.stored({P0: 10})
    offsets.idle()
    await settle()
    assert consumer.commits == [{P0: 10}]
    offsets.idle()  # nothing pending: no empty commit
    await settle()
    assert consumer.commits == [{P0: 10}]


async def test_one_commit_at_a_time_and_what_came_meanwhile_goes_next():
    consumer, offsets = await commit_under_way()
    offsets.stored({P0: 20})
    offsets.idle()  # the first is still under way
    consumer.gate.set()
    await settle()
    assert consumer.commits == [{P0: 10}]
    offsets.idle()
    await settle()
    assert consumer.commits == [{P0: 10}, {P0: 20}]


async def test_a_failed_commit_goes_again_with_the_next_and_newer_offsets_win():
    consumer, _, offsets = committer()
    consumer.fail_next = True
    offsets.stored({P0: 10, P1: 4})
    offsets.idle()
    await settle()
    assert consumer.commits == []
    offsets.stored({P0: 15})
    offsets.idle()
    await settle()
    assert consumer.commits == [{P0: 15, P1: 4}]


async def test_partitions_no_longer_owned_are_left_to_their_new_owner():
    consumer, _, offsets = committer()
    offsets.stored({P0: 10, P2: 7})
    consumer.owned = {P0}
    offsets.idle()
    await settle()
    assert consumer.commits == [{P0: 10}]
    consumer.owned = set()
    offsets.stored({P2: 9})
    await offsets.flush()
    assert consumer.commits == [{P0: 10}]


async def test_flush_waits_for_the_commit_under_way_then_commits_the_rest():
    consumer, offsets = await commit_under_way()
    offsets.stored({P1: 2})
    flushing = asyncio.create_task(offsets.flush())
    await settle()
    assert not flushing.done()
    consumer.gate.set()
    await flushing
    assert consumer.commits == [{P0: 10}, {P1: 2}]
