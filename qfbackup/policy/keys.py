"""How a policy key is declared: once, on its dataclass field, for the dataclass, the reader and docs/policy.md.

``key(default, kind=..., meaning=...)`` is a ``dataclasses.field`` whose metadata holds a ``KeySpec``: the field's
name is the TOML key, its default is the key's default, and the spec says how the reader checks the value (kind,
range, choices, example) and what docs/policy.md says about it (``qfbackup.policy.docs`` generates the key tables
from these declarations, so the reference cannot drift from what the reader accepts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from qfbackup.policy.reader import (
    LIST_ITEMS,
    NAME_RE,
    NAME_RULE,
    PG_IDENT_RE,
    PG_IDENT_RULE,
    REQUIRED,
    SSH_USER_RE,
    SSH_USER_RULE,
    Table,
)

Kind = Literal[
    "text", "int", "float", "bool", "choice", "name", "pg_ident", "login", "local_path", "remote_path", "list",
    "cron", "custom",
]  # fmt: skip
"""How the reader reads a key; "custom" keys (references, nested tables, special forms) are read by their parser."""

KEY = "qfbackup.policy.key"
"""The dataclass field metadata entry holding a field's ``KeySpec``."""


class _Derived:
    def __repr__(self) -> str:
        return "DERIVED"


DERIVED: Any = _Derived()
"""Default marker for keys that may be left out but whose value comes from elsewhere (``shown_default`` says where);
the parser passes the value in, so the dataclass field itself has no default."""


@dataclass(frozen=True)
class KeySpec:
    """Everything about a key except its name and default (the field's)."""

    kind: Kind
    meaning: str
    type: str = ""  # the docs' type column; derived from the kind when empty
    shown_default: str = ""  # the docs' default column; derived from the default when empty
    low: float = 0
    high: float = 2**31
    unit: str = ""  # "seconds": shown before the range
    choices: tuple[str, ...] = ()
    example: str = ""  # what the "write it as" fix suggests
    item: str = ""  # list kind: which LIST_ITEMS validator checks each entry
    rule: str = ""  # list kind: the fix for a bad entry
    doc_name: str = ""  # the docs' key column when it is not just the field name (`clusters.NAME`)
    derived: bool = False

    def read(self, t: Table, name: str, default: Any) -> Any:
        """The value of key ``name`` in ``t`` (``default`` when absent), problems recorded on ``t``."""
        match self.kind:
            case "text":
                return t.str(name, default, example=self.example or '"..."')
            case "int":
                return t.int(name, default, low=int(self.low), high=int(self.high), example=self.example)
            case "float":
                return t.float(name, default, low=self.low, high=self.high)
            case "bool":
                return t.bool(name, default)
            case "choice":
                return t.choice(name, self.choices, default)
            case "name":
                return t.matching(name, NAME_RE, NAME_RULE, default)
            case "pg_ident":
                return t.matching(name, PG_IDENT_RE, PG_IDENT_RULE, default)
            case "login":
                return t.matching(name, SSH_USER_RE, SSH_USER_RULE, default)
            case "local_path":
                return t.local_path(name, default)
            case "remote_path":
                return t.remote_path(name, default)
            case "list":
                return t.str_list(name, default, item=LIST_ITEMS[self.item], rule=self.rule)
            case "cron":
                return t.cron(name, default)
        raise TypeError(f"key {name!r} of kind {self.kind!r} is read by its section's parser")


def key(default: Any = REQUIRED, *, factory: Callable[[], Any] | None = None, **spec: Any) -> Any:
    """Declare a policy key as a dataclass field: ``port: int = key(22, kind="int", low=1, high=65535, ...)``;
    ``factory`` instead of a default for values a dataclass may not share (mappings)."""
    derived = default is DERIVED
    metadata = {KEY: KeySpec(derived=derived, **spec)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    if default is REQUIRED or derived:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared_keys(cls: type) -> list[tuple[dataclasses.Field, KeySpec]]:
    """The fields of ``cls`` that are policy keys, in declaration order (the order docs/policy.md lists them)."""
    return [(f, f.metadata[KEY]) for f in dataclasses.fields(cls) if KEY in f.metadata]


def declared_default(f: dataclasses.Field) -> Any:
    """A key's default: the field's, REQUIRED when it has none (DERIVED ones come from the parser)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return DERIVED if f.metadata[KEY].derived else REQUIRED


def default_of(cls: type, name: str) -> Any:
    """The declared default of key ``name`` of ``cls`` (for a class or parser that shares another's defaults)."""
    return declared_default(next(f for f, _ in declared_keys(cls) if f.name == name))


def spec_of(cls: type, name: str) -> KeySpec:
    """The declaration of key ``name`` of ``cls``, for a parser that reads it itself (or in another table)."""
    return next(spec for f, spec in declared_keys(cls) if f.name == name)


@dataclass(frozen=True)
class FromEarlier:
    """A default computed from the keys read before it: ``pg_bin_dir`` follows ``pg_version``."""

    compute: Callable[[dict[str, Any]], Any]


def read_keys(t: Table, cls: type, **defaults: Any) -> dict[str, Any]:
    """Read every declared key of ``cls`` that its kind lets the reader read, in declaration order; ``defaults``
    replaces declared ones (a value, or ``FromEarlier``) and must supply the derived ones."""
    values: dict[str, Any] = {}
    for f, spec in declared_keys(cls):
        if spec.kind == "custom":
            continue
        default = defaults[f.name] if f.name in defaults else declared_default(f)
        if isinstance(default, FromEarlier):
            default = default.compute(values)
        if default is DERIVED:
            raise TypeError(f"{cls.__name__}.{f.name} is derived: its parser must pass the default")
        values[f.name] = spec.read(t, f.name, default)
    return values
