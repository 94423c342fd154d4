"""The schema compatibility checker: what a new version may and may not change."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from services.core.schema_compat import Incompatibility, check_compatible, check_directory

SCHEMAS_DIR = Path(__file__).resolve().parents[3] / "schemas"
COMMON_ID = "https://schemas.tellusonce.example/common/v1.json"


def _schema() -> dict[str, Any]:
    """A small change-of-address schema in the shape of the real ones, with local $defs."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://schemas.tellusonce.example/test_event/v1.json",
        "type": "object",
        "required": ["type", "schema_version", "data"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "test_event"},
            "schema_version": {"const": 1},
            "data": {
                "type": "object",
                "required": ["moved_on", "reason"],
                "additionalProperties": False,
                "properties": {
                    "moved_on": {"$ref": "#/$defs/date"},
                    "reason": {"enum": ["moved", "corrected"]},
                    "note": {"type": ["string", "null"], "maxLength": 100},
                    "lines": {"type": "array", "items": {"type": "string", "maxLength": 100}},
                    "when": {"anyOf": [{"pattern": "^[0-9]{4}$"}, {"$ref": "#/$defs/date"}]},
                },
            },
        },
        "$defs": {"date": {"type": "string", "format": "date", "maxLength": 10}},
    }


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, str]]:
    return [(i.path, i.reason) for i in check_compatible(old, new)]


def _data(schema: dict[str, Any]) -> dict[str, Any]:
    return schema["properties"]["data"]


def test_identical_schemas_are_compatible() -> None:
    assert check_compatible(_schema(), _schema()) == []


def test_the_next_version_may_change_the_type_and_schema_version_consts() -> None:
    new = _schema()
    new["properties"]["schema_version"]["const"] = 2
    new["properties"]["type"]["const"] = "test_event_renamed"
    new["$id"] = "https://schemas.tellusonce.example/test_event/v2.json"
    assert check_compatible(_schema(), new) == []


def test_adding_an_optional_property_is_compatible() -> None:
    new = _schema()
    _data(new)["properties"]["moved_in_with"] = {"type": "string", "maxLength": 100}
    assert check_compatible(_schema(), new) == []


def test_descriptions_and_titles_may_change() -> None:
    new = _schema()
    _data(new)["description"] = "What changed."
    _data(new)["properties"]["note"]["title"] = "A note"
    assert check_compatible(_schema(), new) == []


def test_reports_a_removed_required_field() -> None:
    new = _schema()
    _data(new)["required"].remove("moved_on")
    del _data(new)["properties"]["moved_on"]
    assert check_compatible(_schema(), new) == [
        Incompatibility(path="/data/moved_on", reason="required field removed")
    ]


def test_reports_a_required_field_made_optional() -> None:
    new = _schema()
    _data(new)["required"].remove("reason")
    assert _changed(_schema(), new) == [("/data/reason", "required field made optional")]


def test_reports_a_new_required_field() -> None:
    new = _schema()
    _data(new)["required"].append("note")
    assert _changed(_schema(), new) == [("/data/note", "new required field added")]


def test_reports_a_removed_optional_property() -> None:
    new = _schema()
    del _data(new)["properties"]["note"]
    assert _changed(_schema(), new) == [("/data/note", "property removed")]


def test_reports_a_narrowed_type() -> None:
    new = _schema()
    _data(new)["properties"]["note"]["type"] = ["string"]
    assert _changed(_schema(), new) == [
        ("/data/note", "type narrowed from ['string', 'null'] to ['string']")
    ]


def test_reports_a_widened_type() -> None:
    old, new = _schema(), _schema()
    old_note = _data(old)["properties"]["note"]
    old_note["type"] = "string"
    assert _changed(old, new) == [
        ("/data/note", "type widened from ['string'] to ['string', 'null']")
    ]


def test_a_type_written_as_a_string_or_a_one_item_list_is_the_same_type() -> None:
    new = _schema()
    _data(new)["type"] = ["object"]
    assert check_compatible(_schema(), new) == []


def test_reports_a_removed_enum_value() -> None:
    new = _schema()
    _data(new)["properties"]["reason"]["enum"] = ["moved"]
    assert _changed(_schema(), new) == [("/data/reason", 'enum values removed: ["corrected"]')]


def test_reports_an_added_enum_value_because_old_readers_do_not_know_it() -> None:
    new = _schema()
    _data(new)["properties"]["reason"]["enum"].append("withdrawn")
    assert _changed(_schema(), new) == [("/data/reason", 'enum values added: ["withdrawn"]')]


def test_reordered_enum_values_are_compatible() -> None:
    new = _schema()
    _data(new)["properties"]["reason"]["enum"].reverse()
    assert check_compatible(_schema(), new) == []


def test_reports_a_tightened_max_length() -> None:
    new = _schema()
    _data(new)["properties"]["note"]["maxLength"] = 50
    assert _changed(_schema(), new) == [("/data/note", "maxLength tightened from 100 to 50")]


def test_reports_a_loosened_max_length_and_a_new_min_length() -> None:
    new = _schema()
    _data(new)["properties"]["note"]["maxLength"] = 200
    _data(new)["properties"]["note"]["minLength"] = 1
    assert _changed(_schema(), new) == [
        ("/data/note", "maxLength loosened from 100 to 200"),
        ("/data/note", "minLength 1 added"),
    ]


def test_reports_a_larger_min_length() -> None:
    old, new = _schema(), _schema()
    _data(old)["properties"]["note"]["minLength"] = 1
    _data(new)["properties"]["note"]["minLength"] = 2
    assert _changed(old, new) == [("/data/note", "minLength tightened from 1 to 2")]


def test_reports_a_changed_pattern_inside_an_any_of_branch() -> None:
    new = _schema()
    _data(new)["properties"]["when"]["anyOf"][0]["pattern"] = "^[0-9]{4}-[0-9]{2}$"
    assert _changed(_schema(), new) == [
        ("/data/when", 'pattern changed from "^[0-9]{4}$" to "^[0-9]{4}-[0-9]{2}$"')
    ]


def test_reports_a_changed_number_of_any_of_branches() -> None:
    new = _schema()
    _data(new)["properties"]["when"]["anyOf"].pop()
    assert _changed(_schema(), new) == [
        ("/data/when", "number of anyOf branches changed from 2 to 1")
    ]


def test_reports_additional_properties_changed_from_true_to_false() -> None:
    old, new = _schema(), _schema()
    _data(old)["additionalProperties"] = True
    assert _changed(old, new) == [("/data", "additionalProperties changed from true to false")]


def test_a_missing_additional_properties_means_true() -> None:
    old, new = _schema(), _schema()
    del _data(old)["additionalProperties"]
    _data(new)["additionalProperties"] = True
    assert check_compatible(old, new) == []


def test_reports_a_changed_const_below_the_root() -> None:
    old, new = _schema(), _schema()
    _data(old)["properties"]["note"] = {"const": "a"}
    _data(new)["properties"]["note"] = {"const": "b"}
    assert _changed(old, new) == [("/data/note", 'const changed from "a" to "b"')]


def test_reports_a_change_in_array_items_under_a_star() -> None:
    new = _schema()
    _data(new)["properties"]["lines"]["items"]["maxLength"] = 80
    assert _changed(_schema(), new) == [("/data/lines/*", "maxLength tightened from 100 to 80")]


def test_follows_refs_into_defs_and_reports_at_every_place_that_uses_them() -> None:
    new = _schema()
    new["$defs"]["date"]["format"] = "date-time"
    assert _changed(_schema(), new) == [
        ("/data/moved_on", 'format changed from "date" to "date-time"'),
        ("/data/when", 'format changed from "date" to "date-time"'),
    ]


def test_inlining_what_a_ref_pointed_to_is_compatible() -> None:
    new = _schema()
    _data(new)["properties"]["moved_on"] = copy.deepcopy(new["$defs"]["date"])
    assert check_compatible(_schema(), new) == []


def test_follows_refs_to_another_document_through_the_resolver() -> None:
    common = {"$id": COMMON_ID, "$defs": {"name": {"type": "string", "maxLength": 80}}}
    old, new = _schema(), _schema()
    _data(old)["properties"]["given_names"] = {"$ref": "#/$defs/name"}
    old["$defs"]["name"] = {"type": "string", "maxLength": 100}
    _data(new)["properties"]["given_names"] = {"$ref": "../common/v1.json#/$defs/name"}
    asked: list[str] = []

    def resolve(uri: str) -> dict[str, Any]:
        asked.append(uri)
        return common

    found = check_compatible(old, new, resolve=resolve)
    assert _paths_and_reasons(found) == [
        ("/data/given_names", "maxLength tightened from 100 to 80")
    ]
    assert asked == [COMMON_ID]


def _paths_and_reasons(found: list[Incompatibility]) -> list[tuple[str, str]]:
    return [(i.path, i.reason) for i in found]


def test_refuses_a_ref_to_another_document_without_a_resolver() -> None:
    schema = _schema()
    _data(schema)["properties"]["nino"] = {"$ref": "../common/v1.json#/$defs/nino"}
    with pytest.raises(ValueError, match="without a resolver"):
        check_compatible(schema, copy.deepcopy(schema))


def test_refuses_a_ref_that_points_to_nothing() -> None:
    schema = _schema()
    _data(schema)["properties"]["nino"] = {"$ref": "#/$defs/nino"}
    with pytest.raises(ValueError, match="points to nothing"):
        check_compatible(schema, copy.deepcopy(schema))


def test_terminates_on_recursive_schemas_and_still_reports_changes_inside_them() -> None:
    def tree(max_length: int) -> dict[str, Any]:
        return {
            "$defs": {
                "node": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "maxLength": max_length},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                    },
                }
            },
            "$ref": "#/$defs/node",
        }

    assert check_compatible(tree(10), tree(10)) == []
    assert _paths_and_reasons(check_compatible(tree(10), tree(5))) == [
        ("/name", "maxLength tightened from 10 to 5")
    ]


def test_the_shipped_schemas_have_no_incompatibilities() -> None:
    report = check_directory(SCHEMAS_DIR)
    assert "address_changed v1 -> v2" in report
    assert report == {key: [] for key in report}


def _copy_schemas(tmp_path: Path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, root)
    return root


def _edit(path: Path, change: Any) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")


def test_check_directory_reports_a_broken_second_version(tmp_path: Path) -> None:
    root = _copy_schemas(tmp_path)

    def break_v2(schema: dict[str, Any]) -> None:
        data = schema["properties"]["data"]
        data["required"].remove("moved_on")
        del data["properties"]["moved_on"]
        data["properties"]["new_address"] = {"$ref": "../common/v1.json#/$defs/postcode"}

    _edit(root / "address_changed" / "v2.json", break_v2)
    found = _paths_and_reasons(check_directory(root)["address_changed v1 -> v2"])
    assert ("/data/moved_on", "required field removed") in found
    assert ("/data/new_address", "type changed from ['object'] to ['string']") in found


def test_check_directory_compares_each_version_with_the_one_before_in_numeric_order(
    tmp_path: Path,
) -> None:
    root = _copy_schemas(tmp_path)
    folder = root / "address_changed"
    for version in (3, 10):
        shutil.copy(folder / "v2.json", folder / f"v{version}.json")
    _edit(
        folder / "v10.json",
        lambda s: s["properties"]["data"]["required"].append("driving_licence_number"),
    )
    report = check_directory(root)
    assert [key for key in report if key.startswith("address_changed")] == [
        "address_changed v1 -> v2",
        "address_changed v2 -> v3",
        "address_changed v3 -> v10",
    ]
    assert report["address_changed v2 -> v3"] == []
    assert _paths_and_reasons(report["address_changed v3 -> v10"]) == [
        ("/data/driving_licence_number", "new required field added")
    ]
