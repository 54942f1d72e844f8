"""JSON contracts of the ingest commands: ``wal pull``, ``wal status``, ``backup base``, ``backup dump`` (see
qfbackup/output/contract/__init__.py)."""

from qfbackup.output.contract import Contract, Key
from qfbackup.output.contract.catalog import gap_keys

_C = "clusters[]"
_CLUSTERS = (
    Key("clusters", "array", "one entry per cluster (only the one asked for with `--cluster`)"),
    Key(_C, "object", "one cluster"),
    Key(f"{_C}.cluster", "string", "the cluster's name"),
)


def _names(path: str, meaning: str) -> tuple[Key, ...]:
    return (Key(path, "array", meaning), Key(f"{path}[]", "string", "a WAL file name"))


WAL_PULL = Contract(
    "wal pull",
    "What one pull fetched from each cluster's archive directory on the database host, and what it kept aside. "
    "Exit 21 when a file was quarantined, else 20 when a gap is open (docs/exit-codes.md).",
    (
        *_CLUSTERS,
        *_names(f"{_C}.pulled", "files validated and stored by this run, in WAL order"),
        Key(f"{_C}.bytes_in", "bytes", "bytes read from the host (quarantined files included)"),
        Key(f"{_C}.bytes_stored", "bytes", "bytes added to the repository: packs, indexes and snapshot objects"),
        Key(f"{_C}.quarantined", "array", "files kept in quarantine instead of stored as good WAL, by name"),
        Key(f"{_C}.quarantined[]", "object", "one quarantined file"),
        Key(f"{_C}.quarantined[].name", "string", "its file name"),
        Key(
            f"{_C}.quarantined[].check",
            "string?",
            "the check it failed: `length` (other than the listed size: it changed while read), `segment` (its size "
            "or first page: magic, timeline, segment number, system identifier), `history_file` (not a readable "
            "timeline history); null for a file quarantined by a version that did not record it",
        ),
        Key(f"{_C}.quarantined[].message", "string", "why, in words"),
        Key(
            f"{_C}.quarantined[].previously",
            "boolean",
            "quarantined by an earlier run and unchanged on the host since (not read again)",
        ),
        *_names(
            f"{_C}.in_progress", "short segments younger than 2 minutes: still being archived, left for the next run"
        ),
        *_names(f"{_C}.ignored", "files in the archive directory that are not WAL (not read)"),
        *_names(f"{_C}.removed_from_host", "stored files deleted from the host (`remove_after`)"),
        Key(f"{_C}.gaps", "array", "open gaps after the pull: missing segments after the newest base backup"),
        *gap_keys(f"{_C}.gaps[]"),
        Key(f"{_C}.reconnects", "integer", "how often a lost connection was reopened during this pull"),
        Key(f"{_C}.duration_s", "seconds", "how long the pull of this cluster took"),
    ),
)

_P = f"{_C}.problems[]"
_A = f"{_C}.archiver"

WAL_STATUS = Contract(
    "wal status",
    "Per cluster: the newest stored WAL, the primary's position and archiver, lag, gaps, timelines and every "
    "problem with its fix. Exit 19 when any cluster has a problem.",
    (
        *_CLUSTERS,
        Key(f"{_C}.stored_files", "integer", "WAL files stored (segments and history files)"),
        Key(f"{_C}.newest_segment", "string?", "the newest stored segment; null: none stored"),
        Key(f"{_C}.newest_archived_at", "time?", "when the primary archived it (the file's mtime); null: none stored"),
        Key(f"{_C}.current_lsn", "string?", "the primary's current WAL position; null: the primary was not reached"),
        Key(f"{_C}.current_segment", "string?", "the segment it is writing; null: the primary was not reached"),
        Key(f"{_C}.server_timeline", "integer?", "the primary's timeline; null: the primary was not reached"),
        Key(f"{_C}.archive_mode", "string?", "the primary's archive_mode; null: the primary was not reached"),
        Key(
            f"{_C}.lag_segments",
            "integer?",
            "complete segments on the primary not stored yet; null: unknown (primary not reached, nothing stored)",
        ),
        Key(f"{_C}.lag_bytes", "bytes?", "the same in bytes"),
        Key(
            f"{_C}.lag_seconds",
            "seconds?",
            "how long ago the newest stored segment was archived, 0 when nothing is missing; null: unknown",
        ),
        Key(_A, "object?", "the primary's pg_stat_archiver; null: the primary was not reached"),
        Key(f"{_A}.last_archived_wal", "string?", "the last file archive_command archived; null: none"),
        Key(f"{_A}.last_archived_time", "time?", "when; null: never (since the statistics were reset)"),
        Key(f"{_A}.failed_count", "integer", "how often archive_command failed"),
        Key(f"{_A}.last_failed_wal", "string?", "the file of its last failure; null: none"),
        Key(f"{_A}.last_failed_time", "time?", "when it last failed; null: never"),
        Key(f"{_C}.gaps", "array", "open gaps: missing segments after the newest base backup (PITR cannot cross them)"),
        *gap_keys(f"{_C}.gaps[]"),
        Key(f"{_C}.superseded_gaps", "array", "holes before the newest base backup: they only shorten the PITR window"),
        *gap_keys(f"{_C}.superseded_gaps[]"),
        Key(f"{_C}.timelines", "map", "stored segments per timeline (keys: the timeline number)"),
        Key(f"{_C}.timelines{{}}", "integer", "how many segments of that timeline are stored"),
        *_names(f"{_C}.quarantined", "WAL files kept in quarantine, by name"),
        Key(f"{_C}.problems", "array", "what weakens protection; empty when the cluster is protected"),
        Key(_P, "object", "one problem"),
        Key(
            f"{_P}.kind",
            "string",
            "`gap`, `quarantined`, `lag`, `primary_unreachable`, `archive_mode_off`, `archive_command_failing` or "
            "`history_missing` (a timeline, the primary's or one with stored WAL or backups, without its history file)",
        ),
        Key(f"{_P}.message", "string", "the problem in words"),
        Key(f"{_P}.fix", "string?", "what to do about it; null when the exit error's advice is all there is"),
        Key(f"{_P}.timeline", "integer?", "the timeline concerned (`history_missing`); else null"),
        Key(
            f"{_P}.file",
            "string?",
            "the WAL file concerned: the missing history file, or the last one archive_command failed on; else null",
        ),
    ),
)


def _run_keys(what: str, kind: str) -> tuple[Key, ...]:
    """What every backup run reports: its snapshot, its figures and its times."""
    return (
        Key("id", "id", f"the {what} snapshot's id"),
        Key("kind", "string", f"the snapshot kind, `{kind}`"),
        Key("cluster", "string", "the cluster backed up"),
        Key("streams", "map", "the snapshot's streams by name"),
        Key("streams{}", "bytes", "a stream's size"),
        Key("bytes_in", "bytes", "bytes read from the host"),
        Key("bytes_new", "bytes", "the raw size of the chunks the repository did not have yet"),
        Key("bytes_stored", "bytes", "bytes added to the repository: packs, indexes and snapshot objects"),
        Key("duration_s", "seconds", "how long the command's work took"),
        Key("started_at", "time", "when it started (the backup VM's clock)"),
        Key("stopped_at", "time", "when the last stream ended (the backup VM's clock)"),
        Key("server_version", "string", "the PostgreSQL server's version"),
    )


BACKUP_BASE = Contract(
    "backup base",
    "The base backup just committed: its snapshot, figures, the server it was read from and its place in the WAL.",
    (
        *_run_keys("base backup", "basebackup"),
        Key("source_cluster", "string", "the cluster pg_basebackup read from (the standby with `--from-standby`)"),
        Key("from_standby", "boolean", "read from a standby"),
        Key("start_lsn", "string", "the backup's start LSN"),
        Key("stop_lsn", "string", "its stop LSN: a restore is consistent from here on"),
        Key("start_timeline", "integer", "the timeline it started on"),
        Key("stop_timeline", "integer", "the timeline it ended on"),
        Key("wal_first_segment", "string", "the first WAL segment a restore from it needs"),
        Key("wal_last_segment", "string", "the last one (all of them are also inside its tar)"),
        Key("end_time", "time?", "the server's clock right after it ended; null when it could not be read"),
        Key("system_identifier", "string", "the server's system identifier (a 64-bit number, as text)"),
    ),
)

_O = "databases{}"


def _outcome_keys(path: str) -> tuple[Key, ...]:
    return (
        Key(f"{path}.status", "string", "`ok` or `failed`"),
        Key(f"{path}.stream", "string?", "the stream holding it; null when it failed"),
        Key(f"{path}.size", "bytes", "bytes stored in that stream (0 when it failed)"),
        Key(f"{path}.duration_s", "seconds", "how long it took"),
        Key(f"{path}.error", "object?", "why it failed; null when it succeeded"),
        Key(f"{path}.error.message", "string", "the failure in words (the program's exit status and stderr tail)"),
        Key(f"{path}.error.exit_status", "integer?", "the program's exit status; null when it did not exit"),
        Key(f"{path}.error.stderr", "string", "its stderr (the tail); empty when there was none"),
    )


BACKUP_DUMP = Contract(
    "backup dump",
    "The dump snapshot just committed: per database (and for the globals) how its dump went. Exit 1 when any "
    "dump failed; the others are stored.",
    (
        *_run_keys("dump", "dump"),
        Key("status", "string", "`ok`, `partial` (some dumps failed) or `failed` (all did)"),
        Key("databases", "map", "per database (keys: its name), how its pg_dump went"),
        Key(_O, "object", "one database's dump"),
        *_outcome_keys(_O),
        Key("globals", "object?", "how pg_dumpall --globals-only went; null when globals were not dumped"),
        *_outcome_keys("globals"),
        Key("failed", "array", "the dumps that failed (database names, `globals`)"),
        Key("failed[]", "string", "a name"),
    ),
)

CONTRACTS = [WAL_PULL, WAL_STATUS, BACKUP_BASE, BACKUP_DUMP]
