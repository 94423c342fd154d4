"""A correction tells each department only what it may see of the corrected change."""

from services.core.follow_ups import minimise_corrections

CORRECTIONS = [
    {"path": "/data/registration", "value": {"district": "Bristol", "entry_number": 241}},
    {"path": "/data/place_of_death", "value": "Bristol Haematology and Oncology Centre"},
    {"path": "/data/parents/0/nino", "value": "QQ123456C"},
    {"path": "/data/parents/1", "value": {"nino": "QQ123456C", "given_names": "Ann"}},
]


def test_a_correction_outside_the_allowed_fields_is_left_out():
    kept = minimise_corrections(CORRECTIONS, ["data.registration"])
    assert kept == [CORRECTIONS[0]]


def test_a_corrected_object_is_cut_down_to_its_allowed_parts():
    kept = minimise_corrections(
        CORRECTIONS, ["data.registration.district", "data.parents.*.given_names"]
    )
    assert kept == [
        {"path": "/data/registration", "value": {"district": "Bristol"}},
        {"path": "/data/parents/1", "value": {"given_names": "Ann"}},
    ]


def test_a_correction_inside_an_allowed_object_is_kept():
    kept = minimise_corrections(
        [{"path": "/data/new_address/postcode", "value": "CF10 1AA"}], ["data.new_address"]
    )
    assert kept == [{"path": "/data/new_address/postcode", "value": "CF10 1AA"}]


def test_nothing_is_kept_without_allowed_fields_or_with_a_bad_path():
    assert minimise_corrections(CORRECTIONS, []) == []
    assert minimise_corrections([{"path": "", "value": 1}, {"value": 2}], ["data"]) == []
