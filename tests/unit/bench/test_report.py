import json

import pytest
from click.testing import CliRunner

from services.bench.load import LoadResult, percentile
from services.bench.report import (
    BenchResult,
    TargetResult,
    format_table,
    rounds_of,
    to_json,
    verdicts,
)
from services.cli import bench as bench_cli

TIMES_NAIVE = "intake ≥ 3× naive"  # noqa: RUF001 - the issue's wording


def _target(name, *, req_per_s, p99_ms=10.0, statuses=None, failures=0, cpu_s=None):
    statuses = statuses if statuses is not None else {202: 1000}
    load = LoadResult(
        latencies_s=sorted([0.002] * 98 + [p99_ms / 1000, p99_ms / 1000]),
        elapsed_s=(sum(statuses.values()) + failures) / req_per_s,
        statuses=statuses,
        failures=failures,
    )
    return TargetResult.from_load(name, load, cpu_s=cpu_s)


def _result(*, bare=10_000.0, intake=6_000.0, naive=1_000.0, intake_p99=20.0, **intake_kw):
    return BenchResult(
        requests=1000,
        concurrency=64,
        warmup=500,
        targets=[
            _target("bare", req_per_s=bare, cpu_s=0.08),
            _target("intake", req_per_s=intake, p99_ms=intake_p99, cpu_s=0.32, **intake_kw),
            _target("naive", req_per_s=naive),
        ],
    )


def _verdicts(result):
    return {v.label: v.passed for v in verdicts(result)}


def test_percentile_is_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) == 0.0


def test_a_load_result_is_summarised_per_target():
    target = _target("intake", req_per_s=2000.0, p99_ms=30.0, statuses={202: 990, 503: 10})
    assert target.requests == 1000
    assert target.ok == 990
    assert target.errors == 10
    assert target.statuses == {"202": 990, "503": 10}
    assert round(target.req_per_s) == 2000
    assert target.p50_ms == 2.0
    assert target.p99_ms == 30.0


def test_requests_without_an_answer_count_as_errors():
    target = _target("naive", req_per_s=100.0, statuses={202: 95}, failures=5)
    assert target.requests == 100
    assert target.errors == 5
    assert target.statuses == {"202": 95, "none": 5}


def test_all_targets_met():
    assert _verdicts(_result()) == {
        "intake ≥ 50% of bare": True,
        "intake p99 ≤ 50 ms": True,
        TIMES_NAIVE: True,
        "every request answered 2xx": True,
    }


def test_each_target_can_fail_on_its_own():
    assert not _verdicts(_result(intake=4_900.0))["intake ≥ 50% of bare"]
    assert not _verdicts(_result(intake_p99=50.5))["intake p99 ≤ 50 ms"]
    assert not _verdicts(_result(naive=2_100.0))[TIMES_NAIVE]
    assert not _verdicts(_result(statuses={202: 999, 503: 1}))["every request answered 2xx"]


def test_the_boundaries_pass():
    assert all(_verdicts(_result(intake=5_000.0, naive=5_000.0 / 3, intake_p99=50.0)).values())


def test_a_missing_target_fails_its_verdicts_rather_than_crashing():
    result = BenchResult(
        requests=1, concurrency=1, warmup=0, targets=[_target("bare", req_per_s=1.0)]
    )
    assert _verdicts(result) == {
        "intake ≥ 50% of bare": False,
        "intake p99 ≤ 50 ms": False,
        TIMES_NAIVE: False,
        "every request answered 2xx": True,
    }
    assert "intake" not in format_table(result).split("\n\n")[1]


def test_the_table_shows_every_target_with_its_ratio_and_the_verdicts():
    table = format_table(_result())
    rows = {line.split()[0]: line.split() for line in table.split("\n\n")[1].splitlines()}
    assert rows["target"] == [
        "target",
        "requests",
        "req/s",
        "p50",
        "ms",
        "p99",
        "ms",
        "vs",
        "bare",
        "CPU",
        "µs/req",
        "CPU",
        "vs",
        "bare",
        "errors",
    ]
    assert rows["bare"] == ["bare", "1000", "10000", "2.0", "10.0", "100%", "80", "100%", "0"]
    assert rows["intake"] == ["intake", "1000", "6000", "2.0", "20.0", "60%", "320", "25%", "0"]
    assert rows["naive"] == ["naive", "1000", "1000", "2.0", "10.0", "10%", "-", "-", "0"]
    assert "intake ≥ 50% of bare: PASS" in table
    assert "intake p99 ≤ 50 ms: PASS" in table
    assert f"{TIMES_NAIVE}: PASS" in table
    assert "ERRORS" not in table


def test_errors_are_reported_loudly():
    table = format_table(_result(statuses={202: 990, 503: 10}))
    assert "every request answered 2xx: FAIL" in table
    assert (
        "!!! ERRORS: intake answered 10 of 1000 requests without a 2xx (202: 990, 503: 10)" in table
    )


def test_json_carries_figures_ratios_and_verdicts():
    document = json.loads(to_json(_result(intake=4_000.0)))
    assert document["requests"] == 1000
    assert document["concurrency"] == 64
    by_name = {t["name"]: t for t in document["targets"]}
    assert by_name["intake"]["ratio_to_bare"] == 0.4
    assert by_name["intake"]["statuses"] == {"202": 1000}
    assert by_name["bare"]["ratio_to_bare"] == 1.0
    assert by_name["intake"]["cpu_s"] == 0.32
    assert by_name["intake"]["cpu_ratio_to_bare"] == 0.25
    assert by_name["naive"]["cpu_ratio_to_bare"] is None
    assert {v["label"]: v["passed"] for v in document["verdicts"]}["intake ≥ 50% of bare"] is False
    assert document["passed"] is False


def test_the_intake_report_carries_its_rounds_in_the_table_and_the_json():
    results = [_result(intake=3_000.0), _result(intake=6_000.0)]
    rounds = rounds_of(results)
    assert [(r.baseline, r.target) for r in rounds.rounds] == [(10_000, 3_000), (10_000, 6_000)]
    table = format_table(results[0], rounds)
    assert "intake ≥ 50% of bare: FAIL" in table  # the first round's own verdict
    assert "median intake / bare over 2 rounds ≥ 50%: FAIL" in table  # (30% + 60%) / 2
    document = json.loads(to_json(results[0], rounds))
    assert document["rounds"]["median_ratio"] == pytest.approx(0.45)
    assert [r["ratio"] for r in document["rounds"]["rounds"]] == [0.3, 0.6]
    assert "rounds" not in json.loads(to_json(results[0]))


def test_an_intake_round_with_errors_gives_no_ratio():
    failing = _result(statuses={202: 990, 503: 10})
    assert rounds_of([_result(), failing]).rounds[1].ratio is None


def test_the_cli_runs_the_rounds_and_the_reference_intakes_only_in_the_first(monkeypatch):
    calls = []

    def fake_run(**options):
        calls.append(options["references"])
        return _result(intake=3_000.0 + 1_000 * len(calls))

    monkeypatch.setattr(bench_cli, "run_intake_bench", fake_run)
    answer = CliRunner().invoke(bench_cli.bench_group, ["intake", "--rounds", "3", "--json"])

    assert answer.exit_code == 0, answer.output
    assert calls == [True, False, False]
    document = json.loads(answer.stdout)
    assert [r["ratio"] for r in document["rounds"]["rounds"]] == [0.4, 0.5, 0.6]
    assert document["rounds"]["verdict"]["passed"] is True
