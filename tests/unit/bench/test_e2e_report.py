import json

import orjson
import pytest

from services.bench.e2e_report import (
    BARE,
    E2E,
    E2EBenchResult,
    LatencySummary,
    LegResult,
    ProcessCost,
    format_table,
    to_json,
    verdicts,
)
from services.bench.e2e_stages import (
    ACCEPTED_TO_CONSUMED,
    CONSUMED_TO_POST,
    POST_TO_RECEIPT,
    PRODUCED_TO_202,
    SEND_TO_VALIDATED,
    VALIDATED_TO_PRODUCED,
    ChangeMarks,
    DeliveryMarks,
    Marks,
    Timeline,
    stages,
)
from services.bench.receiver import ReceiverStats

P99 = "end-to-end p99 ≤ 100 ms"
COMPLETE = "every change accepted and delivered to every department"
ONCE = "no delivery doubled or unexpected"
HELD = "load held ≥ 95% of 200/s in both legs"


def _latency(p99_ms, *, p50_ms=5.0):
    return LatencySummary(
        count=1000, min_ms=1.0, p50_ms=p50_ms, p95_ms=p50_ms, p99_ms=p99_ms, max_ms=p99_ms
    )


def _leg(
    name,
    *,
    p99_ms=20.0,
    sent=12_000,
    accepted=12_000,
    delivered=None,
    duplicates=0,
    unexpected=0,
    send_s=60.0,
    cpu=(10.0, 20.0),
):
    expected = accepted * 5
    return LegResult(
        name=name,
        planned=12_000,
        sent=sent,
        accepted=accepted,
        statuses={"202": accepted},
        send_s=send_s,
        window_s=60.5,
        max_send_lag_ms=1.0,
        accept=_latency(10.0),
        latency=_latency(p99_ms),
        per_department={"hmrc": _latency(p99_ms)},
        expected=expected,
        delivered=expected if delivered is None else delivered,
        duplicates=duplicates,
        unexpected=unexpected,
        processes=[
            ProcessCost(name="broker", cpu_s=cpu[0], peak_rss_mb=50.0),
            ProcessCost(name="receiver", cpu_s=cpu[1], peak_rss_mb=40.0, system=False),
        ],
        machine_cpu_s=60.5,
        load_average=0.5,
    )


def _result(*, bare=None, e2e=None):
    return E2EBenchResult(
        rate=200.0,
        duration_s=60.0,
        departments=["hmrc", "dvla", "dwp", "council-bristol", "council-cardiff"],
        cores=2,
        legs=[bare or _leg(BARE, p99_ms=10.0), e2e or _leg(E2E)],
    )


def _verdicts(result):
    return {v.label: v.passed for v in verdicts(result)}


def test_percentiles_are_nearest_rank_and_an_empty_set_is_zero():
    summary = LatencySummary.of([0.003, 0.001, 0.002, 0.004])
    assert (summary.count, summary.min_ms, summary.p50_ms, summary.max_ms) == (4, 1.0, 2.0, 4.0)
    assert summary.p99_ms == 4.0
    assert LatencySummary.of([]) == LatencySummary(
        count=0, min_ms=0.0, p50_ms=0.0, p95_ms=0.0, p99_ms=0.0, max_ms=0.0
    )


def test_derived_figures_of_a_leg():
    leg = _leg(E2E, delivered=59_990, accepted=12_000, sent=12_000)
    assert leg.lost == 10
    assert leg.errors == 0
    assert leg.send_rate == 200.0
    assert leg.system_cpu_s == 10.0  # the receiver is not counted
    assert leg.cpu_ms_per_change == pytest.approx(10_000 / 12_000)
    assert leg.other_cpu_s == pytest.approx(30.5)
    assert not leg.complete


def test_every_target_met_and_the_boundary_passes():
    assert all(_verdicts(_result(e2e=_leg(E2E, p99_ms=100.0))).values())


def test_each_target_fails_on_its_own():
    assert _verdicts(_result(e2e=_leg(E2E, p99_ms=100.1))) == {
        P99: False,
        COMPLETE: True,
        ONCE: True,
        HELD: True,
    }
    assert _verdicts(_result(e2e=_leg(E2E, delivered=1)))[COMPLETE] is False
    assert _verdicts(_result(e2e=_leg(E2E, accepted=11_999)))[COMPLETE] is False
    assert _verdicts(_result(bare=_leg(BARE, duplicates=1)))[ONCE] is False
    assert _verdicts(_result(e2e=_leg(E2E, unexpected=1)))[ONCE] is False
    assert _verdicts(_result(bare=_leg(BARE, send_s=70.0)))[HELD] is False


def test_the_table_prints_both_legs_the_ratios_the_cost_and_the_verdicts():
    table = format_table(_result())
    assert "bare " in table
    assert "end to end / bare" in table
    assert "2.0\u00d7" in table  # p99 20 ms against 10 ms (times sign)
    assert "pipeline (counted)" in table
    assert "machine during end to end: 1.00 of 2 cores busy, 0.50 of them on other work" in table
    assert f"{P99}: PASS" in table
    assert "!!!" not in table


def test_a_loss_is_shouted():
    table = format_table(_result(e2e=_leg(E2E, delivered=59_000)))
    assert "!!! MISSING: end to end delivered 59000 of 60000" in table
    assert f"{COMPLETE}: FAIL" in table


def test_json_has_the_figures_ratios_and_verdicts():
    document = orjson.loads(to_json(_result()))
    assert document["ratios"]["latency.p99_ms"] == 2.0
    assert document["legs"][1]["lost"] == 0
    assert document["legs"][1]["latency"]["p99_ms"] == 20.0
    assert document["passed"] is True


def test_stages_split_the_latency_on_one_clock():
    # Wall clock = monotonic + 1000 s.
    offset = 1000.0
    line = Timeline(event_id="e", delivery_id="d", due=10.0, accepted_at=10.010, received_at=10.060)
    marks = Marks(
        changes={"e": ChangeMarks(received_at=1010.002, produced_at=1010.004)},
        deliveries={
            "d": DeliveryMarks(consumed_at=1010.020, post_started_at=1010.055, answered_at=1010.07)
        },
    )
    found = {s.name: s for s in stages([line], marks, wall_minus_monotonic=offset)}
    expected = {
        SEND_TO_VALIDATED: 2.0,
        VALIDATED_TO_PRODUCED: 2.0,
        PRODUCED_TO_202: 6.0,
        ACCEPTED_TO_CONSUMED: 10.0,
        CONSUMED_TO_POST: 35.0,
        POST_TO_RECEIPT: 5.0,
    }
    assert {name: round(s.latency.p50_ms, 3) for name, s in found.items()} == expected
    assert found[CONSUMED_TO_POST].tail_mean_ms == pytest.approx(35.0)
    assert found[SEND_TO_VALIDATED].tail_mean_ms is None


def test_the_receiver_keeps_the_first_arrival_per_department_and_name():
    stats = ReceiverStats()
    stats.reset(expect=3)
    stats.count("1:7", "hmrc", at=1.0)
    stats.count("1:7", "dvla", at=2.0)  # the same record, another department: distinct
    stats.count("1:7", "hmrc", at=3.0)  # a repeat
    stats.count("1:8", "hmrc", at=4.0)
    counts = json.loads(stats.as_json())
    assert (counts["unique"], counts["duplicates"], counts["done_at"]) == (3, 1, 4.0)
    assert orjson.loads(stats.arrivals_json())["arrivals"] == [
        ["hmrc", "1:7", 1.0, 2],
        ["dvla", "1:7", 2.0, 1],
        ["hmrc", "1:8", 4.0, 1],
    ]
