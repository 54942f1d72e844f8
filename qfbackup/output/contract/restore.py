"""JSON contracts of the restore commands, ``restore`` and ``restore dump`` (see
qfbackup/output/contract/__init__.py)."""

from qfbackup.output.contract import Contract, Key
from qfbackup.output.contract.catalog import reach_keys


def _message_list(path: str, meaning: str) -> tuple[Key, ...]:
    return (
        Key(path, "array", meaning),
        Key(f"{path}[]", "object", "one of them"),
        Key(f"{path}[].message", "string", "in words"),
    )


def _stored_wal(path: str, meaning: str) -> tuple[Key, ...]:
    return (
        Key(path, "object?", meaning),
        Key(f"{path}.segment", "string", "the segment's file name"),
        Key(f"{path}.archived_at", "time", "when PostgreSQL archived it"),
    )


_P = "plan"
_R = "restored"

RESTORE = Contract(
    "restore",
    "A point-in-time restore of a cluster: the plan (all of it under `--dry-run`) and what was written.",
    (
        Key("dry_run", "boolean", "true: only planned, nothing was written (`restored` is null)"),
        Key(_P, "object", "the plan: which base backup, which WAL, how far replay gets"),
        Key(f"{_P}.cluster", "string", "the cluster"),
        Key(f"{_P}.target", "object", "the recovery target"),
        Key(f"{_P}.target.kind", "string", "`latest`, `time`, `lsn`, `xid` or `name`"),
        Key(f"{_P}.target.value", "string?", "the time, LSN, xid or restore point name as given; null for latest"),
        Key(f"{_P}.target.inclusive", "boolean", "false with `--target-exclusive`: stop just before the target"),
        Key(f"{_P}.timeline", "integer", "the timeline recovery follows"),
        Key(f"{_P}.backup", "object", "the base backup restored"),
        Key(f"{_P}.backup.id", "id", "its snapshot id"),
        Key(f"{_P}.backup.stopped_at", "time?", "when pg_basebackup finished"),
        Key(f"{_P}.backup.consistent_at", "time", "its consistency point: no earlier target is reachable from it"),
        Key(f"{_P}.backup.start_lsn", "string?", "its start LSN"),
        Key(f"{_P}.backup.stop_lsn", "string?", "its stop LSN"),
        Key(f"{_P}.backup.bytes", "bytes", "the size of its tar"),
        Key(f"{_P}.wal", "object", "the WAL staged for replay (every history file, then the path's segments)"),
        Key(f"{_P}.wal.files", "integer", "how many files"),
        Key(f"{_P}.wal.bytes", "bytes", "their size"),
        Key(f"{_P}.wal.first", "string?", "the first file in replay order (null: none)"),
        Key(f"{_P}.wal.last", "string?", "the last one"),
        *reach_keys(f"{_P}.reachable", "the latest point replay from this backup can reach (as `list` says it)"),
        Key(f"{_P}.gap", "string?", "the missing segment that cuts the WAL short while later WAL is stored"),
        *_stored_wal(f"{_P}.would_reach", "past a gap: the newest stored WAL on the path, which replay cannot reach"),
        *_stored_wal(f"{_P}.newer_elsewhere", "newer WAL on another timeline than the (default, highest) one followed"),
        Key(f"{_P}.newer_elsewhere.timeline", "integer", "the timeline it is on (`--timeline N` follows it)"),
        Key(f"{_P}.newer_elsewhere.message", "string", "what the plan misses, in words"),
        Key(f"{_P}.restore_point", "object?", "a `--target-name` target: the restore point it means"),
        Key(f"{_P}.restore_point.name", "string", "its name"),
        Key(f"{_P}.restore_point.lsn", "string", "the LSN of its record"),
        Key(f"{_P}.restore_point.time", "time", "when it was created"),
        Key(f"{_P}.restore_point.timeline", "integer", "the timeline of the segment it is in"),
        Key(f"{_P}.restore_point.segment", "string", "the segment it is in"),
        Key(
            f"{_P}.unreadable_snapshots",
            "array",
            "snapshots the catalogue could not read (a newer backup or WAL may be among them)",
        ),
        Key(f"{_P}.unreadable_snapshots[]", "object", "one of them"),
        Key(f"{_P}.unreadable_snapshots[].id", "id", "its id"),
        Key(f"{_P}.unreadable_snapshots[].message", "string", "why it cannot be read"),
        Key(f"{_P}.estimated_seconds", "seconds", "a rough estimate of writing and replaying"),
        *_message_list(f"{_P}.notes", "what the operator should know about this plan"),
        Key(_R, "object?", "what was written; null under `--dry-run`"),
        Key(f"{_R}.data_dir", "string", "the new data directory"),
        Key(f"{_R}.host", "string?", "the host it is on (`--host`); null: this machine"),
        Key(f"{_R}.spool", "string", "the directory the WAL was staged in"),
        Key(f"{_R}.restore_command", "string", "the restore_command written into postgresql.auto.conf"),
        Key(f"{_R}.action", "string", "what the server does at the target: promote, pause or shutdown"),
        Key(
            f"{_R}.archive_dir",
            "string?",
            "`--as-primary`: where the new primary archives; null: a copy, never archiving",
        ),
        Key(f"{_R}.bytes_written", "bytes", "bytes of the base backup written"),
        Key(f"{_R}.write_seconds", "seconds", "writing the base backup"),
        Key(f"{_R}.wal_files", "integer", "WAL files staged"),
        Key(f"{_R}.fetch_seconds", "seconds", "staging the WAL"),
        *_message_list(f"{_R}.next_steps", "what to do next (start the server, watch its log, remove the spool)"),
    ),
)

_T = "to_dsn"
_F = "to_file"
_D = "restored"

RESTORE_DUMP = Contract(
    "restore dump",
    "A logical dump restored into a server (`--to-dsn`) or written to files (`--to-file`).",
    (
        Key("dry_run", "boolean", "true: only planned (the target was inspected, not changed; `restored` is null)"),
        Key("cluster", "string", "the cluster the dump was taken from"),
        Key("database", "string", "the dumped database"),
        Key("snapshot_id", "id", "the dump snapshot used"),
        Key("snapshot_time", "time", "when that snapshot was committed"),
        Key("dump_bytes", "bytes", "the size of the database's dump"),
        Key("globals_snapshot_id", "id?", "the snapshot the globals (roles, tablespaces) come from; null: none stored"),
        Key("globals_bytes", "bytes", "the size of the globals script (0: none)"),
        Key(_T, "object?", "into a server; null with `--to-file`"),
        Key(f"{_T}.target", "string", "the target DSN, its password (if any) shown as <redacted>"),
        Key(f"{_T}.target_db", "string", "the database restored into"),
        Key(
            f"{_T}.create",
            "string",
            "how it comes to exist: `pg_restore --create`, `CREATE DATABASE` or `existing empty database`",
        ),
        Key(f"{_T}.apply_globals", "boolean", "false with `--no-globals`"),
        Key(f"{_T}.jobs", "integer", "pg_restore --jobs"),
        Key(f"{_T}.staging_dir", "string?", "where the dump is staged as a file for --jobs > 1; null: streamed"),
        Key(f"{_T}.pg_bin_dir", "string", "the client tools used"),
        Key(f"{_T}.pg_restore_version", "string", "`pg_restore --version`"),
        Key(f"{_T}.target_server_version_num", "integer", "the target server's server_version_num"),
        Key(_F, "object?", "to files; null with `--to-dsn`"),
        Key(f"{_F}.dump_file", "string", "the custom-format dump written (0600)"),
        Key(f"{_F}.globals_file", "string?", "the globals script written beside it; null: none stored"),
        *_message_list("warnings", "what may not come back as it was (also on stderr)"),
        *_message_list("next_steps", "`--to-file`: how to restore the files by hand; empty otherwise"),
        Key(_D, "object?", "what was done; null under `--dry-run`"),
        Key(f"{_D}.bytes", "bytes", "bytes of the dump restored or written"),
        Key(f"{_D}.seconds", "seconds", "how long it took in all"),
        *_message_list(
            f"{_D}.globals_errors_ignored", "errors of the globals script that change nothing (objects that exist)"
        ),
        Key(f"{_D}.globals_seconds", "seconds?", "running the globals script; null with `--to-file`"),
        Key(f"{_D}.staging_seconds", "seconds?", "staging the dump as a file (--jobs > 1); null otherwise"),
        Key(f"{_D}.pg_restore_seconds", "seconds?", "pg_restore itself; null with `--to-file`"),
    ),
)

CONTRACTS = [RESTORE, RESTORE_DUMP]
