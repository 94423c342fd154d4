"""The dispatch engine of one department: ordered per citizen, concurrent across citizens."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

from services.core.departments import DepartmentSpec
from services.core.logging import get_logger
from services.core.ports import Clock
from services.delivery.circuit import CircuitBreaker
from services.delivery.domain import Delivery, DeliveryState
from services.delivery.handlers import after_attempt, held, redelivered
from services.delivery.ports import (
    DeliveryStore,
    DepartmentGateway,
    DepartmentState,
    StatusPublisher,
)
from services.delivery.ratelimit import TokenBucket
from services.delivery.relay import StatusRelay
from services.delivery.retry import RetryPolicy
from services.delivery.scheduler import CitizenScheduler

__all__ = ["Dispatcher", "DispatcherTuning"]

_log = get_logger(__name__)


class DispatcherTuning:
    """Knobs with safe defaults; tests shorten the waits."""

    def __init__(
        self,
        *,
        flush_interval_s: float = 0.02,
        state_refresh_s: float = 1.0,
        state_heartbeat_s: float = 10.0,
        failure_threshold: int = 5,
        probe_after_s: float = 30.0,
        max_backlog: int = 20_000,
    ) -> None:
        self.flush_interval_s = flush_interval_s
        self.state_refresh_s = state_refresh_s
        # Every replica republishes its department's stored state this often, so that a
        # tracker that lost or never had it learns it; rarely, as it fills the status topic.
        self.state_heartbeat_s = state_heartbeat_s
        self.failure_threshold = failure_threshold
        self.probe_after_s = probe_after_s
        # Deliveries held in memory at most; beyond it new ones wait in the store only.
        self.max_backlog = max_backlog


class Dispatcher:
    """Attempts deliveries of one department; the store is the record of truth.

    Deliveries are attempted head-first per citizen key, up to ``max_concurrency`` at
    once and ``rate_limit_per_s`` on average. Every state change is saved and published
    as a status event in small batches; a crash between an attempt and its save means
    the attempt is made again on restart, with the same webhook-id (at least once).

    New deliveries from the changes topic come in through ``offer``. Beyond
    ``max_backlog`` they are not held in memory: they wait in the store ("spilled") and
    are queued from it in ``seq`` order as the backlog drains, so a department that is
    down or slow costs disk, not memory, and never holds up the topic for the others.

    The department's pause and circuit state is published as well (``department_state``),
    when it changes here and as a heartbeat of the stored state every
    ``state_heartbeat_s``; publishing rides on the flush loop, so a broker outage delays
    it and never blocks an attempt.
    """

    def __init__(
        self,
        *,
        department: DepartmentSpec,
        store: DeliveryStore,
        gateway: DepartmentGateway,
        status: StatusPublisher,
        clock: Clock,
        policy: RetryPolicy | None = None,
        tuning: DispatcherTuning | None = None,
        relay: StatusRelay | None = None,
    ) -> None:
        self.department = department
        self.scheduler = CitizenScheduler()
        self._store = store
        self._gateway = gateway
        self._status = status
        self._clock = clock
        self._policy = policy or RetryPolicy(schedule_s=department.retry_schedule_s)
        self._tuning = tuning or DispatcherTuning()
        self._slots = asyncio.Semaphore(department.max_concurrency)
        self._limiter = TokenBucket(department.rate_limit_per_s)
        self._wake = asyncio.Event()
        # A relay shared by the process's dispatchers is run and flushed by its owner.
        self._own_relay = relay is None
        self._relay = relay or StatusRelay(store=store, status=status)
        self._tasks: set[asyncio.Task[None]] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._paused = False
        # Pause or resume commands applied here: a store read that was under way meanwhile
        # may predate the command's write and must not undo it.
        self._pause_commands = 0
        self._heads_held = False
        self._breaker = CircuitBreaker(DepartmentState(department=department.id))
        self._last_heartbeat: datetime | None = None
        # Spilling: every delivery queued here has ``seq`` <= ``_cursor``; while spilled,
        # the unfinished ones above it are in the store only (of ``_partitions``, the
        # partitions this replica reads; None: all).
        self._partitions: set[int] | None = None
        self._spilled = False
        self._cursor = 0
        self._offers = 0
        self._refill = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Load the department's state and start the dispatch, flush and refresh loops."""
        state = await self._store.department_state(self.department.id)
        self._paused = state.paused
        self._breaker = CircuitBreaker(
            state,
            failure_threshold=self._tuning.failure_threshold,
            probe_after_s=self._tuning.probe_after_s,
        )
        self._loops += [
            asyncio.create_task(self._dispatch_loop()),
            asyncio.create_task(self._refresh_loop()),
            asyncio.create_task(self._refill_loop()),
        ]
        if self._own_relay:
            self._loops.append(asyncio.create_task(self._relay.run(self._tuning.flush_interval_s)))

    async def stop(self) -> None:
        """Stop taking work, let attempts in flight finish, save and publish what is left."""
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.department.timeout_s + 1)
        if self._own_relay:
            with contextlib.suppress(Exception):
                await self._relay.flush(final=True)

    # -- work in -----------------------------------------------------------------------
    def backlog(self) -> int:
        """Deliveries queued or in flight in this process."""
        return len(self.scheduler)

    def spilled(self) -> bool:
        """Whether new deliveries are waiting in the store only (the backlog is full)."""
        return self._spilled

    def offer(self, deliveries: Iterable[Delivery]) -> None:
        """New deliveries from the changes topic, durable in the store, in ``seq`` order.

        They are announced as pending and queued, unless the backlog is full or still
        draining a spill: then they wait in the store, and the refill queues them later.
        """
        batch = list(deliveries)
        if not batch:
            return
        self._relay.announce_new(batch)
        if not self._spilled and len(self.scheduler) + len(batch) <= self._tuning.max_backlog:
            self.accept(batch)
            return
        if not self._spilled:
            _log.warning(
                "backlog full: new deliveries wait in the store", department=self.department.id
            )
        self._spilled = True
        self._offers += 1
        self._refill.set()

    def accept(self, deliveries: Iterable[Delivery]) -> None:
        """Queue deliveries already durable in the store (new ones come through ``offer``)."""
        batch = list(deliveries)
        self.scheduler.add(batch, self._clock.now())
        if batch and not self._spilled:
            self._cursor = max(self._cursor, *(d.seq for d in batch))
        self._heads_held = False  # new heads may need holding while paused or open
        self._wake.set()

    async def load(self, partitions: set[int]) -> int:
        """Queue every unfinished delivery read from these partitions (after a restart).

        While spilled, only those up to the cursor: the refill queues the rest in order.
        """
        self._partitions = (self._partitions or set()) | partitions
        unfinished = await self._store.unfinished(self.department.id, partitions)
        if self._spilled:
            unfinished = [d for d in unfinished if d.seq <= self._cursor]
        before = len(self.scheduler)
        self.accept(unfinished)
        return len(self.scheduler) - before

    def forget(self, partitions: set[int]) -> None:
        """Another replica owns these partitions now."""
        if self._partitions is not None:
            self._partitions -= partitions
        self.scheduler.drop_partitions(partitions)

    # -- operator commands ---------------------------------------------------------------
    async def set_paused(self, paused: bool) -> None:  # noqa: FBT001 - a command value
        """Pause (hold, discard nothing) or resume the department, for every replica."""
        state = replace(self._breaker.state, paused=paused)
        await self._store.save_department_state(state)
        self._breaker.state = state
        self._paused = paused
        self._pause_commands += 1
        self._announce(state)
        self._wake.set()
        event = "department paused" if paused else "department resumed"
        _log.info(event, department=self.department.id)

    async def redeliver(self, delivery_ids: Iterable[str]) -> int:
        """Send finished deliveries again (same webhook-id, fresh retry schedule)."""
        again = []
        for delivery_id in delivery_ids:
            delivery = await self._store.get(delivery_id)
            if delivery is None or delivery.department != self.department.id:
                continue
            if not delivery.finished or self.scheduler.knows(delivery_id):
                continue
            again.append(redelivered(delivery))
        if again:
            await self._store.save(again)
            for delivery in again:
                self._relay.note(delivery)
            self.accept(again)
        return len(again)

    async def redeliver_failed(self) -> int:
        """Redeliver every dead letter of the department."""
        failed = await self._store.in_state(self.department.id, DeliveryState.FAILED)
        return await self.redeliver(d.delivery_id for d in failed)

    # -- the loops -------------------------------------------------------------------------
    async def _idle(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(0.001, seconds))

    def _until_next_due(self, now: datetime) -> float:
        due = self.scheduler.next_due()
        if due is None:
            return self._tuning.state_refresh_s
        return min(self._tuning.state_refresh_s, max(0.001, (due - now).total_seconds()))

    async def _dispatch_loop(self) -> None:
        while True:
            now = self._clock.now()
            if self._paused or self._breaker.holding(now):
                if not self._heads_held:
                    self._hold_heads("department paused" if self._paused else "circuit open")
                    self._heads_held = True
                wait = self._breaker.seconds_until_probe(now) or self._tuning.state_refresh_s
                await self._idle(min(max(wait, 0.05), self._tuning.state_refresh_s))
                continue
            self._heads_held = False
            await self._slots.acquire()
            delivery = self.scheduler.take(now)
            if delivery is None:
                self._slots.release()
                await self._idle(self._until_next_due(now))
                continue
            circuit = self._breaker.state.circuit
            allowed = self._breaker.allows(now)
            if self._breaker.state.circuit is not circuit:  # half-open: this one probes
                await self._circuit_changed()
            if not allowed:  # a probe is already out
                self._slots.release()
                self.scheduler.requeue(delivery, now + timedelta(seconds=0.2))
                continue
            if not self._limiter.try_acquire():  # below the rate limit: no await needed
                await self._limiter.acquire()
            task = asyncio.create_task(self._attempt(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            outcome = await self._gateway.push(delivery)
            now = self._clock.now()
            updated = after_attempt(delivery, outcome, self._policy, now)
            if self._breaker.record(outcome.kind, now):
                await self._circuit_changed()
            if updated.finished:
                self.scheduler.finish(updated, now)
            else:
                due = updated.next_attempt_at or now + timedelta(
                    seconds=max(self._breaker.seconds_until_probe(now), 0.2)
                )
                self.scheduler.requeue(updated, due)
            self._relay.note(updated)
        except Exception:  # noqa: BLE001 - one delivery's bug must not stop the department
            _log.exception("delivery attempt crashed", delivery_id=delivery.delivery_id)
            self.scheduler.requeue(delivery, self._clock.now() + timedelta(seconds=5))
        finally:
            self._slots.release()
            self._wake.set()
            if self._spilled and len(self.scheduler) <= self._tuning.max_backlog // 2:
                self._refill.set()

    async def _circuit_changed(self) -> None:
        state = self._breaker.state
        _log.warning("circuit changed", department=self.department.id, circuit=state.circuit.value)
        try:
            await self._store.save_department_state(state)
        except Exception:  # noqa: BLE001 - the circuit works in memory; the next change saves
            _log.exception("saving the circuit state failed", department=self.department.id)
        self._announce(state)

    def _announce(self, state: DepartmentState) -> None:
        """Publish this state with the next flush (a newer one replaces it if still queued)."""
        self._relay.announce_state(state, self._clock.now())

    def _hold_heads(self, why: str) -> None:
        for head in self.scheduler.heads():
            if head.state is not DeliveryState.HELD:
                self.scheduler.update(self._relay.note(held(head, why)))

    async def _refill_loop(self) -> None:
        while True:
            await self._refill.wait()
            self._refill.clear()
            try:
                await self._refill_from_store()
            except Exception:  # noqa: BLE001 - the store is away: try again shortly
                _log.exception("queueing spilled deliveries failed; will retry")
                await asyncio.sleep(1.0)
                self._refill.set()

    async def _refill_from_store(self) -> None:
        """Queue spilled deliveries in ``seq`` order while the backlog is at most half full.

        The spill ends when a read finds nothing above the cursor and nothing was offered
        while it ran (an offer made then may have committed after the read began).
        """
        limit = self._tuning.max_backlog
        while self._spilled and len(self.scheduler) <= limit // 2:
            offers = self._offers
            page = await self._store.unfinished(
                self.department.id,
                self._partitions,
                after_seq=self._cursor,
                limit=limit - len(self.scheduler),
            )
            if page:
                self._cursor = page[-1].seq
                if self._partitions is not None:  # a rebalance while the store was read
                    page = [d for d in page if d.partition in self._partitions]
                self.accept(page)
            elif self._offers == offers:
                self._spilled = False
                _log.info("spilled deliveries all queued", department=self.department.id)

    async def _refresh_loop(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self._refresh()
            await asyncio.sleep(self._tuning.state_refresh_s)

    async def _refresh(self) -> None:
        """Take up a pause or resume applied by another replica; heartbeat when due."""
        # Read the time first: a change announced while the store is read is newer.
        now = self._clock.now()
        commands = self._pause_commands
        state = await self._store.department_state(self.department.id)
        if state.paused != self._paused and commands == self._pause_commands:
            self._paused = state.paused
            self._breaker.state = replace(self._breaker.state, paused=state.paused)
            self._wake.set()
        beat = self._last_heartbeat
        if beat is None or (now - beat).total_seconds() >= self._tuning.state_heartbeat_s:
            self._last_heartbeat = now
            # The stored state, not this replica's view, so that every replica tells the
            # same; never in place of a newer change still waiting to be published.
            self._relay.heartbeat(state, now)
