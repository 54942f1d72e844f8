"""The contract checker must catch each way a JSON document can drift from docs/json.md."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from qfbackup.output.contract import Contract, Key, check, validate
from qfbackup.output.document import VERSION, document, jsonable

C = Contract(
    "demo",
    "a demo",
    (
        Key("id", "id", "the id"),
        Key("finished_at", "time?", "when; null: never"),
        Key("size", "bytes", "bytes"),
        Key("items", "array", "items"),
        Key("items[]", "object", "an item"),
        Key("items[].name", "string", "its name"),
        Key("items[].note", "string", "a note", optional=True),
        Key("phases", "map", "per phase"),
        Key("phases{}", "seconds", "how long"),
        Key("meta", "any", "free-form"),
    ),
)


def _doc(**over):
    doc = document(
        "demo", id="0123abcd" * 8, finished_at=None, size=10, items=[{"name": "a"}], phases={"x": 1.5}, meta={"q": [1]}
    )
    return {**doc, **over}


def test_a_conforming_document_passes():
    assert validate(_doc(), C) == []
    assert validate(_doc(finished_at="2026-12-03T17:29:50+00:00", items=[{"name": "a", "note": "n"}]), C) == []


@pytest.mark.parametrize(
    ("over", "problem"),
    [
        ({"finished_at": 1764782990.5}, "finished_at: 1764782990.5 is not time?"),
        ({"finished_at": "2026-12-03 17:29:50"}, "is not time?"),
        ({"size": None}, "size: null, documented as bytes"),
        ({"size": -1}, "size: -1 is not bytes"),
        ({"size": True}, "size: True is not bytes"),
        ({"id": "snapshot 0123abcd"}, "is not id"),
        ({"extra": 1}, "extra: not documented"),
        ({"items": [{"name": "a", "sentence": "x"}]}, "items[].sentence: not documented"),
        ({"items": [{}]}, "items[].name: missing"),
        ({"phases": {"x": "long"}}, "phases{}: 'long' is not seconds"),
        ({"version": "1"}, "version: '1' is not integer"),
    ],
)
def test_each_drift_is_reported(over, problem):
    problems = validate(_doc(**over), C)
    assert any(problem in p for p in problems), problems


def test_a_missing_top_level_key_is_reported():
    doc = _doc()
    del doc["size"]
    assert validate(doc, C) == ["size: missing"]


def test_check_finds_the_contract_by_command_and_rejects_unknown_ones():
    assert check({"version": VERSION, "command": "no such"}) == [
        "no contract for command 'no such' (declare it in qfbackup/output/contract/)"
    ]
    assert check([1]) == ["a JSON document is an object, not list"]
    err = document("wal status", error={"code": 20, "kind": "WalGapOpen", "severity": "warning", "message": "m",
                                        "fix": None})  # fmt: skip
    assert check(err, stream="stderr") == []


def test_jsonable_converts_library_values_and_refuses_naive_times():
    assert jsonable({"t": datetime(2026, 12, 3, tzinfo=UTC), "p": Path("/x"), "s": {"b", "a"}, "u": (1, 2)}) == {
        "t": "2026-12-03T00:00:00+00:00",
        "p": "/x",
        "s": ["a", "b"],
        "u": [1, 2],
    }
    with pytest.raises(ValueError, match="naive"):
        jsonable(datetime(2026, 12, 3))
    with pytest.raises(TypeError, match="not JSON-ready"):
        jsonable(object())
