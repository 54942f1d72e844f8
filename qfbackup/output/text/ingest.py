"""Text of the ingest commands (``wal pull``, ``wal status``, ``backup base``, ``backup dump``), written from their
JSON documents (qfbackup/output/contract/ingest.py). The runbooks quote the ``GAP`` and ``PROBLEM`` lines."""

from __future__ import annotations

from typing import Any

from qfbackup.output.humanize import count, duration, rate, short_id, size, when
from qfbackup.output.words import kind_word

Doc = dict[str, Any]
LABEL = 22  # width of the label column; a value's further lines are indented to its column


def _row(label: str, value: str, indent: str = "  ") -> str:
    """``label  value``, a multi-line value's further lines under its first."""
    first, *rest = str(value).splitlines() or [""]
    pad = "\n" + " " * (len(indent) + LABEL + 1)
    return f"{indent}{label:<{LABEL}} {first}" + "".join(pad + line for line in rest)


def _tagged(tag: str, message: str) -> str:
    """``  TAG message``, further lines of the message indented under it."""
    first, *rest = message.splitlines() or [""]
    pad = "\n" + " " * (len(tag) + 3)
    return f"  {tag} {first}" + "".join(pad + line for line in rest)


def _names(names: list[str]) -> str:
    return "\n".join(names)


# --- wal pull ---------------------------------------------------------------------------------------------------


def wal_pull(doc: Doc) -> str:
    return "\n".join(_pulled(c) for c in doc["clusters"])


def _pulled(c: Doc) -> str:
    lines = [
        f"{c['cluster']}: stored {count(len(c['pulled']), 'WAL file')}, {size(c['bytes_in'])} read, "
        f"{size(c['bytes_stored'])} added to the repository, in {duration(c['duration_s'])}"
    ]
    if c["in_progress"]:
        lines.append(_row("still being archived", _names(c["in_progress"])))
    if c["removed_from_host"]:
        lines.append(_row("removed from the host", count(len(c["removed_from_host"]), "file")))
    if c["reconnects"]:
        lines.append(_row("connection lost", f"reconnected {count(c['reconnects'], 'time')}"))
    for q in c["quarantined"]:
        lines.append(
            _tagged(f"QUARANTINED {q['name']}:", q["message"] + (" (already quarantined)" if q["previously"] else ""))
        )
    lines += [_tagged("GAP", g["message"]) for g in c["gaps"]]
    return "\n".join(lines)


# --- wal status -------------------------------------------------------------------------------------------------


def wal_status(doc: Doc) -> str:
    return "\n\n".join(_status(c) for c in doc["clusters"])


def _archiver(a: Doc) -> str:
    last = a["last_archived_wal"]
    text = f"last archived {last} at {when(a['last_archived_time'])}" if last else "nothing archived yet"
    if a["failed_count"]:
        failed = f"the last on {a['last_failed_wal']} at {when(a['last_failed_time'])}" if a["last_failed_wal"] else ""
        text += f"\n{count(a['failed_count'], 'failure')}" + (f", {failed}" if failed else "")
    return text


def _status(c: Doc) -> str:
    newest = c["newest_segment"]
    archived = f" (archived {when(c['newest_archived_at'])})" if newest else ""
    lines = [
        f"cluster {c['cluster']}: {count(c['stored_files'], 'WAL file')} stored",
        _row("newest stored segment", f"{newest or '-'}{archived}"),
        _row("primary position", f"{c['current_lsn'] or 'unknown'} in {c['current_segment'] or '-'}"),
    ]
    if c["archive_mode"] is not None:
        lines.append(_row("primary archiving", f"archive_mode {c['archive_mode']}, timeline {c['server_timeline']}"))
    if c["archiver"] is not None:
        lines.append(_row("archiver", _archiver(c["archiver"])))
    if c["lag_segments"] is not None:
        lag = f"{count(c['lag_segments'], 'segment')} ({size(c['lag_bytes'])}), {duration(c['lag_seconds'])}"
        lines.append(_row("lag", lag))
    timelines = sorted(c["timelines"].items(), key=lambda kv: int(kv[0]))
    lines.append(_row("timelines", ", ".join(f"{t} ({n} seg)" for t, n in timelines) or "-"))
    lines += [_tagged("GAP", g["message"]) for g in c["gaps"]]
    lines += [
        _tagged("hole in the PITR window (a newer base backup covers it):", g["message"]) for g in c["superseded_gaps"]
    ]
    for p in c["problems"]:
        lines.append(_tagged("PROBLEM", p["message"] + (f"\nfix: {p['fix']}" if p["fix"] else "")))
    return "\n".join(lines)


# --- backup base, backup dump -----------------------------------------------------------------------------------


def _figures(doc: Doc) -> str:
    return (
        f"{size(doc['bytes_in'])} read, {size(doc['bytes_stored'])} added to the repository, "
        f"in {duration(doc['duration_s'])} ({rate(doc['bytes_in'], doc['duration_s'])})"
    )


def backup_base(doc: Doc) -> str:
    source = f" (from {doc['source_cluster']})" if doc["from_standby"] else ""
    lines = [
        f"{kind_word(doc['kind'])} {short_id(doc['id'])} of {doc['cluster']}{source}: {_figures(doc)}",
        _row("WAL", f"{doc['wal_first_segment']}..{doc['wal_last_segment']}"),
        _row("LSN", f"{doc['start_lsn']}..{doc['stop_lsn']}"),
    ]
    if doc["end_time"] is not None:  # else restore plans from stopped_at, a moment later
        lines.append(_row("consistent at", when(doc["end_time"])))
    return "\n".join(lines)


def _dumped(o: Doc) -> str:
    if o["error"] is None:
        return f"{size(o['size'])} in {duration(o['duration_s'])}"
    return f"FAILED: {o['error']['message']}"


def backup_dump(doc: Doc) -> str:
    lines = [f"{kind_word(doc['kind'])} {short_id(doc['id'])} of {doc['cluster']}: {_figures(doc)}"]
    lines += [_row(name, _dumped(o)) for name, o in doc["databases"].items()]
    if doc["globals"] is not None:
        lines.append(_row("globals", _dumped(doc["globals"])))
    return "\n".join(lines)
