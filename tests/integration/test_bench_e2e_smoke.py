"""The whole `bench e2e` run with a tiny load: it works end to end (not a timed test)."""

import orjson
import pytest
import yaml

from services.bench.e2e import DEPARTMENTS, change_bodies, run_e2e_bench, write_registry
from services.bench.e2e_report import BARE, E2E, format_table, to_json
from services.bench.e2e_stages import ACCEPTED_TO_CONSUMED, CONSUMED_TO_POST, POST_TO_RECEIPT
from services.core.departments import load_registry
from services.core.resources import schemas_dir
from services.core.schema_registry import FileSchemaRegistry

RATE, DURATION = 20, 3
CHANGES = RATE * DURATION

PROCESSES = {
    BARE: ["broker", "bare consumers", "load generator + producer", "receiver"],
    E2E: ["broker", "intake", "adapters", "tracker", "load generator", "receiver"],
}


def test_the_load_is_distinct_valid_citizens_consenting_to_the_five_departments(tmp_path):
    schemas = FileSchemaRegistry(schemas_dir())
    bodies = [orjson.loads(b) for b in change_bodies(40)]
    assert len({b["subject"]["nino"] for b in bodies}) == 40
    for body in bodies:
        assert schemas.validate(body) == []
        assert body["consent"]["notify"] == list(DEPARTMENTS)

    registry_file = tmp_path / "departments.yaml"
    write_registry(registry_file, "http://127.0.0.1:9/departments")
    registry = load_registry(
        registry_file, known_event_types=set(schemas.event_types()), require_secrets=True
    )
    assert registry.ids() == list(DEPARTMENTS)
    for department in registry:
        assert str(department.endpoint).endswith(f"/departments/{department.id}/events")
        assert department.rate_limit_per_s >= 100_000
    raw = yaml.safe_load(registry_file.read_text(encoding="utf-8"))
    assert all(d["signing_secret"].startswith("whsec_") for d in raw["departments"])


@pytest.mark.integration
def test_every_change_reaches_every_department_once_in_both_legs():
    result = run_e2e_bench(rate=RATE, duration_s=DURATION, drain_timeout_s=20)

    assert [leg.name for leg in result.legs] == [BARE, E2E]
    for leg in result.legs:
        assert leg.sent == leg.accepted == CHANGES, leg.statuses
        assert leg.expected == leg.delivered == CHANGES * len(DEPARTMENTS)
        assert leg.lost == 0
        assert leg.duplicates == 0
        assert leg.unexpected == 0
        latency = leg.latency
        assert latency.count == CHANGES * len(DEPARTMENTS)
        assert 0 < latency.p50_ms <= latency.p95_ms <= latency.p99_ms <= latency.max_ms
        assert [p.name for p in leg.processes] == PROCESSES[leg.name]
        for process in leg.processes:
            assert process.cpu_s >= 0
            assert process.peak_rss_mb > 0, process
    e2e = result.leg(E2E)
    assert e2e is not None
    # Not min_ms: the record is on the broker before the 202 leaves the intake, so on a busy
    # machine a push can (rightly) reach a department before the citizen sees the 202.
    assert {d: s.count for d, s in e2e.per_department.items()} == dict.fromkeys(
        DEPARTMENTS, CHANGES
    )
    by_stage = {stage.name: stage for stage in e2e.stages}
    for name in (ACCEPTED_TO_CONSUMED, CONSUMED_TO_POST, POST_TO_RECEIPT):
        assert by_stage[name].latency.count == CHANGES * len(DEPARTMENTS)
    assert result.complete

    table = format_table(result)
    assert "every change accepted and delivered to every department: PASS" in table
    assert "no delivery doubled or unexpected: PASS" in table
    assert "end-to-end p99 ≤ 100 ms:" in table
    for names in PROCESSES.values():
        for name in names:
            assert name in table
    document = orjson.loads(to_json(result))
    assert [leg["lost"] for leg in document["legs"]] == [0, 0]
    assert document["ratios"]["latency.p99_ms"] > 0
