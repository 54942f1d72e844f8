"""What ``qfbackup policy check`` prints: the verdict and a summary, and with --show the effective policy as TOML.

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


CHECK_JSON_VERSION = 1
"""Version of ``policy check --json``'s document; raised when a key changes meaning or goes away."""


def policy_summary(policy: Policy) -> dict[str, Any]:
    """What the policy covers, counted: the first thing an operator wants to see after "valid"."""
    return {
        "hosts": len(policy.hosts),
        "clusters": len(policy.clusters),
        "primaries": len(policy.primaries()),
        "filesets": len(policy.filesets),
        "drill_checks": len(policy.drill.checks),
        "scheduled_jobs": len(policy.schedule.jobs()),
        "offsite": policy.offsite is not None,
        "warnings": len(policy.notices),
        "not_implemented": sum(n.code == "not-implemented" for n in policy.notices),
    }


def check_report(policy: Policy, *, show: bool) -> dict[str, Any]:
    """The ``policy check`` document: the verdict, the summary and the warnings; the policy itself with --show."""
    report: dict[str, Any] = {
        "version": CHECK_JSON_VERSION,
        "valid": True,
        "source": policy.source,
        "summary": policy_summary(policy),
        "warnings": [{"code": n.code, "key": n.key, "message": n.message} for n in policy.notices],
    }
    if show:
        report["policy"] = policy.redacted()
    return report


def check_text(report: dict[str, Any]) -> str:
    """The verdict first, then what the policy covers and how many warnings it has; with --show the effective
    policy follows, the lines above it then being TOML comments so that the whole output stays valid TOML."""
    s = report["summary"]
    offsite = "an off-site copy" if s["offsite"] else "no off-site copy"
    lines = [
        f"policy {report['source']} is valid.",
        f"It covers {_count(s['hosts'], 'host')}, {_count(s['clusters'], 'cluster')} "
        f"({_count(s['primaries'], 'primary', 'primaries')}), {_count(s['filesets'], 'file set')}, "
        f"{_count(s['drill_checks'], 'drill check')}, {_count(s['scheduled_jobs'], 'scheduled job')} and {offsite}.",
    ]
    if s["warnings"]:
        pending = (
            f", {s['not_implemented']} of them about settings no command acts on yet" if s["not_implemented"] else ""
        )
        lines.append(f"{_count(s['warnings'], 'warning')} (on stderr){pending}.")
    if "policy" not in report:
        return "\n".join([*lines, "`qfbackup policy check --show` prints the effective policy."])
    return "\n".join(f"# {line}" for line in lines) + "\n\n" + render_policy(report["policy"])


def _count(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def render_policy(data: dict[str, Any]) -> str:
    """Render ``Policy.redacted()`` output as TOML text (``name`` fields become the section names they repeat)."""
    body = {k: v for k, v in data.items() if k != "source"}
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
