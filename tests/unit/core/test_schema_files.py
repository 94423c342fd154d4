"""The shipped schemas, examples and invalid bodies, checked with both validators.

Requests are validated with jsonschema-rs; ``jsonschema`` is the reference. Both must agree on
every example, every invalid case and every mutated document hypothesis can find.
"""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import referencing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing.jsonschema import DRAFT202012

from tests.fixtures.invalid_bodies import INVALID_CASES, SCHEMAS_DIR, InvalidCase

EVENT_TYPES = {
    "address_changed",
    "birth_registered",
    "death_notified",
    "name_changed",
    "notification_corrected",
    "notification_withdrawn",
    "partnership_registered",
}
ORGANISATIONS = {
    "hmrc",
    "dvla",
    "hmpo",
    "dwp",
    "council-bristol",
    "council-cardiff",
    "council-denbighshire",
}
COUNCILS = {
    "council-bristol": "E06000023",
    "council-cardiff": "W06000015",
    "council-denbighshire": "W06000004",
}
POSTCODE_AREAS = {
    "E06000023": ("BS1 ",),
    "W06000015": ("CF10 ",),
    "W06000004": ("LL15 ", "LL16 ", "LL18 "),
}
COMMON_ID = "https://schemas.tellusonce.example/common/v1.json"

# --- helpers: load the files, build both validators, list the paths each one reports ---------


@cache
def _schema_documents() -> dict[Path, dict[str, Any]]:
    return {
        path: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(SCHEMAS_DIR.glob("*/v*.json"))
    }


def _schema(key: str) -> dict[str, Any]:
    """The schema named ``"<type>/v<N>"``."""
    return _schema_documents()[SCHEMAS_DIR / f"{key}.json"]


def _example_files() -> list[Path]:
    return sorted(SCHEMAS_DIR.glob("*/examples/*.json"))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _schema_key(body: dict[str, Any]) -> str:
    return f"{body['type']}/v{body['schema_version']}"


@cache
def _rs_registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(doc["$id"], doc) for doc in _schema_documents().values()])


@cache
def _py_registry() -> referencing.Registry[Any]:
    resources = [
        (doc["$id"], DRAFT202012.create_resource(doc)) for doc in _schema_documents().values()
    ]
    return referencing.Registry().with_resources(resources)


def _rs_validator_for(schema: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for(schema, validate_formats=True, registry=_rs_registry())


def _py_validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    return Draft202012Validator(
        schema, registry=_py_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


@cache
def _rs_validator(key: str) -> Any:
    return _rs_validator_for(_schema(key))


@cache
def _py_validator(key: str) -> Draft202012Validator:
    return _py_validator_for(_schema(key))


def _pointer(parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _rs_paths(key: str, body: Any) -> set[str]:
    """Paths jsonschema-rs reports; a missing or unexpected property gets its own path."""
    paths = set()
    for error in _rs_validator(key).iter_errors(body):
        parent = _pointer(error.instance_path)
        paths.add(parent)
        if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.Required):
            paths.add(_pointer([*error.instance_path, error.kind.property]))
        if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
            paths |= {_pointer([*error.instance_path, name]) for name in error.kind.unexpected}
    return paths


def _py_paths(key: str, body: Any) -> set[str]:
    """Paths jsonschema reports; a missing or unexpected property gets its own path."""
    paths = set()
    for error in _py_validator(key).iter_errors(body):
        parent = list(error.absolute_path)
        paths.add(_pointer(parent))
        if error.validator == "required":
            missing = [name for name in error.validator_value if name not in error.instance]
            paths |= {_pointer([*parent, name]) for name in missing}
        if error.validator == "additionalProperties":
            known = error.schema.get("properties", {})
            paths |= {_pointer([*parent, name]) for name in error.instance if name not in known}
    return paths


def _walk(node: Any) -> list[dict[str, Any]]:
    """Every (sub)schema object in a document."""
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


def _addresses(node: Any) -> list[dict[str, Any]]:
    return [n for n in _walk(node) if {"lines", "postcode", "local_authority"} <= n.keys()]


# --- the schema files -------------------------------------------------------------------------


def test_every_event_type_has_a_first_version_and_nothing_else_is_there() -> None:
    folders = {p.name for p in SCHEMAS_DIR.iterdir() if p.is_dir()}
    assert folders == EVENT_TYPES | {"common"}
    for event_type in EVENT_TYPES:
        assert (SCHEMAS_DIR / event_type / "v1.json").is_file()


@pytest.mark.parametrize(
    "path", sorted(_schema_documents()), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_every_schema_is_a_valid_draft_2020_12_schema(path: Path) -> None:
    document = _schema_documents()[path]
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(document)
    jsonschema_rs.meta.validate(document)


@pytest.mark.parametrize(
    "path", sorted(_schema_documents()), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_every_schema_has_an_id_title_and_description_matching_its_file(path: Path) -> None:
    document = _schema_documents()[path]
    version = int(path.stem.removeprefix("v"))
    assert (
        document["$id"] == f"https://schemas.tellusonce.example/{path.parent.name}/v{version}.json"
    )
    assert document["title"]
    assert len(document["description"]) > 40
    if path.parent.name != "common":
        assert document["properties"]["type"] == {
            "const": path.parent.name,
            "description": "The event type.",
        }
        assert document["properties"]["schema_version"]["const"] == version
        assert document["required"] == ["type", "schema_version", "subject", "data", "consent"]
        assert document["additionalProperties"] is False


def test_every_object_is_closed_and_every_string_is_bounded() -> None:
    for path, document in _schema_documents().items():
        for node in _walk(document):
            if node.get("type") == "object":
                assert node.get("additionalProperties") is False, (path, node)
            if node.get("type") == "string":
                assert isinstance(node.get("maxLength"), int), (path, node)
            assert node.get("format", "date") in {"date", "date-time"}, (path, node)


def test_every_pattern_compiles_in_python_and_ends_safely_for_both_engines() -> None:
    patterns = [
        n["pattern"] for d in _schema_documents().values() for n in _walk(d) if "pattern" in n
    ]
    assert len(patterns) >= 12
    for pattern in patterns:
        re.compile(pattern)
        assert pattern.startswith("^")
        assert pattern.endswith("$(?!\\n)"), pattern


def test_relative_refs_reach_the_common_schema() -> None:
    refs = [n["$ref"] for d in _schema_documents().values() for n in _walk(d) if "$ref" in n]
    assert "../common/v1.json#/$defs/person" in refs
    assert all(r.startswith(("../common/v1.json#/$defs/", "#/$defs/")) for r in refs)
    assert _schema("common/v1")["$id"] == COMMON_ID


# --- the examples -----------------------------------------------------------------------------


def test_every_version_of_every_type_has_at_least_two_examples() -> None:
    counts: dict[str, int] = {}
    for path in _example_files():
        key = _schema_key(_load(path))
        assert key.split("/")[0] == path.parent.parent.name
        assert path.name.startswith(key.split("/")[1] + "-"), path.name
        counts[key] = counts.get(key, 0) + 1
    versions = {
        f"{p.parent.name}/{p.stem}" for p in _schema_documents() if p.parent.name != "common"
    }
    assert set(counts) == versions
    assert min(counts.values()) >= 2


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_example_is_valid_under_both_validators(path: Path) -> None:
    body = _load(path)
    key = _schema_key(body)
    assert _py_paths(key, body) == set()
    assert _rs_paths(key, body) == set()
    assert _rs_validator(key).is_valid(body)


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_examples_consent_to_real_organisations_and_only_to_councils_of_their_addresses(
    path: Path,
) -> None:
    body = _load(path)
    notify = body["consent"]["notify"]
    assert set(notify) <= ORGANISATIONS
    addresses = _addresses(body)
    councils = {a["local_authority"] for a in addresses}
    for organisation in notify:
        if organisation in COUNCILS and addresses:
            assert COUNCILS[organisation] in councils, organisation


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_example_postcodes_belong_to_their_local_authority(path: Path) -> None:
    for address in _addresses(_load(path)):
        assert address["postcode"].startswith(POSTCODE_AREAS[address["local_authority"]])


@pytest.mark.parametrize(
    "path",
    [p for p in _example_files() if "driving_licence_number" in _load(p)["data"]],
    ids=lambda p: f"{p.parent.parent.name}/{p.name}",
)
def test_example_driving_licences_encode_the_holder_surname_and_date_of_birth(path: Path) -> None:
    body = _load(path)
    licence = body["data"]["driving_licence_number"]
    subject = body["subject"]
    surname = re.sub("[^A-Z]", "", subject["family_name"].upper())
    assert licence[:5] == (surname[:5] + "99999")[:5]
    year, month, day = subject["date_of_birth"].split("-")
    assert licence[5] + licence[10] == year[2:]
    assert int(licence[6:8]) in {int(month), int(month) + 50}
    assert licence[8:10] == day
    assert licence[11] == subject["given_names"][0]


# --- identifiers, through the common definitions, under both engines --------------------------

IDENTIFIERS = [
    ("nino", "JT483920B", True),
    ("nino", "OA215938C", True),
    ("nino", "AB123456D", True),
    ("nino", "BG123456A", False),
    ("nino", "GB123456A", False),
    ("nino", "KN123456A", False),
    ("nino", "NK123456A", False),
    ("nino", "NT123456A", False),
    ("nino", "TN123456A", False),
    ("nino", "ZZ123456A", False),
    ("nino", "DA123456A", False),
    ("nino", "FA123456A", False),
    ("nino", "IA123456A", False),
    ("nino", "QA123456A", False),
    ("nino", "UA123456A", False),
    ("nino", "VA123456A", False),
    ("nino", "AD123456A", False),
    ("nino", "AO123456A", False),
    ("nino", "AV123456A", False),
    ("nino", "AB123456E", False),
    ("nino", "AB123456", False),
    ("nino", "AB1234567A", False),
    ("nino", "ab123456a", False),
    ("nino", "AB123456A\n", False),
    ("driving_licence_number", "MORGA657054SM9IJ", True),
    ("driving_licence_number", "SMITH9999999999A", False),
    ("driving_licence_number", "MORGA657354SM9IJ", False),
    ("driving_licence_number", "MORGA663054SM9IJ", False),
    ("driving_licence_number", "MORGA657054SM9I", False),
    ("driving_licence_number", "MORGA657054SM9IJ\n", False),
    ("passport_number", "548213907", True),
    ("passport_number", "54821390", False),
    ("passport_number", "5482139070", False),
    ("postcode", "BS1 5TR", True),
    ("postcode", "CF10 1EP", True),
    ("postcode", "LL18 1BU", True),
    ("postcode", "EC1A 1BB", True),
    ("postcode", "W1A 0AX", True),
    ("postcode", "GIR 0AA", True),
    ("postcode", "BS15TR", False),
    ("postcode", "BS1  5TR", False),
    ("postcode", "bs1 5tr", False),
    ("postcode", "BS1 5CR", False),
    ("postcode", "QS1 5TR", False),
    ("postcode", "BS1 5TR\n", False),
    ("gss_code", "E06000023", True),
    ("gss_code", "W06000004", True),
    ("gss_code", "S12000036", True),
    ("gss_code", "N09000003", True),
    ("gss_code", "X06000023", False),
    ("gss_code", "E0600002", False),
    ("date", "2024-02-29", True),
    ("date", "2023-02-29", False),
    ("date", "2023-02-30", False),
    ("date", "2023-13-01", False),
    ("date", "0000-01-01", False),
    ("date", "2023-1-1", False),
    ("partial_date", "1936", True),
    ("partial_date", "1936-08", True),
    ("partial_date", "1936-08-31", True),
    ("partial_date", "1936-08-32", False),
    ("partial_date", "1936-00", False),
    ("partial_date", "936", False),
    ("partial_date", "1936-8", False),
    ("person_name", "Siân", True),
    ("person_name", "O'Neill-Ní Bhriain", True),
    ("person_name", "", False),
    ("person_name", " Ann", False),
    ("person_name", "Ann ", False),
    ("person_name", "An\tn", False),
    ("email", "susan.price@example.org", True),
    ("email", "susan@localhost", False),
    ("email", "susan price@example.org", False),
    ("phone", "07700 900123", True),
    ("phone", "+44 29 2018 0000", True),
    ("phone", "0770090", False),
    ("organisation_id", "council-bristol", True),
    ("organisation_id", "Council-Bristol", False),
    ("reference", "C6F5-EB23-25D4", True),
    ("reference", "C6F5-EB23-25DU", False),
]


@pytest.mark.parametrize(("definition", "value", "valid"), IDENTIFIERS, ids=repr)
def test_identifier_rules_hold_in_both_engines(definition: str, value: str, valid: bool) -> None:
    schema = {"$ref": f"{COMMON_ID}#/$defs/{definition}"}
    assert _py_validator_for(schema).is_valid(value) is valid
    assert _rs_validator_for(schema).is_valid(value) is valid


# --- the invalid bodies -----------------------------------------------------------------------


def test_there_are_at_least_thirty_invalid_cases_with_distinct_names() -> None:
    names = [case.name for case in INVALID_CASES]
    assert len(names) >= 30
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda case: case.name)
def test_every_invalid_case_is_refused_by_both_validators_at_its_path(case: InvalidCase) -> None:
    py_paths = _py_paths(case.schema, case.body)
    rs_paths = _rs_paths(case.schema, case.body)
    assert case.path in py_paths, py_paths
    assert case.path in rs_paths, rs_paths


@pytest.mark.parametrize("case", INVALID_CASES, ids=lambda case: case.name)
def test_every_invalid_case_is_refused_by_the_schema_its_own_type_names(case: InvalidCase) -> None:
    key = f"{case.body.get('type')}/v{case.body.get('schema_version')}"
    if SCHEMAS_DIR / f"{key}.json" not in _schema_documents():
        assert case.path in {"/type", "/schema_version"}
        return
    assert case.path in _rs_paths(key, case.body)


# --- both validators agree on whatever hypothesis makes of the examples -----------------------

_CHARACTERS = st.characters(exclude_categories=("Cs",))
# Half of the edits use whitespace or NUL, where regex engines and formats differ most.
_TWEAK_CHARACTERS = st.sampled_from(list(" \n\x00")) | st.sampled_from(
    list("AZaz09-/@+.\t\x7féŵ\u00a0\u2028")
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_CHARACTERS, max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)
_KEYS = st.sampled_from(
    ["nino", "town", "foo", "type", "lines", "value", "notify", "sex", ""]
) | st.text(max_size=8)


def _locations(node: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The location of every value in a document, root excluded."""
    found = []
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, value in children:
        found.append((*at, key))
        found += _locations(value, (*at, key))
    return found


def _get(document: Any, location: tuple[Any, ...]) -> Any:
    for key in location:
        document = document[key]
    return document


def _tweak(draw: st.DrawFn, text: str) -> str:
    """A small edit, most often at an edge of the string, where the engines differ most."""
    character = draw(_TWEAK_CHARACTERS)
    at = draw(st.integers(min_value=0, max_value=len(text)))
    padding = character * draw(st.integers(min_value=1, max_value=600))
    edits = [
        text + character,
        text + character,
        character + text,
        text[:at] + character + text[at:],
        text[:at] + text[at + 1 :],
        text[:at] + character + text[at + 1 :],
        text.swapcase(),
        text + padding,
    ]
    return draw(st.sampled_from(edits))


def _mutate(draw: st.DrawFn, document: dict[str, Any]) -> None:
    """Apply one mutation: tweak a string, delete or replace a value, add a key, repeat an item."""
    locations = _locations(document)
    kind = draw(st.sampled_from(["tweak"] * 4 + ["delete", "replace", "add", "duplicate"]))
    if kind == "tweak":
        location = draw(
            st.sampled_from([loc for loc in locations if isinstance(_get(document, loc), str)])
        )
        _set(document, location, _tweak(draw, _get(document, location)))
    elif kind == "add":
        objects = [(), *(loc for loc in locations if isinstance(_get(document, loc), dict))]
        _get(document, draw(st.sampled_from(objects)))[draw(_KEYS)] = draw(_JSON)
    elif kind == "duplicate":
        location = draw(
            st.sampled_from(
                [
                    loc
                    for loc in locations
                    if _get(document, loc) and isinstance(_get(document, loc), list)
                ]
            )
        )
        items = _get(document, location)
        items.append(copy.deepcopy(draw(st.sampled_from(items))))
    elif kind == "delete":
        location = draw(st.sampled_from(locations))
        del _get(document, location[:-1])[location[-1]]
    else:
        _set(document, draw(st.sampled_from(locations)), draw(_JSON))


def _set(document: Any, location: tuple[Any, ...], value: Any) -> None:
    _get(document, location[:-1])[location[-1]] = value


@st.composite
def _mutated_examples(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    path = draw(st.sampled_from(_example_files()))
    document = copy.deepcopy(_load(path))
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        _mutate(draw, document)
    return _schema_key(_load(path)), document


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(_mutated_examples())
def test_both_validators_agree_on_mutated_examples(mutated: tuple[str, dict[str, Any]]) -> None:
    key, document = mutated
    assert _py_validator(key).is_valid(document) == _rs_validator(key).is_valid(document), document


_EDGE_EDITS = ["{}\n", "{}\r\n", " {}", "{} ", "{}\x00", "{}\u2028", "{}\u00a0", "\u00a0{}", "{}\t"]


@pytest.mark.parametrize("path", _example_files(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_both_validators_agree_on_every_string_of_an_example_edited_at_its_edges(
    path: Path,
) -> None:
    key = _schema_key(_load(path))
    document = _load(path)
    strings = [loc for loc in _locations(document) if isinstance(_get(document, loc), str)]
    refused = 0
    for location in strings:
        for edit in _EDGE_EDITS:
            edited = copy.deepcopy(document)
            _set(edited, location, edit.format(_get(document, location)))
            verdict = _py_validator(key).is_valid(edited)
            assert verdict == _rs_validator(key).is_valid(edited), (location, edit)
            refused += not verdict
    assert refused >= len(strings) * 5
