import orjson
import pytest

from services.bench.load import distinct_bodies
from services.bench.naive import VALIDATORS


@pytest.mark.parametrize("name", sorted(VALIDATORS))
def test_both_reference_intakes_accept_the_load_and_refuse_invalid_changes(name):
    valid = VALIDATORS[name]()
    bodies = [orjson.loads(body) for body in distinct_bodies(20)]
    assert all(valid(body) for body in bodies)

    missing_subject = {key: value for key, value in bodies[0].items() if key != "subject"}
    wrong_version = {**bodies[1], "schema_version": 99}
    bad_nino = {**bodies[2], "subject": {**bodies[2]["subject"], "nino": "not a nino"}}
    assert not valid(missing_subject)
    assert not valid(wrong_version)
    assert not valid(bad_nino)
