"""Every command's JSON, declared once: the keys, their types and what they mean. The declarations feed
docs/json.md (``python -m qfbackup.output.docs``) and ``validate``, which the test suite applies to every
``--json`` output it produces, so the documentation cannot drift from what the tool prints.

One module per command group declares its ``CONTRACTS``; this package gathers them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TYPES = {
    "string": "text",
    "integer": "whole number",
    "number": "number",
    "boolean": "true or false",
    "bytes": "whole number of bytes",
    "seconds": "seconds, a number",
    "time": "ISO 8601 time with its UTC offset, for example 2026-12-03T17:29:50+00:00",
    "id": "a snapshot or key id: lower-case hex (the full id; text shows its first 12 digits)",
    "object": "object with the keys listed under it",
    "map": "object whose keys are names (listed as {}), every value of the type listed under it",
    "array": "array of the type listed under it ([])",
    "any": "free-form JSON, not specified further",
}
_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
_ID = re.compile(r"^[0-9a-f]{8,64}$")


@dataclass(frozen=True)
class Key:
    """``path`` like ``clusters[].base_backups[].id``: ``.`` a key, ``[]`` an array's items, ``{}`` a map's
    values. ``type`` is one of TYPES, with ``?`` when null is a value (``time?``: null means never)."""

    path: str
    type: str
    meaning: str
    optional: bool = False  # the key may be absent (said in ``meaning`` when)

    @property
    def base(self) -> str:
        return self.type.rstrip("?")

    @property
    def nullable(self) -> bool:
        return self.type.endswith("?")


@dataclass(frozen=True)
class Contract:
    command: str
    summary: str
    keys: tuple[Key, ...]
    #: where the document goes: a command's result on stdout, or the error object on stderr
    stream: str = "stdout"

    def all_keys(self) -> tuple[Key, ...]:
        said = f"always {self.command!r}" if self.stream == "stdout" else "the command that failed, as typed"
        head = (
            Key("version", "integer", "version of this layout (docs/json.md); bumped when a key changes meaning"),
            Key("command", "string", said),
        )
        return head + self.keys


def _parent(path: str) -> tuple[str, str | None]:
    """(parent path, key name); the name is None for ``[]`` and ``{}`` elements."""
    if path.endswith(("[]", "{}")):
        return path[:-2], None
    head, _, name = path.rpartition(".")
    return head, name


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_ok(base: str, value: Any) -> bool:
    if isinstance(value, bool):
        return base in ("boolean", "any")
    return {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int),
        "number": lambda v: isinstance(v, int | float),
        "seconds": lambda v: isinstance(v, int | float),
        "bytes": lambda v: isinstance(v, int) and v >= 0,
        "time": lambda v: isinstance(v, str) and bool(_TIME.match(v)),
        "id": lambda v: isinstance(v, str) and bool(_ID.match(v)),
        "object": lambda v: isinstance(v, dict),
        "map": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "boolean": lambda v: False,
        "any": lambda v: True,
    }[base](value)


def validate(doc: Any, contract: Contract) -> list[str]:
    """Each way ``doc`` differs from ``contract``: an undocumented key, a documented one missing, a wrong type
    (an epoch float where a time is documented, a sentence where an id is). Empty when it conforms."""
    keys = {k.path: k for k in contract.all_keys()}
    children: dict[str, list[Key]] = {}
    for k in keys.values():
        parent, name = _parent(k.path)
        if name is not None:
            children.setdefault(parent, []).append(k)
    problems: list[str] = []

    def walk(value: Any, path: str, key: Key) -> None:
        if value is None:
            if not key.nullable:
                problems.append(f"{path or '(document)'}: null, documented as {key.type}")
            return
        if not _type_ok(key.base, value):
            problems.append(f"{path or '(document)'}: {value!r:.60} is not {key.type}")
            return
        if key.base == "object":
            for child in children.get(path, ()):
                if _parent(child.path)[1] not in value and not child.optional:
                    problems.append(f"{child.path}: missing")
            for name, v in value.items():
                sub = _join(path, name)
                if sub not in keys:
                    problems.append(f"{sub}: not documented")
                else:
                    walk(v, sub, keys[sub])
        elif key.base in ("map", "array"):
            sub = path + ("{}" if key.base == "map" else "[]")
            if sub not in keys:
                problems.append(f"{sub}: not documented")
                return
            for v in value.values() if key.base == "map" else value:
                walk(v, sub, keys[sub])

    walk(doc, "", Key("", "object", "the document"))
    return problems


def all_contracts() -> dict[str, Contract]:
    """Every declared document, by command."""
    from qfbackup.output.contract import catalog, drill, errors, ingest, policy, repository, restore

    found: dict[str, Contract] = {}
    for module in (repository, ingest, catalog, restore, drill, policy, errors):
        for c in module.CONTRACTS:
            if c.command in found:
                raise ValueError(f"{c.command!r} declared twice")
            found[c.command] = c
    return found


def check(doc: Any, *, stream: str = "stdout") -> list[str]:
    """``validate`` against the contract the document names (its ``command``; on stderr, the error object)."""
    if not isinstance(doc, dict):
        return [f"a JSON document is an object, not {type(doc).__name__}"]
    name = "error" if stream == "stderr" else doc.get("command")
    contract = all_contracts().get(name)
    if contract is None:
        return [f"no contract for command {name!r} (declare it in qfbackup/output/contract/)"]
    return validate(doc, contract)
