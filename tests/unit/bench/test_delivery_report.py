import json

import pytest
from click.testing import CliRunner

from services.bench.delivery_report import (
    DeliveryBenchResult,
    DrainResult,
    format_table,
    rounds_of,
    to_json,
    verdicts,
)
from services.bench.receiver import ReceiverStats
from services.cli import bench as bench_cli

RATIO = "adapter ≥ 50% of bare loop"
RSS = "adapter RSS ≤ 300 MB"
ARRIVED = "every delivery arrived"


def _drain(name, *, rate, received=1000, rss=100.0, duplicates=0):
    return DrainResult(
        name=name,
        deliveries=1000,
        received=received,
        requests=received + duplicates,
        duplicates=duplicates,
        startup_s=5.0,
        drain_s=received / rate,
        peak_rss_mb=rss,
        cpu_s=2.5,
    )


def _result(*, bare=4000.0, adapter=2400.0, **adapter_kw):
    return DeliveryBenchResult(
        deliveries=1000,
        department="hmrc",
        citizens=100,
        partitions=8,
        concurrency=64,
        targets=[_drain("bare loop", rate=bare), _drain("adapter", rate=adapter, **adapter_kw)],
    )


def _verdicts(result):
    return {v.label: v.passed for v in verdicts(result)}


def test_rates_exclude_start_up_and_totals_include_it():
    drain = _drain("adapter", rate=2000.0)
    assert drain.rate_per_s == 2000.0
    assert drain.total_s == 5.5
    assert round(drain.total_rate_per_s) == round(1000 / 5.5)
    assert drain.complete


def test_all_targets_met_and_the_boundaries_pass():
    assert _verdicts(_result()) == {RATIO: True, RSS: True, ARRIVED: True}
    assert all(_verdicts(_result(adapter=2000.0, rss=300.0)).values())


def test_each_target_can_fail_on_its_own():
    assert _verdicts(_result(adapter=1999.0)) == {RATIO: False, RSS: True, ARRIVED: True}
    assert _verdicts(_result(rss=300.5)) == {RATIO: True, RSS: False, ARRIVED: True}
    assert not _verdicts(_result(received=999))[ARRIVED]


def test_a_missing_adapter_fails_its_verdicts_rather_than_crashing():
    result = DeliveryBenchResult(
        deliveries=1000,
        department="hmrc",
        citizens=100,
        partitions=8,
        concurrency=64,
        targets=[_drain("bare loop", rate=1.0)],
    )
    assert _verdicts(result) == {RATIO: False, RSS: False, ARRIVED: True}
    assert result.ratio_to_bare("adapter") is None


def test_the_table_shows_both_targets_the_ratio_and_the_verdicts():
    table = format_table(_result(duplicates=3))
    rows = {line.split()[0]: line.split() for line in table.split("\n\n")[1].splitlines()}
    assert rows["bare"][:6] == ["bare", "loop", "1000", "4000", "100.0%", "5.0"]
    assert rows["bare"][8:] == ["100", "2.5", "0"]
    assert rows["adapter"][:5] == ["adapter", "1000", "2400", "60.0%", "5.0"]
    assert rows["adapter"][-3:] == ["100", "2.5", "3"]
    assert "consumer-group join excluded" in table
    assert f"{RATIO}: PASS" in table
    assert "MISSING" not in table


def test_missing_deliveries_are_reported_loudly():
    table = format_table(_result(received=990))
    assert f"{ARRIVED}: FAIL" in table
    assert "!!! MISSING: adapter delivered 990 of 1000 in time" in table


def test_json_carries_figures_ratios_and_verdicts():
    document = json.loads(to_json(_result(adapter=1600.0)))
    by_name = {t["name"]: t for t in document["targets"]}
    assert by_name["adapter"]["ratio_to_bare"] == 0.4
    assert by_name["adapter"]["rate_per_s"] == 1600.0
    assert by_name["adapter"]["peak_rss_mb"] == 100.0
    assert by_name["bare loop"]["complete"] is True
    assert {v["label"]: v["passed"] for v in document["verdicts"]}[RATIO] is False
    assert document["passed"] is False


def test_the_receiver_counts_distinct_names_duplicates_and_when_it_had_them_all():
    stats = ReceiverStats()
    stats.reset(expect=2)
    for name in ("a", "a", None, "b", "b"):
        stats.count(name)
    counts = json.loads(stats.as_json())
    assert counts["requests"] == 5
    assert counts["unique"] == 2
    assert counts["duplicates"] == 2
    assert counts["unnamed"] == 1
    assert counts["first_at"] <= counts["done_at"] <= counts["last_at"]
    stats.reset(expect=1)
    assert json.loads(stats.as_json())["requests"] == 0


def test_the_delivery_report_carries_its_rounds_in_the_table_and_the_json():
    results = [_result(adapter=2_000.0), _result(adapter=2_400.0)]
    rounds = rounds_of(results)
    assert [r.ratio for r in rounds.rounds] == [pytest.approx(0.5), pytest.approx(0.6)]
    table = format_table(results[0], rounds)
    assert "median adapter / bare loop over 2 rounds ≥ 50%: PASS" in table
    document = json.loads(to_json(results[0], rounds))
    assert document["rounds"]["verdict"]["passed"] is True
    missing = _result(received=999)
    assert rounds_of([missing]).rounds[0].ratio is None


def test_the_cli_fails_when_any_round_of_delivery_missed_deliveries(monkeypatch):
    results = iter([_result(), _result(received=999)])
    monkeypatch.setattr(bench_cli, "run_delivery_bench", lambda **_: next(results))
    answer = CliRunner().invoke(bench_cli.bench_group, ["delivery", "--rounds", "2"])

    assert answer.exit_code == 1
    assert "2 rounds (each on a fresh broker and backlog):" in answer.stdout
    assert "not comparable" in answer.stdout
