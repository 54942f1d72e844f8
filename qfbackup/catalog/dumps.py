"""The dumps a repository holds per cluster and database, and which one a restore uses.

The newest ``dump`` snapshot of the cluster that holds the database is used, and only if that dump succeeded:
when the latest dump *failed*, the choice is refused, naming the failure and the last good dump (``--snapshot
ID`` restores that one). Falling back silently would hand the operator data older than they believe they are
getting, in the one situation where they must know. Globals (roles, tablespaces) come from the same snapshot,
else from the dump snapshot nearest in time that has them.
"""

from __future__ import annotations

from dataclasses import dataclass

from qfbackup.catalog import kinds
from qfbackup.errors import Failed, NotFound, UsageError
from qfbackup.pg.dump import GLOBALS_STREAM, check_db_name, db_stream
from qfbackup.pg.versions import major_from_tool_version
from qfbackup.repo.catalog import Snapshot, StreamRef
from qfbackup.repo.repository import Repository

DUMP_KIND = kinds.DUMP


@dataclass(frozen=True)
class DumpChoice:
    """The dump stream to restore and the globals stream that goes with it (possibly from another snapshot)."""

    cluster: str
    db: str
    snapshot: Snapshot
    stream: StreamRef
    globals_snapshot: Snapshot | None
    globals_ref: StreamRef | None

    @property
    def dump_major(self) -> int | None:
        """Major version of the pg_dump that wrote the archive (a pg_restore at least as new is required)."""
        return major_from_tool_version(str(self.snapshot.meta.get("pg_dump_version", "")))

    @property
    def server_major(self) -> int | None:
        major = self.snapshot.meta.get("pg_major")
        return major if isinstance(major, int) else None


def _failure_detail(entry: dict) -> str:
    """Why a dump failed, on one line: the recorded error (it ends with pg_dump's stderr), else the stderr."""
    text = str(entry.get("error") or entry.get("stderr") or f"status {entry.get('status', 'unknown')}")
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= 400 else one_line[:397] + "..."


def stored_when(snap: Snapshot) -> str:
    return snap.time[:19].replace("T", " ") + " UTC"


def _globals_for(dumps: list[Snapshot], chosen: Snapshot) -> Snapshot | None:
    """Globals from the chosen snapshot, else from the dump snapshot nearest before it, else the oldest after
    it (a ``--db X --no-globals`` run makes snapshots without them); roles change rarely, and owners that do
    not exist would make every ownership statement of the restore fail."""
    if GLOBALS_STREAM in chosen.streams:
        return chosen
    have = [s for s in dumps if GLOBALS_STREAM in s.streams]
    before = [s for s in have if s.time <= chosen.time]
    return before[-1] if before else (have[0] if have else None)


def choose_dump(repo: Repository, cluster: str, db: str, snapshot_id: str | None = None) -> DumpChoice:
    """The newest successful dump of ``db`` (or the one in ``snapshot_id``); refuses when the latest failed."""
    check_db_name(db)
    dumps = [s for s in repo.snapshots() if s.kind == DUMP_KIND and s.source == cluster]
    if snapshot_id:
        snap = repo.snapshot(snapshot_id)
        if snap.kind != DUMP_KIND or snap.source != cluster:
            raise UsageError(
                f"snapshot {snap.short_id} is a {snap.kind} snapshot of {snap.source!r}, "
                f"not a dump of cluster {cluster!r}",
                hint=f"see `qfbackup list --cluster {cluster}`",
            )
        entry = snap.meta.get("databases", {}).get(db)
        if entry is None:
            held = ", ".join(sorted(snap.meta.get("databases", {}))) or "none"
            raise NotFound(f"dump snapshot {snap.short_id} holds no dump of database {db!r} (it holds: {held})")
        if entry.get("status") != "ok":
            raise Failed(
                f"the dump of {db} in snapshot {snap.short_id} ({stored_when(snap)}) failed: {_failure_detail(entry)}",
                hint=f"see `qfbackup list --cluster {cluster}` for other dumps",
            )
    else:
        if not dumps:
            others = sorted({s.source for s in repo.snapshots() if s.kind == DUMP_KIND})
            raise NotFound(
                f"no dumps of cluster {cluster!r} in {repo.store.url}",
                hint=f"clusters with dumps: {', '.join(others)}" if others else "take one: qfbackup backup dump",
            )
        with_db = [s for s in dumps if db in s.meta.get("databases", {})]
        if not with_db:
            held = sorted({d for s in dumps for d in s.meta.get("databases", {})})
            raise NotFound(
                f"cluster {cluster!r} has dumps, but none of database {db!r} (dumped: {', '.join(held) or 'none'})"
            )
        snap = with_db[-1]
        entry = snap.meta["databases"][db]
        if entry.get("status") != "ok":
            good = [s for s in with_db if s.meta["databases"][db].get("status") == "ok"]
            last = (
                f"; the last good dump is {good[-1].short_id} ({stored_when(good[-1])})"
                if good
                else "; there is no successful dump of it at all"
            )
            raise Failed(
                f"the latest dump of {db} (snapshot {snap.short_id}, {stored_when(snap)}) failed: "
                f"{_failure_detail(entry)}{last}",
                hint=(f"restore the older dump knowingly with --snapshot {good[-1].short_id}, or " if good else "")
                + f"take a new dump: qfbackup backup dump --cluster {cluster} --db {db}",
            )
    name = str(entry.get("stream") or db_stream(db))
    if name not in snap.streams:
        raise Failed(f"snapshot {snap.short_id} records the dump of {db} as ok but has no stream {name!r}")
    g = _globals_for(dumps or [snap], snap)
    return DumpChoice(cluster, db, snap, snap.streams[name], g, g.streams[GLOBALS_STREAM] if g else None)
