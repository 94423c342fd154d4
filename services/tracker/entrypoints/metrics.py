"""``GET /metrics``: the process's Prometheus metrics plus the tracking store's figures.

The department adapters run in other processes, so their figures come from the tracking
store (fed by the status topic) at each scrape rather than from counters in this process.
Label values are department ids from the registry, statuses, circuit states and bucket
bounds: never anything a citizen or channel typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from fastapi import APIRouter
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.responses import Response

from services.core.logging import get_logger
from services.tracker.domain import (
    FINISHED,
    CircuitStatus,
    DeliveryFigures,
    DeliveryStatus,
    DepartmentState,
    LatencyHistogram,
)
from services.tracker.entrypoints.deps import ReadSideDep

__all__ = ["LATENCY_BOUNDS_MS", "department_families", "router"]

#: Upper bounds (milliseconds) of the attempt latency histogram's buckets.
LATENCY_BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)

_log = get_logger(__name__)
_UNFINISHED = [s for s in DeliveryStatus if s not in FINISHED]
# Bucket bounds written as prometheus_client writes its own (``0.005``, ``1.0``, ``+Inf``).
_le: Callable[[float], str] = floatToGoString

router = APIRouter(tags=["metrics"])


class _Scrape(Collector):
    """One exposition: everything the process registry holds, then the store's families."""

    def __init__(self, registry: Collector, families: Sequence[Metric]) -> None:
        self._registry = registry
        self._families = families

    def collect(self) -> Iterable[Metric]:
        """The registry's metrics, then this scrape's."""
        yield from self._registry.collect()
        yield from self._families


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_PLAIN_0_0_4: {}}, "description": "Metrics"}},
)
async def metrics(readside: ReadSideDep) -> Response:
    """Prometheus metrics in the text format 0.0.4.

    No token is needed, as usual for a Prometheus target: nothing here is personal data.
    Labels carry only department ids, event types, delivery statuses, outcomes and circuit
    states. Department figures (deliveries by status, backlog, dead letters, attempt
    latency, circuit, paused) are read from the tracking store at each scrape; if it does
    not answer, ``tuo_tracker_store_up`` is 0 and the process's own metrics still come.
    """
    departments = [spec.id for spec in readside.registry]
    try:
        figures = await readside.store.delivery_figures(LATENCY_BOUNDS_MS)
        states = await readside.store.department_states()
    # Whatever the store's technology raises, the scrape still reports the process.
    except Exception as exc:  # noqa: BLE001
        _log.warning("metrics: the tracking store did not answer", error=type(exc).__name__)
        families = [_store_up(up=False)]
    else:
        families = [_store_up(up=True), *department_families(departments, figures, states)]
    body = generate_latest(_Scrape(readside.metrics, families))
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


def _store_up(*, up: bool) -> Metric:
    family = GaugeMetricFamily(
        "tuo_tracker_store_up", "1 if the tracking store answered this scrape, else 0."
    )
    family.add_metric([], 1 if up else 0)
    return family


def department_families(
    departments: Sequence[str],
    figures: DeliveryFigures,
    states: Mapping[str, DepartmentState],
) -> list[Metric]:
    """Metric families for the given departments (only those: the registry's ids).

    Every department gets every series, with zeros where nothing happened, so that
    series never appear and vanish; the state timestamp only once its adapters reported.
    """
    deliveries = GaugeMetricFamily(
        "tuo_deliveries",
        "Deliveries now in each status, per department.",
        labels=["department", "status"],
    )
    backlog = GaugeMetricFamily(
        "tuo_department_backlog",
        "Deliveries not finished yet (pending, retrying or held), per department.",
        labels=["department"],
    )
    dead_letters = GaugeMetricFamily(
        "tuo_department_dead_letters",
        "Deliveries that failed for good (retries exhausted), waiting for redelivery.",
        labels=["department"],
    )
    latency = HistogramMetricFamily(
        "tuo_delivery_attempt_latency_seconds",
        "Time each push to the department took, from request to answer or error.",
        labels=["department"],
    )
    circuit = GaugeMetricFamily(
        "tuo_department_circuit_state",
        "1 for the department's current circuit state (all 0 until its adapters report).",
        labels=["department", "state"],
    )
    paused = GaugeMetricFamily(
        "tuo_department_paused",
        "1 while an operator has paused the department (its deliveries are held).",
        labels=["department"],
    )
    reported = GaugeMetricFamily(
        "tuo_department_state_reported_timestamp_seconds",
        "When the department's adapters last reported its pause and circuit state.",
        labels=["department"],
    )
    for department in departments:
        counts = {s: figures.deliveries.get((department, s), 0) for s in DeliveryStatus}
        for status, count in counts.items():
            deliveries.add_metric([department, status.value], count)
        backlog.add_metric([department], sum(counts[s] for s in _UNFINISHED))
        dead_letters.add_metric([department], counts[DeliveryStatus.FAILED])
        _add_latency(latency, department, figures.latency.get(department))
        state = states.get(department)
        for value in CircuitStatus:
            current = state is not None and state.circuit is value
            circuit.add_metric([department, value.value], 1 if current else 0)
        paused.add_metric([department], 1 if state is not None and state.paused else 0)
        if state is not None:
            reported.add_metric([department], state.at.timestamp())
    return [deliveries, backlog, dead_letters, latency, circuit, paused, reported]


def _add_latency(
    family: HistogramMetricFamily, department: str, histogram: LatencyHistogram | None
) -> None:
    if histogram is None:  # no attempt yet: an empty histogram, not a missing series
        zeros = (0,) * len(LATENCY_BOUNDS_MS)
        histogram = LatencyHistogram(
            bounds_ms=LATENCY_BOUNDS_MS, cumulative=zeros, count=0, sum_ms=0.0
        )
    pairs = zip(histogram.bounds_ms, histogram.cumulative, strict=True)
    buckets = [(_le(bound / 1000), count) for bound, count in pairs]
    buckets.append(("+Inf", histogram.count))
    family.add_metric([department], buckets, sum_value=histogram.sum_ms / 1000)
