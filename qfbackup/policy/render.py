"""The effective policy as TOML text, for ``qfbackup policy check``.

TOML because it is the language the operator wrote the policy in: the output reads like the file with every
default spelled out, and it is valid TOML (unset keys appear as comments), so it can be diffed against or pasted back.
"""

from __future__ import annotations

import json
import re
from typing import Any

from qfbackup.policy.schema import Policy

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_NAMED_SECTIONS = ("hosts", "clusters", "filesets")


def policy_summary(policy: Policy) -> str:
    """One line saying what the policy covers: the first thing an operator wants to see after "valid"."""
    jobs = len(policy.schedule.jobs())
    offsite = "off-site copy" if policy.offsite else "no off-site copy"
    return (
        f"policy {policy.source} is valid: {len(policy.hosts)} hosts, {len(policy.clusters)} clusters, "
        f"{len(policy.filesets)} file sets, {len(policy.drill.checks)} drill checks, {jobs} scheduled jobs, {offsite}."
    )


def render_policy(data: dict[str, Any]) -> str:
    """Render ``Policy.redacted()`` output as TOML text (``name`` fields become the section names they repeat)."""
    body = {k: v for k, v in data.items() if k not in ("source", "warnings")}
    for section in _NAMED_SECTIONS:
        entries = body.get(section) or {}
        body[section] = {n: {k: v for k, v in e.items() if k != "name"} for n, e in entries.items()}
    lines = [f"# effective policy of {data.get('source', '?')} (defaults filled in, secrets redacted)"]
    _render_table(body, [], lines)
    return "\n".join(lines).rstrip() + "\n"


def _render_table(table: dict[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not _is_table(v) and not _is_table_array(v)}
    for key, value in scalars.items():
        if value is None:
            lines.append(f"# {_key(key)} is not set")
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        sub_path = [*path, _key(key)]
        if _is_table(value):
            if _has_scalars(value) or not value:
                lines.extend(["", f"[{'.'.join(sub_path)}]"])
            _render_table(value, sub_path, lines)
        elif _is_table_array(value):
            for item in value:
                lines.extend(["", f"[[{'.'.join(sub_path)}]]"])
                _render_table(item, sub_path, lines)


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
        return repr(value)
    if isinstance(value, list):
        items = [_value(v) for v in value if v is not None]
        flat = "[" + ", ".join(items) + "]"
        if len(flat) <= 80:
            return flat
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    return json.dumps(str(value), ensure_ascii=False)
