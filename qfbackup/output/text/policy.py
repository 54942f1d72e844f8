"""What ``qfbackup policy check`` prints: the verdict and a summary, and with --show the effective policy as TOML.

TOML because it is the language the operator wrote the policy in: the output reads like the file with every
default spelled out, and it is valid TOML (unset keys appear as comments), so it can be diffed against or pasted back.
"""

from __future__ import annotations

import json
import re
from typing import Any

from qfbackup.output.humanize import count

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_NAMED_SECTIONS = ("hosts", "clusters", "filesets")


def check(doc: dict[str, Any]) -> str:
    """The verdict first, then what the policy covers and how many warnings it has; with --show the effective
    policy follows, the lines above it then being TOML comments so that the whole output stays valid TOML."""
    s = doc["summary"]
    offsite = "an off-site copy" if s["offsite"] else "no off-site copy"
    lines = [
        f"policy {doc['source']} is valid.",
        f"It covers {count(s['hosts'], 'host')}, {count(s['clusters'], 'cluster')} "
        f"({count(s['primaries'], 'primary', 'primaries')}), {count(s['filesets'], 'file set')}, "
        f"{count(s['drill_checks'], 'drill check')}, {count(s['scheduled_jobs'], 'scheduled job')} and {offsite}.",
    ]
    if s["warnings"]:
        pending = (
            f", {s['not_implemented']} of them about settings no command acts on yet" if s["not_implemented"] else ""
        )
        lines.append(f"{count(s['warnings'], 'warning')} (on stderr){pending}.")
    if "policy" not in doc:
        return "\n".join([*lines, "`qfbackup policy check --show` prints the effective policy."])
    return "\n".join(f"# {line}" for line in lines) + "\n\n" + effective_policy(doc["policy"])


def effective_policy(data: dict[str, Any]) -> str:
    """The redacted effective policy as TOML text (``name`` fields become the section names they repeat)."""
    body = {k: v for k, v in data.items() if k != "source"}
    for section in _NAMED_SECTIONS:
        entries = body.get(section) or {}
        body[section] = {n: {k: v for k, v in e.items() if k != "name"} for n, e in entries.items()}
    lines = [f"# effective policy of {data.get('source', '?')} (defaults filled in, secrets redacted)"]
    _table(body, [], lines)
    return "\n".join(lines).rstrip() + "\n"


def _table(table: dict[str, Any], path: list[str], lines: list[str]) -> None:
    for key, value in table.items():
        if _is_table(value) or _is_table_array(value):
            continue
        lines.append(f"# {_key(key)} is not set" if value is None else f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        sub_path = [*path, _key(key)]
        if _is_table(value):
            if _has_scalars(value) or not value:
                lines.extend(["", f"[{'.'.join(sub_path)}]"])
            _table(value, sub_path, lines)
        elif _is_table_array(value):
            for item in value:
                lines.extend(["", f"[[{'.'.join(sub_path)}]]"])
                _table(item, sub_path, lines)


def _is_table(value: Any) -> bool:
    return isinstance(value, dict)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _has_scalars(table: dict[str, Any]) -> bool:
    return any(not _is_table(v) and not _is_table_array(v) for v in table.values())


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        items = [_value(v) for v in value if v is not None]
        flat = "[" + ", ".join(items) + "]"
        if len(flat) <= 80:
            return flat
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    return json.dumps(str(value), ensure_ascii=False)
