"""docs/policy.md's key tables, generated from the key declarations (storage, sources, jobs, schema): no drift.

The prose of docs/policy.md is written by hand; each table sits between ``<!-- keys NAME -->`` and
``<!-- end keys -->`` and is rewritten from ``TABLES[NAME]``. ``python -m qfbackup.policy.docs`` rewrites the file
(``--check``: exit 1 if it is not up to date); tests/unit/policy/test_docs.py fails when the committed file differs.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path, PurePath
from typing import Any

from qfbackup.common import docfile
from qfbackup.policy.jobs import Alerts, Drill, DrillCheck, KeepRule, Retention, Schedule
from qfbackup.policy.keys import DERIVED, KeySpec, declared_default, declared_keys
from qfbackup.policy.reader import REQUIRED
from qfbackup.policy.schema import Policy
from qfbackup.policy.sources import Cluster, FileSet, FileSource, Host
from qfbackup.policy.storage import Offsite, Repository

TABLES: dict[str, type] = {
    "top": Policy,
    "repository": Repository,
    "offsite": Offsite,
    "hosts": Host,
    "clusters": Cluster,
    "filesets": FileSet,
    "filesets.sources": FileSource,
    "schedule": Schedule,
    "keep-rule": KeepRule,
    "retention": Retention,
    "drill": Drill,
    "drill.checks": DrillCheck,
    "alerts": Alerts,
}
"""Table name in the markers -> the dataclass whose declared keys it lists, in declaration order."""

BLOCK_RE = re.compile(r"(<!-- keys (?P<name>[a-z.-]+) -->\n)(?P<body>.*?)(<!-- end keys -->)", re.DOTALL)
DEFAULT_DOC = Path("docs/policy.md")


def key_table(cls: type) -> str:
    """The markdown table of ``cls``'s keys: key, type, default, meaning."""
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for f, spec in declared_keys(cls):
        cells = [spec.doc_name or f"`{f.name}`", type_text(spec), default_text(f, spec), spec.meaning]
        if any("|" in c for c in cells):
            raise ValueError(f"{cls.__name__}.{f.name}: a table cell cannot contain '|'")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def type_text(spec: KeySpec) -> str:
    """The type column: the declared text, else what the kind and range say."""
    if spec.type:
        return spec.type
    match spec.kind:
        case "int":
            span = f"{int(spec.low)}-{int(spec.high)}"
            return f"{spec.unit}, {span}" if spec.unit else span
        case "float":
            return f"{spec.low:g}-{spec.high:g}"
        case "choice":
            return " or ".join(f'`"{c}"`' for c in spec.choices)
    names = {
        "text": "text",
        "bool": "bool",
        "name": "name",
        "pg_ident": "PostgreSQL name",
        "login": "login name",
        "local_path": "path",
        "remote_path": "remote path",
        "list": "list of text",
        "cron": "cron expression",
    }
    if spec.kind not in names:
        raise ValueError(f"a {spec.kind!r} key needs a declared type text")
    return names[spec.kind]


def default_text(f: dataclasses.Field, spec: KeySpec) -> str:
    """The default column: the declared text, else the default as it would be written in TOML."""
    if spec.shown_default:
        return spec.shown_default
    default = declared_default(f)
    if default is DERIVED:
        raise ValueError(f"{f.name}: a derived key needs a declared default text")
    return "required" if default is REQUIRED else toml_value(default)


def toml_value(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"`{value}`"
    if isinstance(value, str | PurePath):
        return f'`"{value}"`'
    if isinstance(value, tuple):
        return "`[" + ", ".join(f'"{v}"' for v in value) + "]`"
    if dataclasses.is_dataclass(value):  # a keep rule: the counts it sets
        parts = [f"{f.name} = {getattr(value, f.name)}" for f in dataclasses.fields(value) if getattr(value, f.name)]
        return "`" + ", ".join(parts) + "`"
    raise ValueError(f"no docs form for a default of type {type(value).__name__}")


def render_doc(text: str) -> str:
    """``text`` with every generated table rewritten; an unknown marker, or a table with no marker, is an error."""
    seen: set[str] = set()

    def table(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in TABLES:
            raise ValueError(f"unknown key table {name!r} (known: {', '.join(TABLES)})")
        seen.add(name)
        return m.group(1) + key_table(TABLES[name]) + m.group(4)

    out = BLOCK_RE.sub(table, text)
    if missing := [n for n in TABLES if n not in seen]:
        raise ValueError(f"no <!-- keys NAME --> marker for: {', '.join(missing)}")
    return out


def main(argv: list[str] | None = None) -> int:
    return docfile.main("qfbackup.policy.docs", __doc__.split("\n")[0], DEFAULT_DOC, render_doc, argv)


if __name__ == "__main__":
    sys.exit(main())
