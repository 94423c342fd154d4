from services.core.minimise import collect_local_authorities, minimise
from tests.support.json_paths import leaves, within

BODY = {
    "type": "birth_registered",
    "subject": {"given_names": "Ada", "family_name": "Jones", "sex": "female"},
    "data": {
        "parents": [
            {"given_names": "Mary", "family_name": "Jones", "nino": "JT483920B"},
            {"given_names": "Tom", "family_name": "Jones"},
        ],
        "address": {"lines": ["1 High St"], "postcode": "BS1 5TR", "local_authority": "E06000023"},
        "registration": {"district": "Bristol", "entry_number": "123"},
    },
    "consent": {"notify": ["hmrc"]},
}


def test_only_allowed_paths_survive():
    allowed = ["subject.given_names", "data.parents.*.nino", "data.address"]
    result = minimise(BODY, allowed)
    assert result == {
        "subject": {"given_names": "Ada"},
        "data": {
            "parents": [{"nino": "JT483920B"}, {}],
            "address": BODY["data"]["address"],
        },
    }


def test_no_field_outside_the_allow_list_ever_survives():
    allowed = ["subject.family_name", "data.parents.*.given_names", "data.registration"]
    for leaf in leaves(minimise(BODY, allowed)):
        assert within(leaf, allowed), leaf


def test_an_empty_allow_list_keeps_nothing():
    assert minimise(BODY, []) == {}


def test_the_original_document_is_not_changed():
    before = repr(BODY)
    minimise(BODY, ["subject.given_names"])
    assert repr(BODY) == before


def test_local_authorities_are_found_anywhere_in_the_document():
    assert collect_local_authorities(BODY) == {"E06000023"}
    assert collect_local_authorities({"data": {"a": [{"local_authority": "W06000015"}]}}) == {
        "W06000015"
    }
