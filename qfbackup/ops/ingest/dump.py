"""``backup dump``: pg_dump -Fc of each database and pg_dumpall --globals-only, streamed into one snapshot.

Each dump runs on the database host over SSH and its stdout goes straight into the repository writer. One
snapshot per run, holding every dump that succeeded (``db/NAME.dump``, ``globals.sql``). A database whose dump
fails does not cost the others: it is recorded in the snapshot's metadata as failed, with pg_dump's exit
status and stderr, its partial output is not referenced, and the caller reports it (exit 1). A lost connection
fails the dump in progress and the next one reconnects. Only a failure before any dump (no connection, server
not answering) or of the repository itself aborts the run without a snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qfbackup.catalog.dumps import DUMP_KIND
from qfbackup.common.progress import ProgressFactory, no_progress
from qfbackup.common.units import utc_now
from qfbackup.errors import RemoteCommandFailed, RemoteError, UsageError
from qfbackup.ops.ingest.server import (
    ServerFacts,
    database_sizes,
    remote_detail,
    server_facts,
    tool,
)
from qfbackup.pg.dump import GLOBALS, GLOBALS_STREAM, check_db_name, db_stream, pg_dump_argv, pg_dumpall_globals_argv
from qfbackup.policy.schema import Policy
from qfbackup.policy.sources import Cluster
from qfbackup.remote.ssh import SshSession
from qfbackup.remote.targets import open_session
from qfbackup.repo.catalog import Snapshot, StreamRef
from qfbackup.repo.repository import Repository
from qfbackup.repo.writer import RepoWriter

KIND = DUMP_KIND
META_STDERR = 4096  # stderr kept per dump in the snapshot (the tail: where pg_dump's error is)


@dataclass
class DumpOutcome:
    """How one dump went. ``name`` is a database, or ``globals`` for pg_dumpall --globals-only."""

    name: str
    status: str  # "ok" or "failed"
    stream: str | None = None
    size: int = 0
    seconds: float = 0.0
    exit_status: int | None = None
    error: str = ""
    stderr: str = ""
    is_globals: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_meta(self) -> dict[str, object]:
        meta: dict[str, object] = {"status": self.status, "size": self.size, "duration_s": round(self.seconds, 3)}
        if self.stream:
            meta["stream"] = self.stream
        if self.exit_status is not None:
            meta["exit_status"] = self.exit_status
        if self.error:
            meta["error"] = self.error
        if self.stderr.strip():
            meta["stderr"] = self.stderr[-META_STDERR:]
        return meta


@dataclass
class DumpResult:
    snapshot: Snapshot
    cluster: str
    facts: ServerFacts
    outcomes: list[DumpOutcome] = field(default_factory=list)
    bytes_in: int = 0
    bytes_new: int = 0
    bytes_stored: int = 0
    seconds: float = 0.0

    @property
    def failed(self) -> list[str]:
        return [o.name for o in self.outcomes if not o.ok]


def databases_to_dump(cluster: Cluster, requested: list[str] | tuple[str, ...] | None) -> list[str]:
    """The policy's databases, or the requested subset; a name the policy does not list is refused (the
    policy is the reviewed list of what may be touched on the host)."""
    if cluster.is_standby:
        raise UsageError(f"cluster {cluster.name!r} is a standby: dump its primary {cluster.standby_of!r}")
    if not requested:
        return [check_db_name(d) for d in cluster.databases]
    unknown = [d for d in requested if d not in cluster.databases]
    if unknown:
        known = ", ".join(cluster.databases) or "none"
        raise UsageError(
            f"database {', '.join(map(repr, unknown))} is not in the policy for cluster {cluster.name!r} "
            f"(configured: {known})",
            hint=f"add it to databases in [clusters.{cluster.name}]",
        )
    return [check_db_name(d) for d in dict.fromkeys(requested)]


class _Session:
    """The SSH session, reopened after a lost connection so one dropped link fails one dump, not the rest."""

    def __init__(self, factory: Callable[[Policy, str], SshSession], policy: Policy, host: str) -> None:
        self.factory, self.policy, self.host = factory, policy, host
        self.current: SshSession | None = factory(policy, host)

    def get(self) -> SshSession:
        if self.current is None or not self.current.active:
            self.close()
            self.current = self.factory(self.policy, self.host)
        return self.current

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None


@dataclass(frozen=True)
class _Job:
    name: str
    stream: str
    argv: list[str]
    is_globals: bool = False


def _dump_one(sessions: _Session, w: RepoWriter, job: _Job) -> tuple[DumpOutcome, StreamRef | None]:
    t0 = time.monotonic()
    try:
        with sessions.get().stream(job.argv) as out:
            ref = w.store_stream(out)
        stderr = out.result.stderr if out.result is not None else ""
        seconds = time.monotonic() - t0
        return DumpOutcome(
            job.name, "ok", job.stream, ref.size, seconds, 0, stderr=stderr, is_globals=job.is_globals
        ), ref
    except RemoteError as e:
        failed = isinstance(e, RemoteCommandFailed)
        outcome = DumpOutcome(
            job.name,
            "failed",
            seconds=time.monotonic() - t0,
            exit_status=e.exit_status if failed else None,
            error=remote_detail(e, job.argv[0].rsplit("/", 1)[-1]),
            stderr=e.stderr if failed else "",
            is_globals=job.is_globals,
        )
        return outcome, None


def _jobs(cluster: Cluster, dbs: list[str], with_globals: bool) -> list[_Job]:
    conn = {"socket_dir": cluster.socket_dir, "port": cluster.port, "user": cluster.user}
    jobs = [_Job(db, db_stream(db), pg_dump_argv(cluster.pg_bin_dir, dbname=db, **conn)) for db in dbs]
    if with_globals:
        jobs.append(_Job(GLOBALS, GLOBALS_STREAM, pg_dumpall_globals_argv(cluster.pg_bin_dir, **conn), True))
    return jobs


def _meta(cluster: Cluster, facts: ServerFacts, pg_dump_version: str, outcomes: list[DumpOutcome],
          stats: dict[str, int], started_at: str, seconds: float) -> dict[str, object]:  # fmt: skip
    """The snapshot metadata: per dump its status, size, duration (and error + stderr when it failed)."""
    failed = [o.name for o in outcomes if not o.ok]
    meta: dict[str, object] = {
        "cluster": cluster.name,
        "host": cluster.host,
        **facts.to_meta(),
        "pg_dump_version": pg_dump_version,
        "format": "custom",
        "compress": 0,
        "status": "ok" if not failed else "failed" if len(failed) == len(outcomes) else "partial",
        "failed": failed,
        "databases": {o.name: o.to_meta() for o in outcomes if not o.is_globals},
        "started_at": started_at,
        "stopped_at": utc_now(),
        "duration_s": round(seconds, 3),
        "bytes_raw": sum(o.size for o in outcomes),
        "bytes_new": stats["bytes_new"],
        "bytes_stored": stats["bytes_stored"],
    }
    globals_outcome = next((o for o in outcomes if o.is_globals), None)
    if globals_outcome is not None:
        meta["globals"] = globals_outcome.to_meta()
    return meta


def take_dumps(
    repo: Repository,
    policy: Policy,
    cluster_name: str,
    *,
    databases: list[str] | tuple[str, ...] | None = None,
    dump_globals: bool | None = None,
    progress: ProgressFactory = no_progress,
    workers: int | None = None,
    session_factory: Callable[[Policy, str], SshSession] = open_session,
) -> DumpResult:
    """Dump the cluster's databases (and globals) into one ``dump`` snapshot; see the module docstring.

    Check ``result.failed``: a snapshot is committed even when some dumps failed, so the good ones are kept and
    the failures are on record.
    """
    cluster = policy.cluster(cluster_name)
    dbs = databases_to_dump(cluster, databases)
    with_globals = cluster.dump_globals if dump_globals is None else dump_globals
    if not dbs and not with_globals:
        raise UsageError(f"nothing to dump for cluster {cluster.name!r}: no databases in the policy, no globals")
    started_at, t0 = utc_now(), time.monotonic()
    conf = policy.repository
    sessions = _Session(session_factory, policy, cluster.host)
    try:
        facts = server_facts(sessions.get(), cluster)
        version = sessions.get().run([tool(cluster, "pg_dump"), "--version"]).stdout.decode(errors="replace").strip()
        outcomes: list[DumpOutcome] = []
        streams: dict[str, StreamRef] = {}
        # The total is the databases' size on disk (pg_database_size, one query), an upper bound: indexes and free
        # space are not dumped, so the bar tends to finish early rather than overrun. Globals are too small to count.
        sizes = database_sizes(sessions.get(), cluster)
        total = sum(sizes.get(db, 0) for db in dbs) if sizes is not None else None
        with (
            progress(total) as advance,
            repo.writer(level=conf.compression_level, workers=workers or conf.workers, progress=advance) as w,
        ):
            for job in _jobs(cluster, dbs, with_globals):
                outcome, ref = _dump_one(sessions, w, job)
                outcomes.append(outcome)
                if ref is not None:
                    streams[job.stream] = ref
            w.flush()  # so the stored-bytes figures are final before they go into the snapshot
            stats = dict(w.stats)
            meta = _meta(cluster, facts, version, outcomes, stats, started_at, time.monotonic() - t0)
            snap = w.commit(Snapshot(kind=KIND, source=cluster.name, streams=streams, meta=meta))
            final = dict(w.stats)  # the result's figures count the snapshot object too
    finally:
        sessions.close()
    return DumpResult(
        snapshot=snap,
        cluster=cluster.name,
        facts=facts,
        outcomes=outcomes,
        bytes_in=final["bytes_in"],
        bytes_new=final["bytes_new"],
        bytes_stored=final["bytes_stored"],
        seconds=time.monotonic() - t0,
    )
