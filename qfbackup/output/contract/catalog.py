"""JSON contracts of the catalog commands, ``list`` and ``show`` (see qfbackup/output/contract/__init__.py)."""

from qfbackup.output.contract import Contract, Key


def gap_keys(path: str) -> tuple[Key, ...]:
    """A stretch of missing WAL segments while later WAL is stored."""
    return (
        Key(path, "object", "missing WAL segments while later WAL is stored on the path"),
        Key(f"{path}.first", "string", "the first missing segment's file name"),
        Key(f"{path}.last", "string", "the last missing segment's file name"),
        Key(f"{path}.segments", "integer", "how many segments are missing"),
        Key(f"{path}.message", "string", "the gap in words"),
    )


def reach_keys(path: str, meaning: str, *, nullable: bool = False) -> tuple[Key, ...]:
    """How far replay gets: the same object in `list` (a window's `to`) and `restore` (`plan.reachable`)."""
    return (
        Key(path, "object?" if nullable else "object", meaning),
        Key(f"{path}.lsn", "string", "the WAL position replay reaches (the end of the last readable segment)"),
        Key(
            f"{path}.time",
            "time",
            "when the last readable segment was archived (its newest commits are older); without one, the base "
            "backup's consistency point",
        ),
        Key(f"{path}.segment", "string?", "the last stored segment replay reads; null: only the base backup's WAL"),
    )


def _window_keys(path: str, *, nullable: bool) -> tuple[Key, ...]:
    edge = " (null when nothing on this timeline is restorable)" if nullable else ""
    return (
        Key(f"{path}.from", "object?" if nullable else "object", "the window's start: the oldest base backup" + edge),
        Key(f"{path}.from.backup_id", "id", "the base backup the window starts from"),
        Key(f"{path}.from.time", "time", "its consistency point: the earliest time a restore can reach"),
        Key(f"{path}.from.lsn", "string", "its stop LSN"),
        *reach_keys(f"{path}.to", "the window's end: the latest point a restore can reach" + edge, nullable=nullable),
        Key(f"{path}.cut_by_gap", "string?", "the missing segment that ends the window while later WAL is stored"),
    )


_C = "clusters[]"
_W = f"{_C}.windows[]"

LIST = Contract(
    "list",
    "What can be restored, per cluster: base backups, dumps, WAL, restore points and the restorable window of "
    "each timeline.",
    (
        Key("clusters", "array", "one entry per cluster (only the one asked for with `--cluster`), by name"),
        Key(_C, "object", "one cluster"),
        Key(f"{_C}.cluster", "string", "the cluster's name"),
        Key(f"{_C}.base_backups", "array", "its base backups, oldest first"),
        Key(f"{_C}.base_backups[]", "object", "one base backup"),
        Key(f"{_C}.base_backups[].id", "id", "the snapshot id (`show ID`, `restore --backup ID`)"),
        Key(f"{_C}.base_backups[].stopped_at", "time?", "when pg_basebackup finished (the backup VM's clock)"),
        Key(f"{_C}.base_backups[].consistent_at", "time", "its consistency point: no earlier target is reachable"),
        Key(f"{_C}.base_backups[].timeline", "integer", "the timeline it started on"),
        Key(f"{_C}.base_backups[].start_lsn", "string?", "its start LSN"),
        Key(f"{_C}.base_backups[].stop_lsn", "string?", "its stop LSN"),
        Key(f"{_C}.base_backups[].bytes", "bytes", "the size of its tar"),
        Key(f"{_C}.base_backups[].from_standby", "boolean", "read from the cluster's standby"),
        Key(f"{_C}.dumps", "array", "its dumps, oldest first"),
        Key(f"{_C}.dumps[]", "object", "one dump snapshot"),
        Key(f"{_C}.dumps[].id", "id", "the snapshot id (`restore dump --snapshot ID`)"),
        Key(f"{_C}.dumps[].time", "time", "when the snapshot was committed"),
        Key(f"{_C}.dumps[].databases", "array", "the databases it dumped, by name"),
        Key(f"{_C}.dumps[].databases[]", "string", "a database name"),
        Key(f"{_C}.dumps[].status", "string", "`ok`, or `failed` when the dump of any database failed"),
        Key(f"{_C}.wal", "object", "the stored WAL"),
        Key(f"{_C}.wal.files", "integer", "stored WAL files (segments and history files)"),
        Key(f"{_C}.wal.first", "string?", "the oldest stored segment (null: none)"),
        Key(f"{_C}.wal.last", "string?", "the newest stored segment (null: none)"),
        Key(f"{_C}.wal.gaps", "array", "gaps that cut replay from the newest base backup of some timeline short"),
        *gap_keys(f"{_C}.wal.gaps[]"),
        Key(f"{_C}.wal.quarantined", "array", "WAL files kept in quarantine (rejected by validation), by name"),
        Key(f"{_C}.wal.quarantined[]", "string", "a WAL file name"),
        Key(f"{_C}.wal.timelines", "map", "stored segments per timeline (keys: the timeline number)"),
        Key(f"{_C}.wal.timelines{{}}", "integer", "how many segments of that timeline are stored"),
        Key(f"{_C}.windows", "array", "per timeline, what a restore along it can reach"),
        Key(_W, "object", "one timeline; its current (newest) window's keys at the top"),
        Key(f"{_W}.timeline", "integer", "the timeline"),
        Key(f"{_W}.error", "object?", "why nothing on this timeline is restorable; null when something is"),
        Key(f"{_W}.error.message", "string", "the reason in words"),
        Key(f"{_W}.backups", "integer", "base backups on this timeline's history"),
        *_window_keys(_W, nullable=True),
        Key(f"{_W}.windows", "array", "every continuous restorable stretch, oldest first (the last is the current)"),
        Key(f"{_W}.windows[]", "object", "one stretch"),
        *_window_keys(f"{_W}.windows[]", nullable=False),
        Key(f"{_W}.gaps", "array", "gaps that cut replay from the newest base backup short"),
        *gap_keys(f"{_W}.gaps[]"),
        Key(f"{_W}.holes", "array", "other gaps on the path: they only end an earlier window"),
        *gap_keys(f"{_W}.holes[]"),
        Key(
            f"{_C}.restore_points", "array", "restore points (pg_create_restore_point) in the stored WAL, in WAL order"
        ),
        Key(f"{_C}.restore_points[]", "object", "one restore point (`restore --target-name NAME`)"),
        Key(f"{_C}.restore_points[].name", "string", "its name"),
        Key(f"{_C}.restore_points[].lsn", "string", "the LSN of its record"),
        Key(f"{_C}.restore_points[].time", "time", "when it was created"),
        Key(f"{_C}.restore_points[].timeline", "integer", "the timeline of the segment it is in"),
        Key(f"{_C}.restore_points[].segment", "string", "the segment it is in"),
    ),
)

SHOW = Contract(
    "show",
    "Everything recorded about one snapshot (a base backup, dump, WAL batch or file-set snapshot).",
    (
        Key("id", "id", "the snapshot id"),
        Key("kind", "string", "`basebackup`, `dump`, `wal`, `wal-quarantine` or `files`"),
        Key("source", "string", "the cluster (or the file set's source)"),
        Key("time", "time", "when the snapshot was committed"),
        Key("host", "string", "the host it was taken from (empty when not recorded)"),
        Key("tags", "array", "its tags"),
        Key("tags[]", "string", "a tag"),
        Key("tree", "id?", "a file-set snapshot's root TREE blob; null for the other kinds"),
        Key("streams", "map", "its byte streams by name (`base.tar`, `db/NAME.dump`, a WAL file name)"),
        Key("streams{}", "object", "one stream"),
        Key("streams{}.size", "bytes", "its size"),
        Key("streams{}.chunks", "integer", "how many chunks it is stored as"),
        Key("stats", "map", "what writing it cost (bytes_in, bytes_new, bytes_stored, chunks, packs, ...)"),
        Key("stats{}", "integer", "a count or a number of bytes"),
        Key(
            "meta",
            "any",
            "the kind's metadata as recorded (docs/format.md); times are ISO 8601 with their offset, a WAL "
            "file's `mtime` and a restore point's `time` included",
        ),
    ),
)

CONTRACTS = [LIST, SHOW]
