"""``wal status``: how far behind the primary the repository's WAL is, and whether it has holes.

Stored facts come from the repository's WAL catalogue; live facts (current WAL position, the archiver's own
view) from one ``psql`` over SSH. When the host cannot be reached, the stored facts are still reported and the
unreachable host is itself a problem: during a partition this is the command that keeps alerting until the gap
is closed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from qfbackup.catalog.window import Coverage
from qfbackup.errors import QfError
from qfbackup.pg import wal
from qfbackup.remote.targets import open_session

QUERY = (
    "select pg_current_wal_lsn(), pg_walfile_name(pg_current_wal_lsn()), extract(epoch from now()),"
    " coalesce(a.last_archived_wal, ''), coalesce(extract(epoch from a.last_archived_time), 0), a.failed_count,"
    " coalesce(a.last_failed_wal, ''), coalesce(extract(epoch from a.last_failed_time), 0),"
    " current_setting('archive_mode')"
    " from pg_stat_archiver a"
)


@dataclass
class WalStatus:
    cluster: str
    stored_files: int = 0
    newest_segment: str | None = None
    newest_archived_at: float | None = None
    current_lsn: str | None = None
    current_segment: str | None = None
    server_timeline: int | None = None
    archive_mode: str | None = None
    lag_segments: int | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    archiver: dict = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)
    superseded_gaps: list[str] = field(default_factory=list)  # before the newest base backup: PITR window holes
    timelines: dict[int, int] = field(default_factory=dict)
    quarantined: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        def ago(t: float | None) -> str:
            return "never" if t is None else f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(t))} UTC"

        lines = [
            f"cluster {self.cluster}: {self.stored_files} WAL file(s) stored",
            f"  newest stored segment  {self.newest_segment or '-'} (archived {ago(self.newest_archived_at)})",
            f"  primary position       {self.current_lsn or 'unknown'} in {self.current_segment or '-'}",
        ]
        if self.archive_mode is not None:
            lines.append(f"  primary archiving      archive_mode {self.archive_mode}, timeline {self.server_timeline}")
        if self.lag_segments is not None:
            lines.append(
                f"  lag                    {self.lag_segments} segment(s), {self.lag_bytes} bytes, "
                f"{self.lag_seconds:.0f} s"
            )
        lines.append(
            f"  timelines              {', '.join(f'{t} ({n} seg)' for t, n in self.timelines.items()) or '-'}"
        )
        lines += [f"  GAP {g}" for g in self.gaps]
        lines += [f"  hole in the PITR window (a newer base backup covers it): {g}" for g in self.superseded_gaps]
        lines += [f"  PROBLEM {p}" for p in self.problems]
        return "\n".join(lines)


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
    st.gaps = [str(g) for g in open_gaps]
    st.superseded_gaps = [str(g) for g in superseded]
    st.quarantined = sorted(cat.quarantined)
    newest = cat.newest_segment()
    if newest:
        st.newest_segment, st.newest_archived_at = newest.name, newest.mtime
    with_history = set(cat.history_timelines())
    for view in cov.views():
        if view.error and view.timeline > 1 and view.timeline not in with_history:
            name = wal.history_file_name(view.timeline)
            st.problems.append(
                f"timeline {view.timeline} has WAL or backups but no history file {name} in the repository: nothing "
                f"on it can be restored; fix: copy pg_wal/{name} from the server into the archive, then "
                "`qfbackup wal pull`"
            )
    try:
        row = _query_primary(policy, cluster)
        lsn, seg, now, last_wal, last_time, failed, failed_wal, failed_time, archive_mode = row
    except (QfError, ValueError) as e:
        st.problems.append(f"cannot query the primary: {getattr(e, 'message', e)}")
    else:
        st.current_lsn, st.current_segment, st.archive_mode = lsn, seg, archive_mode
        st.server_timeline = wal.parse_segment_name(seg)[0]
        st.archiver = {
            "last_archived_wal": last_wal,
            "last_archived_time": float(last_time),
            "failed_count": int(failed),
            "last_failed_wal": failed_wal,
            "last_failed_time": float(failed_time),
        }
        st.problems += _archiving_problems(st, cov, float(last_time), float(failed_time), failed_wal)
        if newest:
            _, cur_segno = wal.parse_segment_name(seg)
            _, new_segno = wal.parse_segment_name(newest.name)
            # The current segment is still being written; everything before it should be stored.
            st.lag_segments = max(0, cur_segno - new_segno - 1)
            st.lag_bytes = st.lag_segments * wal.DEFAULT_SEGMENT_SIZE
            st.lag_seconds = 0.0 if st.lag_segments == 0 else max(0.0, float(now) - newest.mtime)
    if st.gaps:
        st.problems.append(f"{len(st.gaps)} gap(s) in the stored WAL: point-in-time recovery cannot cross them")
    if st.quarantined:
        st.problems.append(f"{len(st.quarantined)} quarantined WAL file(s): {', '.join(st.quarantined[:3])}")
    limit = max_lag_minutes if max_lag_minutes is not None else _policy_max_lag(policy)
    if st.lag_seconds is not None and limit and st.lag_seconds > limit * 60:
        st.problems.append(f"WAL lag {st.lag_seconds / 60:.0f} min exceeds {limit} min")
    return st


def _archiving_problems(st: WalStatus, cov: Coverage, last_time: float, failed_time: float, failed_wal: str):
    """What silently weakens protection on the server itself: no archiving, a failing archive_command, or a
    timeline the repository cannot follow (its history file never arrived, e.g. created while archiving was
    off after a restore was promoted)."""
    if st.archive_mode not in ("on", "always"):
        yield (
            f"archive_mode is {st.archive_mode} on the primary: no WAL is archived, so nothing after "
            f"{st.newest_segment or 'the newest stored WAL'} can be restored; fix: ALTER SYSTEM SET archive_mode = on "
            "(and archive_command), restart the server, then take a base backup"
        )
    if failed_time > last_time:
        yield (
            f"archive_command is failing on the primary (last failure on {failed_wal}, see pg_stat_archiver and the "
            "server log); fix: make archive_command succeed (disk space, permissions, a file already in the archive)"
        )
    # a timeline the repository knows of (history file, WAL or backups) is reported with its view instead
    if st.server_timeline and st.server_timeline > 1 and st.server_timeline not in cov.timelines():
        name = wal.history_file_name(st.server_timeline)
        yield (
            f"the primary is on timeline {st.server_timeline} but the repository has no {name}: its WAL cannot be "
            f"restored; fix: copy pg_wal/{name} from the primary into the archive directory, then `qfbackup wal pull`"
        )


def _policy_max_lag(policy) -> float | None:
    alerts = getattr(policy, "alerts", None)
    return getattr(alerts, "max_wal_lag_minutes", None) if alerts else None
