"""What the drill commands print: ``drill run``'s report, ``drill history``'s table and trend, ``drill image
build``'s images, each from its JSON document."""

from __future__ import annotations

from typing import Any

from qfbackup.output.humanize import duration, short_id, size, when
from qfbackup.output.words import kind_word

_LABEL = 12  # the width of the label column in ``drill run``'s report


def _verdict(passed: bool) -> str:
    return "PASSED" if passed else "FAILED"


def _row(label: str, text: str) -> str:
    """``label`` in the label column, ``text`` after it; a multi-line text's later lines indented under it."""
    indent = "\n" + " " * (2 + _LABEL)
    return f"  {label:<{_LABEL}}{indent.join(text.splitlines() or [''])}"


def _target(t: dict[str, Any]) -> str:
    if t["kind"] is None:
        return f"{t['spec']} (not chosen: the drill failed first)"
    if t["kind"] == "dump":
        return f"the newest dump of {t['database']}, taken {when(t['time'])}"
    if t["kind"] == "time":
        return f"time {when(t['time'])}" + (" (random)" if t["spec"] == "random" else "")
    if t["kind"] == "lsn":
        return f"LSN {t['lsn']}"
    return "the latest stored WAL"


def run(doc: dict[str, Any]) -> str:
    """The verdict first, then what was restored, the RTO with its phases, the RPO, every proof, check and
    failure."""
    restored = "-"
    if doc["snapshot_id"] is not None:
        snapshot = kind_word("dump" if doc["kind"] == "dump" else "basebackup")
        restored = f"{snapshot} {short_id(doc['snapshot_id'])}"
        if doc["kind"] == "pitr":
            restored += f", {doc['wal_files']} WAL files staged"
    rto = "-"
    if doc["rto_seconds"] is not None:
        phases = ", ".join(f"{name} {duration(s)}" for name, s in doc["phases"].items())
        rto = f"{duration(doc['rto_seconds'])} ({phases})"
    rpo = "-"
    if doc["rpo_seconds"] is not None:
        newest = "the dump" if doc["kind"] == "dump" else "the newest stored WAL"
        rpo = f"{duration(doc['rpo_seconds'])} ({newest} was that old at drill time)"
    if doc["target_to_newest_wal_seconds"] is not None and doc["target"]["kind"] != "latest":
        rpo += f"; the target lies {duration(doc['target_to_newest_wal_seconds'])} before the newest stored WAL"
    lines = [
        f"drill {doc['id']} ({doc['kind']}) of {doc['cluster']}: {_verdict(doc['passed'])}",
        _row("started", when(doc["started_at"])),
        _row("target", _target(doc["target"])),
        _row("restored", restored),
        _row("engine", doc["engine"] or "-"),
        _row("RTO", rto),
        _row("RPO", rpo),
    ]
    lines += [_row("proof", p["message"]) for p in doc["proofs"]]
    for c in doc["checks"]:
        value = "NULL" if c["value"] is None else c["value"]
        line = f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']} ({c['database']}): {value} (expect {c['expect']})"
        lines.append(_row("check", line + (f": {c['failure']['message']}" if c["failure"] else "")))
    lines += [_row("FAILURE", f["message"]) for f in doc["failures"]]
    if doc["kept"]:
        lines.append(_row("kept", doc["kept"]))
    return "\n".join(lines)


def history(doc: dict[str, Any]) -> str:
    """One line per drill, newest first, then the trend; ``-`` for an RTO or RPO the drill did not measure."""
    if not doc["drills"]:
        return "no drills yet"

    def figure(seconds: float | None) -> str:
        return "-" if seconds is None else duration(seconds)

    lines = [
        f"{when(d['started_at'])}  {d['id']}  {d['cluster']:14} {d['kind']:5} {_verdict(d['passed'])}  "
        f"RTO {figure(d['rto_seconds'])}  RPO {figure(d['rpo_seconds'])}"
        for d in doc["drills"]
    ]
    t = doc["trend"]
    summary = f"{t['passed']}/{t['drills']} passed; last RTO {figure(t['last_rto_seconds'])}"
    if t["recent_mean_rto_seconds"] is not None:
        summary += (
            f"; mean RTO of the newer half {duration(t['recent_mean_rto_seconds'])}, "
            f"of the older half {duration(t['older_mean_rto_seconds'])}"
        )
    return "\n".join([*lines, summary])


def image_build(doc: dict[str, Any]) -> str:
    """Each image: built or reused, what it holds and where."""
    blocks = []
    for i in doc["images"]:
        if i["status"] == "policy":
            blocks.append(f"the policy names drill.image {i['name']}: drills use it as is, nothing to build")
            continue
        how = (
            f"reused the cached image in {duration(i['seconds'])}"
            if i["status"] == "cached"
            else (f"built in {duration(i['seconds'])}")
        )
        blocks.append(
            f"{i['status']}: PostgreSQL {i['pg_version']} on Debian {i['suite']} at {i['path']}\n"
            f"  {how}; {size(i['size_bytes'])}, postgres uid:gid {i['postgres_uid']}:{i['postgres_gid']}, "
            f"locales {', '.join(i['locales'])}, built {when(i['built_at'])}"
        )
    return "\n".join(blocks)
