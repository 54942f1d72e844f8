"""``backup base``: pg_basebackup on the database host, streamed over SSH straight into the repository.

Data path: ``pg_basebackup -D - -Ft -X fetch`` writes one tar to its stdout; the SSH exec channel carries it;
a ScanningReader hands the same bytes to the repository writer (chunk, dedup, compress, encrypt, pack) and to
the tar scanner, which keeps ``backup_label`` and ``backup_manifest``. Nothing is written to a temporary file
on either side, and memory stays bounded (the writer's in-flight chunks, one pack, the SSH window).

When is it a backup: only when the remote command exited 0 with all of its output delivered (RemoteStream
raises otherwise), the tar ended with its end-of-archive marker, and label and manifest agree; then the snapshot
is committed, the one atomic step that makes it visible. Any failure before that leaves no snapshot, only
unreferenced chunks that a later backup reuses or prune removes. With ``-X fetch`` the tar carries the WAL from
its start to its stop LSN, so a committed base backup is restorable by itself; the needed segment range is still
recorded for point-in-time restores that continue from the WAL archive.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from qfbackup.catalog import kinds
from qfbackup.common.progress import ProgressFactory, no_progress
from qfbackup.common.units import mb_per_s, utc_now
from qfbackup.errors import BaseBackupFailed, RemoteError, UsageError
from qfbackup.ops.ingest.server import (
    ServerFacts,
    database_sizes,
    remote_detail,
    server_clock,
    server_facts,
)
from qfbackup.pg.basebackup import (
    LABEL_MEMBER,
    MANIFEST_MEMBER,
    REQUIRED_MEMBERS,
    BackupLabel,
    BackupPosition,
    ManifestInfo,
    backup_position,
    basebackup_argv,
    parse_backup_label,
    parse_manifest_tail,
)
from qfbackup.pg.tarscan import Capture, ScanningReader, TarScanner, TarSummary
from qfbackup.pg.wal import format_lsn
from qfbackup.policy.schema import Policy
from qfbackup.policy.sources import Cluster
from qfbackup.remote.ssh import SshSession
from qfbackup.remote.targets import open_session
from qfbackup.repo.catalog import Snapshot, StreamRef
from qfbackup.repo.repository import Repository
from qfbackup.repo.writer import RepoWriter

KIND = kinds.BASEBACKUP
STREAM = "base.tar"
#: backup_label is ~250 bytes; the manifest's WAL-Ranges and checksum are in its last few hundred bytes (its
#: per-file list before them grows with the cluster, so only a tail is kept).
CAPTURE = {LABEL_MEMBER: Capture(limit=64 * 1024), MANIFEST_MEMBER: Capture(limit=256 * 1024, tail=True)}


@dataclass
class BaseBackupResult:
    """A committed base backup and the numbers an operator (or a benchmark) wants to see."""

    snapshot: Snapshot
    cluster: str
    source_cluster: str
    from_standby: bool
    position: BackupPosition
    facts: ServerFacts
    bytes_in: int
    bytes_new: int
    bytes_stored: int
    seconds: float


def backup_source(policy: Policy, cluster_name: str, from_standby: bool | None) -> tuple[Cluster, Cluster]:
    """(the cluster being backed up, the cluster pg_basebackup connects to).

    ``from_standby`` None follows the policy (``base_backup_from``); True uses that standby, or the only cluster
    whose ``standby_of`` names this one; False forces the primary (e.g. while the standby is down).
    """
    cluster = policy.cluster(cluster_name)
    if cluster.is_standby:
        raise UsageError(
            f"cluster {cluster.name!r} is a standby: back up its primary {cluster.standby_of!r} "
            "(with --from-standby to read from this one)"
        )
    if from_standby is None:
        from_standby = cluster.base_backup_from is not None
    if not from_standby:
        return cluster, cluster
    if cluster.base_backup_from:
        return cluster, policy.cluster(cluster.base_backup_from)
    standbys = sorted(c.name for c in policy.clusters.values() if c.standby_of == cluster.name)
    if len(standbys) == 1:
        return cluster, policy.cluster(standbys[0])
    if not standbys:
        raise UsageError(
            f"cluster {cluster.name!r} has no standby in the policy",
            hint=f'add a cluster with role = "standby" and standby_of = "{cluster.name}", or drop --from-standby',
        )
    raise UsageError(
        f"cluster {cluster.name!r} has several standbys ({', '.join(standbys)})",
        hint=f"set base_backup_from in [clusters.{cluster.name}] to the one to use",
    )


@dataclass
class _Streamed:
    """What one pass over the tar stream produced."""

    ref: StreamRef
    tar: TarSummary
    label: BackupLabel
    manifest: ManifestInfo
    position: BackupPosition
    seconds: float
    stopped_at: str
    end_time: str | None


def _stream_tar(session: SshSession, source: Cluster, label: str, segment_size: int, w: RepoWriter) -> _Streamed:
    """Run pg_basebackup and store its stdout while the scanner reads label and manifest from the same bytes.

    Raises (RemoteError, TarFormatError, BadBackupMetadata) unless the command succeeded and the tar is whole and
    consistent; the caller commits only after this returned.
    """
    argv = basebackup_argv(source.pg_bin_dir, socket_dir=source.socket_dir, port=source.port, user=source.user,
                           label=label)  # fmt: skip
    scanner = TarScanner(CAPTURE, require=REQUIRED_MEMBERS)
    t0 = time.monotonic()
    with session.stream(argv) as out:
        ref = w.store_stream(ScanningReader(out, scanner))
    seconds, stopped_at = time.monotonic() - t0, utc_now()
    try:  # after pg_basebackup exited: never before the consistency point
        end_time = server_clock(session, source)
    except RemoteError:  # a hiccup now must not lose the backup: planning falls back to stopped_at + 1 s
        end_time = None
    tar = scanner.finish()
    backup_label = parse_backup_label(tar.captured[LABEL_MEMBER].data)
    manifest = parse_manifest_tail(tar.captured[MANIFEST_MEMBER].data)
    position = backup_position(backup_label, manifest, segment_size)
    return _Streamed(ref, tar, backup_label, manifest, position, seconds, stopped_at, end_time)


def _meta(
    cluster: Cluster, source: Cluster, facts: ServerFacts, s: _Streamed, started_at: str, stats: dict[str, int]
) -> dict[str, object]:
    """The snapshot metadata: everything restore, retention and an operator need without reading the tar."""
    return {
        "cluster": cluster.name,
        "source_cluster": source.name,
        "host": source.host,
        "from_standby": source.name != cluster.name,
        "backup_from": s.label.backup_from,
        "label": s.label.label,
        "start_time": s.label.start_time,
        "checkpoint_lsn": format_lsn(s.label.checkpoint_lsn),
        **s.position.to_meta(),
        **facts.to_meta(),
        "started_at": started_at,
        "stopped_at": s.stopped_at,
        "end_time": s.end_time,
        "duration_s": round(s.seconds, 3),
        "throughput_mb_s": mb_per_s(s.ref.size, s.seconds),
        "bytes_raw": s.ref.size,
        "bytes_new": stats["bytes_new"],
        "bytes_stored": stats["bytes_stored"],
        "tar_members": s.tar.members,
        "wal_method": "fetch",
        "wal_included": True,  # -X fetch: the WAL from start to stop LSN is inside the tar
        "manifest_checksum": s.manifest.checksum,
        "backup_label": s.label.text,
    }


def take_base_backup(
    repo: Repository,
    policy: Policy,
    cluster_name: str,
    *,
    from_standby: bool | None = None,
    label: str | None = None,
    progress: ProgressFactory = no_progress,
    warn: Callable[[str], None] | None = None,
    workers: int | None = None,
    session_factory: Callable[[Policy, str], SshSession] = open_session,
) -> BaseBackupResult:
    """Take one base backup of ``cluster_name`` and commit it as a ``basebackup`` snapshot.

    Raises BaseBackupFailed (exit 18) if the remote command fails or the connection is lost, TarFormatError /
    BadBackupMetadata (exit 4) if the tar is incomplete or its label and manifest do not add up; in every such
    case nothing is committed. ``progress`` is opened with the size estimate before the tar starts.
    """
    cluster, source = backup_source(policy, cluster_name, from_standby)
    via_standby = source.name != cluster.name
    started_at, t0 = utc_now(), time.monotonic()
    label = label or f"qfbackup {cluster.name} {started_at}"
    conf = policy.repository
    try:
        with session_factory(policy, source.host) as session:
            facts = server_facts(session, source)
            if via_standby and not facts.in_recovery and warn is not None:
                warn(f"{source.name} is configured as a standby but is not in recovery (promoted?); backing up anyway")
            # The bar's total is the server's database sizes (pg_database_size, one query) plus the one WAL segment
            # -X fetch puts in the tar at least, not pg_basebackup's own estimate: that one only reaches its stderr
            # with -P, which is not read while the tar streams. global/, pg_xact and any further WAL are not
            # counted, so the bar may end a little past its total.
            sizes = database_sizes(session, source)
            total = sum(sizes.values()) + facts.wal_segment_size if sizes is not None else None
            with (
                progress(total) as advance,
                repo.writer(level=conf.compression_level, workers=workers or conf.workers, progress=advance) as w,
            ):
                streamed = _stream_tar(session, source, label, facts.wal_segment_size, w)
                w.flush()  # so the stored-bytes figures are final before they go into the snapshot
                stats = dict(w.stats)
                meta = _meta(cluster, source, facts, streamed, started_at, stats)
                snap = w.commit(Snapshot(kind=KIND, source=cluster.name, streams={STREAM: streamed.ref}, meta=meta))
                final = dict(w.stats)  # the result's figures count the snapshot object too
    except RemoteError as e:
        where = f"{cluster.name} (pg_basebackup on {source.name}, host {source.host})"
        raise BaseBackupFailed(where, remote_detail(e, "pg_basebackup"), hint=e.hint) from e
    return BaseBackupResult(
        snapshot=snap,
        cluster=cluster.name,
        source_cluster=source.name,
        from_standby=via_standby,
        position=streamed.position,
        facts=facts,
        bytes_in=streamed.ref.size,
        bytes_new=final["bytes_new"],
        bytes_stored=final["bytes_stored"],
        seconds=time.monotonic() - t0,
    )
