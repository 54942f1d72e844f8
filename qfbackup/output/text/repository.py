"""Text of the repository commands (`repo`, `snapshot`, `verify`, `copy`, `key`), written from their JSON
documents (qfbackup/output/contract/repository.py): sizes in IEC units, times in UTC, kinds named apart."""

from __future__ import annotations

from typing import Any

from qfbackup.output import humanize, words
from qfbackup.output.humanize import short_id

Doc = dict[str, Any]


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Left-aligned columns two spaces apart; the last column is not padded."""
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=False)) + "  " + row[-1]
        for row in (header, *rows)
    ]


def _labelled(pairs: list[tuple[str, str]]) -> list[str]:
    width = max(len(label) for label, _ in pairs) + 2
    return [f"{label.ljust(width)}{value}".rstrip() for label, value in pairs]


def _holds(counts: dict[str, int]) -> str:
    return words.kind_counts(counts) if counts else "no snapshots"


def repo_init(doc: Doc) -> str:
    lines = [f"created repository {doc['id']} at {doc['repository']}"]
    if doc["escrow_keyfile"] is not None:
        lines.append(f"escrow key file {doc['escrow_keyfile']} (key {doc['escrow_key_id']}): keep it offline")
    return "\n".join(lines)


def _lock(lock: Doc) -> str:
    kind = "exclusive" if lock["exclusive"] else "shared"
    text = (
        f"{kind} lock by {lock['command']!r} on {lock['host']} pid {lock['pid']}, "
        f"taken {humanize.when(lock['created'])}, refreshed {humanize.when(lock['refreshed'])} "
        f"(id {short_id(lock['id'])})"
    )
    return text + ("; probably stale" if lock["stale"] else "")


def repo_info(doc: Doc) -> str:
    lines = _labelled(
        [
            ("repository", doc["repository"]),
            ("id", doc["id"]),
            ("format version", str(doc["format_version"])),
            ("created", humanize.when(doc["created"])),
            ("chunk size", f"{humanize.size(doc['chunk_avg'])} on average"),
            ("pack size", humanize.size(doc["pack_size"])),
            ("stored", f"{humanize.size(doc['stored_bytes'])} in {humanize.count(doc['packs'], 'pack')}"),
            ("holds", _holds(doc["snapshots"])),
            ("locks", "none" if not doc["locks"] else ""),
        ]
    )
    return "\n".join(lines + [f"  {_lock(lock)}" for lock in doc["locks"]])


def repo_cleanup(doc: Doc) -> str:
    packs = f"{humanize.count(len(doc['packs']), 'unreferenced pack')} ({humanize.size(doc['bytes'])})"
    if doc["dry_run"]:
        return "\n".join([f"would remove {packs}", *(f"  {name}" for name in doc["packs"])])
    return f"removed {packs} and {humanize.count(doc['temp_files'], 'temporary file')}"


def snapshot_create(doc: Doc) -> str:
    return (
        f"{words.kind_word(doc['kind'])} {short_id(doc['id'])} of {doc['source']}: "
        f"{humanize.count(doc['files'], 'file')}, {humanize.count(doc['dirs'], 'directory', 'directories')}; "
        f"read {humanize.size(doc['bytes_in'])}, {humanize.size(doc['bytes_new'])} new, "
        f"{humanize.size(doc['bytes_stored'])} stored"
    )


def snapshot_list(doc: Doc) -> str:
    snaps = doc["snapshots"]
    if not snaps:
        return "no snapshots"
    rows = [
        (
            short_id(s["id"]),
            humanize.when(s["time"]),
            words.kind_word(s["kind"]),
            humanize.size(s["bytes_in"]) if s["bytes_in"] is not None else "-",
            s["source"],
            ",".join(s["tags"]),
        )
        for s in snaps
    ]
    return "\n".join(line.rstrip() for line in _table(("ID", "TIME", "KIND", "SIZE", "SOURCE", "TAGS"), rows))


def snapshot_restore(doc: Doc) -> str:
    return (
        f"restored {humanize.count(doc['files'], 'file')} of {words.kind_word('files')} "
        f"{short_id(doc['snapshot_id'])} into {doc['target']}"
    )


def _problem(p: Doc) -> list[str]:
    if p["kind"] == "blob":
        what = f"blob {p['object_id'][:16]}" + (f" in {p['object']}" if p["object"] else "")
    else:
        what = f"{p['kind']} {p['object']}"
    lines = [f"ERROR {what}: {p['message']}"]
    if p["affected"]:
        lines.append(
            "  affects "
            + ", ".join(f"{words.kind_word(a['kind'])} {short_id(a['snapshot_id'])}" for a in p["affected"])
        )
    return lines


def verify(doc: Doc) -> str:
    lines = [
        f"checked {_holds(doc['snapshots'])}; {humanize.count(doc['indexes'], 'index file')}, "
        f"{humanize.count(doc['packs'], 'pack')}"
    ]
    if doc["read_data"]:
        subset = f", a random {doc['subset']:g}% of them" if doc["subset"] < 100 else ""
        lines.append(
            f"read {humanize.count(doc['packs_read'], 'pack')} ({humanize.size(doc['bytes_read'])}{subset}), "
            f"{humanize.count(doc['blobs_checked'], 'blob')} checked"
        )
    if doc["orphan_packs"]:
        lines.append(
            f"{humanize.count(len(doc['orphan_packs']), 'unreferenced pack')} from interrupted backups "
            "(harmless; `qfbackup repo cleanup` removes them)"
        )
    for problem in doc["errors"]:
        lines += _problem(problem)
    if doc["ok"]:
        lines.append("repository OK")
    return "\n".join(lines)


def copy(doc: Doc) -> str:
    lines = [
        f"copied {humanize.count(doc['copied'], 'object')} ({humanize.size(doc['bytes_copied'])}) to {doc['to']}; "
        f"{doc['present']} already there"
    ]
    if doc["keys_removed"]:
        lines.append(f"removed {humanize.count(len(doc['keys_removed']), 'key')} gone here from the mirror:")
        lines += [f"  {key_id}" for key_id in doc["keys_removed"]]
    if doc["corrupt"]:
        lines.append(f"not copied, corrupt here: {humanize.count(len(doc['corrupt']), 'object')}")
        lines += [f"  {name}" for name in doc["corrupt"]]
    return "\n".join(lines)


def key_add(doc: Doc) -> str:
    label = f" ({doc['label']})" if doc["label"] else ""
    return f"added {doc['kind']} key {doc['id']}{label}"


def key_list(doc: Doc) -> str:
    rows = [
        ("*" if k["current"] else " ", k["id"], k["kind"], humanize.when(k["created"]), k["host"], k["label"])
        for k in doc["keys"]
    ]
    lines = _table(("", "ID", "KIND", "CREATED", "HOST", "LABEL"), rows)
    return "\n".join([*(line.rstrip() for line in lines), "(* the key this command unlocked with)"])


def key_remove(doc: Doc) -> str:
    return f"removed key {doc['id']}"


def key_passwd(doc: Doc) -> str:
    return f"passphrase changed: key {doc['id']} replaces key {doc['replaced_key_id']}"
