"""The whole `bench intake` run with a tiny load: it works end to end (not a timed test)."""

import re

import orjson
import pytest
from click.testing import CliRunner

from services.bench.intake import run_intake_bench
from services.bench.load import distinct_bodies, example_bodies
from services.bench.report import format_table, to_json
from services.cli.bench import bench_group
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from tests.support.benchmarks import run_benchmark_script


def test_generated_changes_are_distinct_and_valid():
    registry = FileSchemaRegistry(schemas_dir())
    count = len(example_bodies()) * 3
    bodies = distinct_bodies(count) + distinct_bodies(5, start=999_999)
    assert len(set(bodies)) == len(bodies)
    for body in bodies:
        assert registry.validate(orjson.loads(body)) == []


@pytest.mark.integration
def test_the_bench_measures_four_targets_and_the_intake_accepts_every_change():
    result = run_intake_bench(requests=200, concurrency=8, warmup=20)

    assert [t.name for t in result.targets] == ["bare", "minimal", "intake", "naive"]
    for target in result.targets:
        assert target.requests == 200
        assert target.req_per_s > 0
        assert 0 < target.p50_ms <= target.p99_ms
        assert target.cpu_s is not None  # the server's own CPU in the measured run
    intake = result.target("intake")
    assert intake is not None
    assert intake.statuses == {"202": 200}
    minimal = result.target("minimal")
    assert minimal is not None
    assert minimal.statuses == {"202": 200}  # valid changes, published
    assert intake.cpu_s is not None
    assert intake.cpu_s > 0  # ~60 ms in 10 ms ticks (bare's ~16 ms could read 0)
    assert result.errors == 0
    assert "intake ≥ 50% of bare:" in format_table(result)
    assert orjson.loads(to_json(result))["requests"] == 200


@pytest.mark.integration
def test_later_rounds_measure_bare_and_intake_again_without_the_reference_intakes():
    options = ["--requests", "100", "--concurrency", "8", "--warmup", "10", "--rounds", "2"]
    answer = CliRunner().invoke(bench_group, ["intake", *options, "--json"])

    assert answer.exit_code == 0, answer.output
    document = orjson.loads(answer.stdout)
    assert [t["name"] for t in document["targets"]] == ["bare", "minimal", "intake", "naive"]
    rounds = document["rounds"]["rounds"]
    assert len(rounds) == 2
    assert all(r["comparable"] and r["baseline"] > 0 and r["target"] > 0 for r in rounds)
    assert rounds[0]["target"] == document["targets"][2]["req_per_s"]  # round 1 is the table
    assert document["rounds"]["median_ratio"] > 0


def test_the_intake_path_benchmark_runs_the_whole_load_and_prints_its_figure():
    done = run_benchmark_script("intake_path.py", "--changes", "40", "--repeats", "2")
    assert done.returncode == 0, done.stderr  # it exits 1 if a change was not accepted
    assert re.fullmatch(r"\d+\.\d µs of CPU per change \(fastest of 2 passes\)\n", done.stdout)
