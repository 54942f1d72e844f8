"""Text of ``list`` and ``show``, from their documents (docs/json.md)."""

from __future__ import annotations

import re
from typing import Any

from qfbackup.output import humanize
from qfbackup.output.humanize import short_id
from qfbackup.output.words import kind_word

RESTORE_POINTS_SHOWN = 20  # the newest ones in the text listing; --json has them all
_ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def reach(point: dict[str, Any], *, with_lsn: bool = False) -> str:
    """A replay end (``to`` of a window, ``reachable`` of a plan) in words; ``with_lsn`` when a gap cuts it, so
    the exact position is said too."""
    if point["segment"] is None:
        return f"the end of the base backup (LSN {point['lsn']})"
    where = f"the end of {point['segment']} (archived {humanize.when(point['time'])})"
    return f"LSN {point['lsn']}, {where}" if with_lsn else where


def _window(w: dict[str, Any]) -> tuple[str, str]:
    return humanize.when(w["from"]["time"]), reach(w["to"], with_lsn=w["cut_by_gap"] is not None)


def cluster_text(c: dict[str, Any]) -> str:
    lines = [f"cluster {c['cluster']}", f"  base backups ({len(c['base_backups'])}):"]
    lines += [
        f"    {short_id(b['id'])}  consistent {humanize.when(b['consistent_at'])}  timeline {b['timeline']}  "
        f"LSN {b['start_lsn']}..{b['stop_lsn']}  {humanize.size(b['bytes'])}"
        + ("  (from the standby)" if b["from_standby"] else "")
        for b in c["base_backups"]
    ]
    lines.append(f"  dumps ({len(c['dumps'])}):")
    lines += [
        f"    {short_id(d['id'])}  {humanize.when(d['time'])}  {', '.join(d['databases']) or 'no databases'}  "
        f"{d['status']}"
        for d in c["dumps"]
    ]
    w = c["wal"]
    lines.append(
        f"  WAL: {humanize.count(w['files'], 'file')}, {w['first'] or '-'} .. {w['last'] or '-'}, "
        f"{humanize.count(len(w['gaps']), 'gap')}, {len(w['quarantined'])} quarantined"
    )
    lines += [f"    gap: {g['message']}" for g in w["gaps"]]
    lines += [f"    quarantined: {name}" for name in w["quarantined"]]
    points = c["restore_points"]
    shown = points[-RESTORE_POINTS_SHOWN:]
    lines.append(f"  restore points ({len(points)}):" + (" the newest:" if len(shown) < len(points) else ""))
    lines += [f"    {humanize.when(r['time'])}  {r['lsn']:>12}  timeline {r['timeline']}  {r['name']}" for r in shown]
    for view in c["windows"]:
        if view["error"] is not None:
            lines.append(f"  timeline {view['timeline']}: not restorable ({view['error']['message']})")
            continue
        start, end = _window(view)
        lines.append(f"  timeline {view['timeline']}: restorable from {start} to {end}")
        for earlier in view["windows"][:-1]:
            start, end = _window(earlier)
            lines.append(f"    earlier window from {start} to {end} (cut by a gap at {earlier['cut_by_gap']})")
    return "\n".join(lines)


def list_text(doc: dict[str, Any]) -> str:
    return "\n\n".join(cluster_text(c) for c in doc["clusters"]) or "nothing stored"


# -- show --------------------------------------------------------------------------------------------------------


def _is_size(key: str) -> bool:
    return key in ("size", "bytes", "wal_segment_size") or key.startswith("bytes_") or key.endswith("_bytes")


def _scalar(key: str, value: Any) -> str:
    """One value in words: sizes, durations and rates by their key's name (the units docs/format.md records
    them in), times with their zone."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if _is_size(key):
            return humanize.size(int(value))
        if key.endswith("_mb_s"):  # a stored rate in decimal MB/s, shown in the one unit system
            return humanize.rate(int(value * 10**6), 1.0)
        if key.endswith(("duration_s", "_seconds")):
            return humanize.duration(value)
        return str(value)
    if isinstance(value, str) and _ISO_TIME.match(value):
        return humanize.when(value)
    return str(value) or "-"


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _one_line(value: Any) -> bool:
    if isinstance(value, str):
        return "\n" not in value.strip()
    return _is_scalar(value) or not value or (isinstance(value, list) and all(_is_scalar(v) for v in value))


def _block(items: dict[str, Any], indent: int) -> list[str]:
    """A mapping's keys, one a line, values aligned in a column after the longest short key."""
    width = max((len(k) for k, v in items.items() if _one_line(v) and len(k) <= 40), default=0)
    out: list[str] = []
    for k, v in items.items():
        out += _lines(str(k), v, indent, width)
    return out


def _lines(key: str, value: Any, indent: int, width: int) -> list[str]:
    """``key`` and its value, laid out: a scalar on the key's line (a multi-line text indented under it), a list
    of scalars joined, a mapping or a list of mappings as blocks indented under the key."""
    pad = " " * indent
    if isinstance(value, str) and "\n" in value.strip():
        return [f"{pad}{key}", *(f"{pad}  {line}" for line in value.strip().splitlines())]
    if _is_scalar(value):
        return [f"{pad}{key:<{width}}  {_scalar(key, value)}"]
    if not value:
        return [f"{pad}{key:<{width}}  none"]
    if isinstance(value, list) and all(_is_scalar(v) for v in value):
        return [f"{pad}{key:<{width}}  {', '.join(_scalar(key, v) for v in value)}"]
    if isinstance(value, dict):
        return [f"{pad}{key}", *_block(value, indent + 2)]
    out = [f"{pad}{key} ({len(value)})"]
    for item in value:
        if isinstance(item, dict):
            lines = _block(item, indent + 4)
            if lines:  # the first key after a dash, the others aligned under it
                lines[0] = f"{pad}  - {lines[0][indent + 4 :]}"
            out += lines
        else:
            out += _lines("-", item, indent + 2, 1)
    return out


def _stream(stream: dict[str, Any]) -> str:
    return f"{humanize.size(stream['size'])} in {humanize.count(stream['chunks'], 'chunk')}"


def show_text(doc: dict[str, Any]) -> str:
    lines = [
        f"{'id':<12} {doc['id']}",
        f"{'kind':<12} {kind_word(doc['kind'])}",
        f"{'source':<12} {doc['source'] or '-'}",
        f"{'time':<12} {humanize.when(doc['time'])}",
        f"{'host':<12} {doc['host'] or '-'}",
        f"{'tags':<12} {', '.join(doc['tags']) or '-'}",
    ]
    if doc["tree"] is not None:
        lines.append(f"{'tree':<12} {doc['tree']}")
    lines.append("streams" if doc["streams"] else f"{'streams':<12} none")
    width = max((len(name) for name in doc["streams"]), default=0)
    lines += [f"  {name:<{width}}  {_stream(s)}" for name, s in doc["streams"].items()]
    if doc["stats"]:
        lines += ["stats", *_block(doc["stats"], 2)]
    if doc["meta"]:
        lines += ["meta", *_block(doc["meta"], 2)]
    return "\n".join(lines)
