"""``wal status``: how far behind the primary the repository's WAL is, and whether it has holes.

Stored facts come from the repository's WAL catalogue; live facts (current WAL position, the archiver's own
view) from one ``psql`` over SSH. When the host cannot be reached, the stored facts are still reported and the
unreachable host is itself a problem: during a partition this is the command that keeps alerting until the gap
is closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from qfbackup.catalog.window import Coverage, PathGap
from qfbackup.errors import QfError
from qfbackup.pg import wal
from qfbackup.remote.targets import open_session

# Times as epoch seconds (compared and subtracted here, turned into datetimes below), '' for null (never).
QUERY = (
    "select pg_current_wal_lsn(), pg_walfile_name(pg_current_wal_lsn()), extract(epoch from now()),"
    " coalesce(a.last_archived_wal, ''), coalesce(extract(epoch from a.last_archived_time)::text, ''),"
    " a.failed_count, coalesce(a.last_failed_wal, ''), coalesce(extract(epoch from a.last_failed_time)::text, ''),"
    " current_setting('archive_mode')"
    " from pg_stat_archiver a"
)

# Problem kinds (``Problem.kind``), as the JSON carries them.
GAP = "gap"
QUARANTINED = "quarantined"
LAG = "lag"
UNREACHABLE = "primary_unreachable"
ARCHIVE_MODE_OFF = "archive_mode_off"
ARCHIVE_COMMAND_FAILING = "archive_command_failing"
HISTORY_MISSING = "history_missing"


@dataclass(frozen=True)
class Problem:
    """One thing that weakens protection: its kind and the facts it is about, for a machine; in words, with the
    fix where there is one, for a person."""

    kind: str
    message: str
    fix: str | None = None
    timeline: int | None = None  # the timeline concerned (history_missing)
    file: str | None = None  # the WAL file concerned: the missing history file, or the one archiving failed on


@dataclass(frozen=True)
class Archiver:
    """The primary's pg_stat_archiver: what archive_command last did."""

    last_archived_wal: str | None
    last_archived_time: datetime | None  # None: never archived since the statistics were reset
    failed_count: int
    last_failed_wal: str | None
    last_failed_time: datetime | None  # None: never failed

    @property
    def failing(self) -> bool:
        """The newest attempt failed (a failure after the last success)."""
        if self.last_failed_time is None:
            return False
        return self.last_archived_time is None or self.last_failed_time > self.last_archived_time


@dataclass
class WalStatus:
    cluster: str
    stored_files: int = 0
    newest_segment: str | None = None
    newest_archived_at: datetime | None = None
    current_lsn: str | None = None
    current_segment: str | None = None
    server_timeline: int | None = None
    archive_mode: str | None = None
    lag_segments: int | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    archiver: Archiver | None = None  # None: the primary could not be queried
    gaps: list[PathGap] = field(default_factory=list)
    superseded_gaps: list[PathGap] = field(default_factory=list)  # before the newest base backup: PITR window holes
    timelines: dict[int, int] = field(default_factory=dict)
    quarantined: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _time(epoch: str) -> datetime | None:
    return datetime.fromtimestamp(float(epoch), UTC) if epoch else None


def _query_primary(policy, cluster) -> list[str]:
    argv = [
        str(cluster.pg_bin_dir / "psql"),
        "-AtX",
        "-F",
        "\t",
        "-h",
        str(cluster.socket_dir),
        "-p",
        str(cluster.port),
        "-U",
        cluster.user,
        "-d",
        "postgres",
        "-c",
        QUERY,
    ]
    with open_session(policy, cluster.host) as session:
        result = session.run(argv, timeout=30)
    if not result.ok:
        raise QfError(f"psql on the host failed: {result.stderr.strip()}")
    return result.stdout.decode().strip().split("\t")


def wal_status(repo, policy, cluster_name: str, *, max_lag_minutes: float | None = None) -> WalStatus:
    cluster = policy.cluster(cluster_name)
    cov = Coverage(repo, cluster_name, repo.snapshots())
    cat = cov.wal
    st = WalStatus(cluster_name, stored_files=len(cat.files), timelines=cat.timelines())
    open_gaps, superseded = cov.gaps()
    st.gaps, st.superseded_gaps = open_gaps, superseded
    st.quarantined = sorted(cat.quarantined)
    newest = cat.newest_segment()
    if newest:
        st.newest_segment, st.newest_archived_at = newest.name, datetime.fromtimestamp(newest.mtime, UTC)
    with_history = set(cat.history_timelines())
    for view in cov.views():
        if view.error and view.timeline > 1 and view.timeline not in with_history:
            name = wal.history_file_name(view.timeline)
            st.problems.append(Problem(
                HISTORY_MISSING,
                f"timeline {view.timeline} has WAL or backups but no history file {name} in the repository: nothing "
                "on it can be restored",
                fix=f"copy pg_wal/{name} from the server into the archive, then `qfbackup wal pull`",
                timeline=view.timeline, file=name,
            ))  # fmt: skip
    try:
        row = _query_primary(policy, cluster)
        lsn, seg, now, last_wal, last_time, failed, failed_wal, failed_time, archive_mode = row
    except (QfError, ValueError) as e:
        st.problems.append(Problem(UNREACHABLE, f"cannot query the primary: {getattr(e, 'message', e)}"))
    else:
        st.current_lsn, st.current_segment, st.archive_mode = lsn, seg, archive_mode
        st.server_timeline = wal.parse_segment_name(seg)[0]
        st.archiver = Archiver(last_wal or None, _time(last_time), int(failed), failed_wal or None, _time(failed_time))
        st.problems += _archiving_problems(st, cov)
        if newest:
            _, cur_segno = wal.parse_segment_name(seg)
            _, new_segno = wal.parse_segment_name(newest.name)
            # The current segment is still being written; everything before it should be stored.
            st.lag_segments = max(0, cur_segno - new_segno - 1)
            st.lag_bytes = st.lag_segments * wal.DEFAULT_SEGMENT_SIZE
            st.lag_seconds = 0.0 if st.lag_segments == 0 else max(0.0, float(now) - newest.mtime)
    if st.gaps:
        st.problems.append(
            Problem(GAP, f"{len(st.gaps)} gap(s) in the stored WAL: point-in-time recovery cannot cross them")
        )
    if st.quarantined:
        named = ", ".join(st.quarantined[:3])
        st.problems.append(Problem(QUARANTINED, f"{len(st.quarantined)} quarantined WAL file(s): {named}"))
    limit = max_lag_minutes if max_lag_minutes is not None else _policy_max_lag(policy)
    if st.lag_seconds is not None and limit and st.lag_seconds > limit * 60:
        st.problems.append(Problem(LAG, f"WAL lag {st.lag_seconds / 60:.0f} min exceeds {limit} min"))
    return st


def _archiving_problems(st: WalStatus, cov: Coverage) -> Iterator[Problem]:
    """What silently weakens protection on the server itself: no archiving, a failing archive_command, or a
    timeline the repository cannot follow (its history file never arrived, e.g. created while archiving was
    off after a restore was promoted)."""
    if st.archive_mode not in ("on", "always"):
        yield Problem(
            ARCHIVE_MODE_OFF,
            f"archive_mode is {st.archive_mode} on the primary: no WAL is archived, so nothing after "
            f"{st.newest_segment or 'the newest stored WAL'} can be restored",
            fix="ALTER SYSTEM SET archive_mode = on (and archive_command), restart the server, then take a base backup",
        )
    if st.archiver is not None and st.archiver.failing:
        failed = st.archiver.last_failed_wal
        yield Problem(
            ARCHIVE_COMMAND_FAILING,
            f"archive_command is failing on the primary (last failure on {failed}, see pg_stat_archiver and the "
            "server log)",
            fix="make archive_command succeed (disk space, permissions, a file already in the archive)",
            file=failed,
        )
    # a timeline the repository knows of (history file, WAL or backups) is reported with its view instead
    if st.server_timeline and st.server_timeline > 1 and st.server_timeline not in cov.timelines():
        name = wal.history_file_name(st.server_timeline)
        yield Problem(
            HISTORY_MISSING,
            f"the primary is on timeline {st.server_timeline} but the repository has no {name}: its WAL cannot be "
            "restored",
            fix=f"copy pg_wal/{name} from the primary into the archive directory, then `qfbackup wal pull`",
            timeline=st.server_timeline,
            file=name,
        )


def _policy_max_lag(policy) -> float | None:
    alerts = getattr(policy, "alerts", None)
    return getattr(alerts, "max_wal_lag_minutes", None) if alerts else None
