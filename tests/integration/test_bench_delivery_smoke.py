"""The whole `bench delivery` run with a tiny backlog: it works end to end (not a timed test)."""

import re

import orjson
import pytest

from services.bench.backlog import DEPARTMENT, backlog_records, write_registry
from services.bench.delivery import run_delivery_bench
from services.bench.delivery_report import format_table, to_json
from services.core.departments import load_registry
from services.core.envelope import ChangeEvent
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry
from services.delivery.routing import is_routed_to
from tests.support.benchmarks import run_benchmark_script


def test_the_backlog_is_distinct_and_routed_to_the_one_department(tmp_path):
    registry_file = tmp_path / "departments.yaml"
    write_registry(registry_file, "http://127.0.0.1:9/departments/hmrc/events")
    schemas = FileSchemaRegistry(schemas_dir())
    registry = load_registry(
        registry_file, known_event_types=set(schemas.event_types()), require_secrets=True
    )
    department = registry.get(DEPARTMENT)
    assert department is not None
    assert department.max_concurrency == 64

    events = [ChangeEvent.from_kafka(r) for r in backlog_records(50, citizens=10)]
    assert len({e.event_id for e in events}) == 50
    assert len({e.reference for e in events}) == 50
    assert len({e.citizen_key for e in events}) == 10
    assert all(is_routed_to(e, department) for e in events)
    body = {"type": events[0].type, "schema_version": 1, **events[0].document()}
    body.pop("notify")
    body.pop("original_type")  # the event's own routing fields are not part of a request
    body["consent"] = {"notify": [DEPARTMENT]}
    for key in ("reference", "received_at"):
        body.pop(key)
    assert schemas.validate(body) == []


@pytest.mark.integration
def test_both_targets_drain_every_delivery_of_the_backlog():
    result = run_delivery_bench(deliveries=300, citizens=30)

    assert [t.name for t in result.targets] == ["bare loop", "adapter"]
    for target in result.targets:
        assert target.received == 300, target
        assert target.complete
        assert target.rate_per_s > 0
        assert target.peak_rss_mb > 0
        assert target.cpu_s > 0
    assert result.complete
    assert "every delivery arrived: PASS" in format_table(result)
    assert orjson.loads(to_json(result))["deliveries"] == 300


def test_the_delivery_path_benchmark_runs_and_prints_its_figure():
    done = run_benchmark_script("delivery_path.py", "--deliveries", "20", "--repeats", "2")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"\d+\.\d µs of CPU per delivery \(fastest of 2 passes\)\n", done.stdout)
