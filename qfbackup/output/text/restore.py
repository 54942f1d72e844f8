"""Text of ``restore`` and ``restore dump``, from their documents (docs/json.md)."""

from __future__ import annotations

from typing import Any

from qfbackup.output import humanize
from qfbackup.output.humanize import short_id
from qfbackup.output.text.catalog import reach

DRY_RUN = "(dry run: nothing was changed)"


def target_text(target: dict[str, Any]) -> str:
    if target["kind"] == "latest":
        return "the latest stored WAL"
    value = humanize.when(target["value"]) if target["kind"] == "time" else target["value"]
    return f"{target['kind']} {value}" + ("" if target["inclusive"] else " (exclusive)")


def plan_text(plan: dict[str, Any]) -> str:
    """The restore plan, as ``restore`` shows it before writing (and alone under --dry-run)."""
    b, w = plan["backup"], plan["wal"]
    span = f"  {w['first']}..{w['last']}" if w["first"] else ""
    lines = [
        f"restore plan for cluster {plan['cluster']}, target {target_text(plan['target'])}, "
        f"timeline {plan['timeline']}",
        f"  base backup   {short_id(b['id'])}  consistent {humanize.when(b['consistent_at'])}  "
        f"LSN {b['start_lsn']}..{b['stop_lsn']}  {humanize.size(b['bytes'])}",
        f"  WAL           {humanize.count(w['files'], 'file')}, {humanize.size(w['bytes'])}{span}",
        f"  reachable     up to {reach(plan['reachable'], with_lsn=plan['gap'] is not None)}",
        f"  estimate      ~{humanize.duration(plan['estimated_seconds'])} to write and replay",
    ]
    return "\n".join(lines + [f"  note          {n['message']}" for n in plan["notes"]])


def restore_text(doc: dict[str, Any]) -> str:
    """``restore``: the plan under --dry-run; else what was written and what to do next (the plan went out
    before the writing started)."""
    plan, r = doc["plan"], doc["restored"]
    if r is None:
        return f"{plan_text(plan)}\n{DRY_RUN}"
    where = f"{r['host']}:{r['data_dir']}" if r["host"] else r["data_dir"]
    action = r["action"]
    lines = [
        f"restored base backup {short_id(plan['backup']['id'])} into {where} "
        f"({humanize.duration(r['write_seconds'])}); "
        f"staged {humanize.count(r['wal_files'], 'WAL file')} in {r['spool']} "
        f"({humanize.duration(r['fetch_seconds'])})",
        f"recovery target: {target_text(plan['target'])}, then {action}",
        f"the new primary: archives WAL into {r['archive_dir']} from the start"
        if r["archive_dir"]
        else "a copy: archive_mode = off (it never archives; restore with --as-primary to make a new primary)",
    ]
    if r["next_steps"]:
        lines.append("next:")
        lines += [f"  {s['message']}" for s in r["next_steps"]]
    return "\n".join(lines)


# -- restore dump ------------------------------------------------------------------------------------------------


def _source(doc: dict[str, Any]) -> str:
    return (
        f"dump of {doc['database']} from snapshot {short_id(doc['snapshot_id'])} "
        f"({humanize.when(doc['snapshot_time'])}, {humanize.size(doc['dump_bytes'])}) of cluster {doc['cluster']}"
    )


def dump_plan_text(doc: dict[str, Any], *, with_warnings: bool = True) -> str:
    """What ``restore dump`` is about to do (``with_warnings`` False when they go to stderr on their own)."""
    t, f = doc["to_dsn"], doc["to_file"]
    lines = [_source(doc)]
    if t is not None:
        if not t["apply_globals"]:
            g = "globals: skipped (--no-globals)"
        elif doc["globals_snapshot_id"] is None:
            g = "globals: none stored for this cluster"
        else:
            g = (
                f"globals from snapshot {short_id(doc['globals_snapshot_id'])} ({humanize.size(doc['globals_bytes'])}) "
                "via psql"
            )
        how = (
            "streamed into pg_restore (stdin)"
            if t["staging_dir"] is None
            else f"staged as a 0600 file in {t['staging_dir']}, then pg_restore --jobs {t['jobs']}"
        )
        lines += [
            f"target: {t['target']} (server {t['target_server_version_num']}); database {t['target_db']}: "
            f"{t['create']}",
            f"1. {g}",
            f"2. {how}; tools from {t['pg_bin_dir']} ({t['pg_restore_version']})",
        ]
    elif f is not None:
        lines.append(f"to {f['dump_file']}" + (f" and {f['globals_file']}" if f["globals_file"] else ""))
    if with_warnings:
        lines += [f"warning: {w['message']}" for w in doc["warnings"]]
    return "\n".join(lines)


def restore_dump_text(doc: dict[str, Any]) -> str:
    r = doc["restored"]
    if r is None:
        return f"{dump_plan_text(doc)}\n{DRY_RUN}"
    t, f = doc["to_dsn"], doc["to_file"]
    if t is not None:
        staging = f", staging {humanize.duration(r['staging_seconds'])}" if t["staging_dir"] else ""
        lines = [
            f"restored {doc['database']} from dump snapshot {short_id(doc['snapshot_id'])} into database "
            f"{t['target_db']} ({humanize.size(r['bytes'])}, pg_restore {humanize.duration(r['pg_restore_seconds'])}"
            f"{staging})"
        ]
        ignored = r["globals_errors_ignored"]
        if ignored:
            lines.append(f"globals: {humanize.count(len(ignored), 'expected error')} ignored (objects exist):")
            lines += [f"  {e['message']}" for e in ignored]
        return "\n".join(lines)
    lines = [
        f"wrote {f['dump_file']} ({humanize.size(doc['dump_bytes'])}, pg_dump custom format) from dump snapshot "
        f"{short_id(doc['snapshot_id'])} ({humanize.when(doc['snapshot_time'])})"
    ]
    if f["globals_file"]:
        lines.append(f"wrote {f['globals_file']} (roles and tablespaces)")
    lines += ["to restore:", *(f"  {s['message']}" for s in doc["next_steps"])]
    return "\n".join(lines)
