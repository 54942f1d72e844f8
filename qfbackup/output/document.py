"""The one shape of a command's JSON: an object with ``version`` (of this layout, docs/json.md), ``command`` (as
typed, ``wal status``) and the command's own keys. ``jsonable`` is the one conversion from library values."""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import PurePath
from typing import Any

#: Bumped when a key changes meaning or goes away; new keys do not bump it.
VERSION = 1


def document(command: str, **data: Any) -> dict[str, Any]:
    """The JSON document of ``command``: ``data`` made JSON-ready, under the version and the command name."""
    return {"version": VERSION, "command": command, **jsonable(data)}


def jsonable(value: Any) -> Any:
    """Library values as JSON values: dataclasses and mappings as objects, tuples and sets as arrays (sets
    sorted), aware datetimes as ISO 8601 with offset, paths as strings, enums as their value. A naive datetime
    is a bug (its zone would be a guess), so it raises."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} in a JSON document")
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, PurePath):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON-ready: {value!r}")


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True)
