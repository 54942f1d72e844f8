"""``wal pull``: copy new archived WAL from the database host into the repository, validated, in WAL order.

The archive directory on the host (the seed's ``archive_command`` copies each segment there) is listed over
SSH; every file not yet in the repository's WAL catalogue is streamed with ``cat`` straight into the
repository, its first page and size checked as it passes. Good files are committed in batches as ``wal``
snapshots, so a pull cut at any moment keeps every finished file and the next run fetches only the rest: nothing
lost, nothing twice. A file that fails validation goes to a ``wal-quarantine`` snapshot and is reported, never
recorded as good. A file still being written by a non-atomic ``archive_command`` (short and recent) is left
for the next run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from qfbackup.catalog.wal import QUARANTINE_KIND, WAL_KIND, WalCatalog
from qfbackup.catalog.window import Coverage, PathGap
from qfbackup.common.progress import ProgressFactory, no_progress
from qfbackup.common.retry import RetryPolicy, retry
from qfbackup.errors import (
    ConnectionLost,
    IntegrityError,
    InvalidHistoryFile,
    InvalidWalSegment,
    RemoteError,
    UsageError,
)
from qfbackup.pg import wal
from qfbackup.pg.walrecords import Carry, RestorePointScanner
from qfbackup.remote.targets import open_session
from qfbackup.repo.catalog import Snapshot

BATCH_FILES = 32  # commit at least every this many files...
BATCH_SECONDS = 30.0  # ...or this often, so a cut loses little work
GRACE = 120.0  # a short file younger than this is assumed still being copied by archive_command
HEAD_BYTES = 8192
#: A connection lost mid-pull is reopened up to 3 times (waits of at most 2, 4, 8 s): what finished is committed
#: before each try, so a retry fetches only the rest.
RECONNECT = RetryPolicy(attempts=4, initial_delay=2.0, max_delay=10.0)

#: What a quarantined file failed (``Quarantined.check``), by the error its check raised; ``length`` otherwise:
#: more or fewer bytes arrived than the archive listed (the file changed while it was read).
CHECKS = (
    (InvalidWalSegment, "segment"),  # its size, or its first page: magic, timeline, segment number, system id
    (InvalidHistoryFile, "history_file"),  # not a timeline history file PostgreSQL could read
)


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    mtime: float


@dataclass(frozen=True)
class Quarantined:
    """A file kept aside instead of stored as good WAL: which check it failed and why, in words."""

    name: str
    check: str | None  # ``length`` or one of CHECKS; None for a file quarantined before checks were recorded
    message: str
    previously: bool  # quarantined by an earlier run, unchanged on the host since


@dataclass
class PullResult:
    cluster: str
    pulled: list[str] = field(default_factory=list)
    bytes_in: int = 0  # bytes read from the host
    bytes_stored: int = 0  # bytes added to the repository: packs, indexes and snapshots (RepoWriter.stats)
    quarantined: dict[str, Quarantined] = field(default_factory=dict)
    in_progress: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    removed_from_host: list[str] = field(default_factory=list)
    gaps: list[PathGap] = field(default_factory=list)
    reconnects: int = 0
    seconds: float = 0.0


class _Head:
    """Pass-through reader that keeps the first bytes (for validation), counts the rest and shows every byte to
    ``scanner`` (the restore point index of a segment)."""

    def __init__(self, src, keep: int, scanner: RestorePointScanner | None = None) -> None:
        self.src = src
        self.keep = keep
        self.head = bytearray()
        self.size = 0
        self.scanner = scanner

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        if len(self.head) < self.keep:
            self.head += data[: self.keep - len(self.head)]
        self.size += len(data)
        if self.scanner is not None and data:
            self.scanner.feed(data)
        return data


def list_archive(session, directory: PurePosixPath) -> list[RemoteFile]:
    """One ``find`` over SSH: name, size and mtime of every regular file in the archive directory."""
    result = session.run(["find", str(directory), "-maxdepth", "1", "-type", "f", "-printf", r"%f\t%s\t%T@\n"])
    if not result.ok:
        raise RemoteError(f"cannot list {directory} on the database host: {result.stderr.strip()}")
    files = []
    for line in result.stdout.decode(errors="replace").splitlines():
        name, size, mtime = line.rsplit("\t", 2)
        files.append(RemoteFile(name, int(size), float(mtime)))
    return files


def validate(name: str, kind: str, head: bytes, size: int, *, pg_major: int, sysid: int | None) -> int | None:
    """Raise IntegrityError if the file is not what its name says; return the segment's system identifier."""
    if kind == wal.WalKind.SEGMENT:
        wal.validate_segment_size(name, size)
    if kind in (wal.WalKind.SEGMENT, wal.WalKind.PARTIAL):
        # A .partial (the old timeline's last segment after a promotion) has its segment's header.
        segment = name.removesuffix(".partial")
        return wal.validate_segment_header(head, segment, pg_major=pg_major, system_identifier=sysid).system_identifier
    if kind == wal.WalKind.HISTORY:
        wal.parse_history(head.decode(errors="replace"), name)
    return None


def failed_check(error: IntegrityError) -> str:
    """The machine name of the check ``error`` came from (``Quarantined.check``)."""
    return next((check for cls, check in CHECKS if isinstance(error, cls)), "length")


class WalPuller:
    def __init__(
        self,
        repo,
        policy,
        cluster_name: str,
        *,
        progress: ProgressFactory = no_progress,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.repo = repo
        self.policy = policy
        self.cluster = policy.cluster(cluster_name)
        if self.cluster.wal_archive_dir is None:
            raise UsageError(f"cluster {cluster_name} has no wal_archive_dir in the policy")
        self.progress = progress  # opened per connection, with the sizes of the files that connection fetches
        self.warn = warn or (lambda m: None)
        self.result = PullResult(cluster_name)
        self.catalog = WalCatalog.load(repo, cluster_name)
        self.stored = set(self.catalog.files)
        self._carries = {n: f.carry for n, f in self.catalog.files.items() if f.carry}  # segment -> its carry_out

    def _carry(self, name: str) -> Carry | None:
        """The previous segment's unfinished restore point record, if one may continue into ``name`` (the scanner
        ignores a carry that does not end where this segment starts, e.g. the parent timeline's at a fork)."""
        tli, segno = wal.parse_segment_name(name)
        before = [(p, d) for p, d in self._carries.items() if wal.parse_segment_name(p)[1] == segno - 1]
        if not before:
            return None
        _, doc = min(before, key=lambda pd: wal.parse_segment_name(pd[0])[0] != tli)  # same timeline first
        try:
            return Carry.from_dict(doc)
        except IntegrityError:
            return None

    def run(self) -> PullResult:
        started = time.monotonic()
        try:
            retry(self._connect_and_pull, RECONNECT, transient=lambda e: isinstance(e, ConnectionLost),
                  what=f"wal pull from {self.cluster.host}", on_retry=self._reconnecting, report=self.warn)  # fmt: skip
        except ConnectionLost as e:
            raise RemoteError(
                f"connection to {self.cluster.host} kept failing ({e.message}); "
                f"{len(self.result.pulled)} file(s) stored this run, the rest on the next run",
                hint="check the network; `qfbackup wal status` shows the gap until it is closed",
            ) from None
        snapshots = self.repo.snapshots()
        self.result.gaps, _ = Coverage(self.repo, self.cluster.name, snapshots).gaps()
        self.result.seconds = time.monotonic() - started
        return self.result

    def _connect_and_pull(self) -> None:
        with open_session(self.policy, self.cluster.host) as session:
            self._pull_all(session)

    def _reconnecting(self, attempt: int, error: BaseException, wait: float) -> None:
        self.result.reconnects += 1

    def _todo(self, session) -> list[RemoteFile]:
        now = time.time()  # the host's mtimes are epoch seconds too
        todo = []
        self.result.ignored, self.result.in_progress = [], []  # what the newest listing says, after a reconnect too
        for f in list_archive(session, self.cluster.wal_archive_dir):
            kind = wal.classify(f.name).kind
            if kind == wal.WalKind.OTHER:
                self.result.ignored.append(f.name)
            elif f.name in self.stored:
                continue
            elif (q := self.catalog.quarantined.get(f.name)) and (q["size"], q["mtime"]) == (f.size, f.mtime):
                self.result.quarantined[f.name] = Quarantined(f.name, q.get("check"), q["reason"], previously=True)
            elif kind == wal.WalKind.SEGMENT and f.size < wal.DEFAULT_SEGMENT_SIZE and now - f.mtime < GRACE:
                self.result.in_progress.append(f.name)  # archive_command (a plain cp) is still writing it
            else:
                todo.append(f)
        order = {n: i for i, n in enumerate(wal.sort_wal_names(f.name for f in todo))}
        return sorted(todo, key=lambda f: order[f.name])

    def _pull_all(self, session) -> None:
        todo = self._todo(session)
        good: dict[str, tuple[RemoteFile, object, dict]] = {}
        bad: dict[str, tuple[RemoteFile, object, IntegrityError]] = {}
        last_commit = time.monotonic()
        with self.progress(sum(f.size for f in todo)) as advance, self.repo.writer() as writer:
            try:
                for f in todo:
                    self._pull_one(session, writer, f, good, bad)
                    advance(f.size)
                    if len(good) + len(bad) >= BATCH_FILES or time.monotonic() - last_commit > BATCH_SECONDS:
                        self._commit(session, writer, good, bad)
                        good, bad = {}, {}
                        last_commit = time.monotonic()
            except BaseException:
                # Whatever finished is kept, even when the connection died on the next file or we were stopped.
                self._commit(session, writer, good, bad, remove=False)
                raise
            else:
                self._commit(session, writer, good, bad)
            finally:
                self.result.bytes_stored += writer.stats["bytes_stored"]  # this connection's writer, all of it

    def _pull_one(self, session, writer, f: RemoteFile, good: dict, bad: dict) -> None:
        kind = wal.classify(f.name).kind
        path = self.cluster.wal_archive_dir / f.name
        scanner = RestorePointScanner(f.name, carry=self._carry(f.name)) if kind == wal.WalKind.SEGMENT else None
        with session.stream(["cat", "--", str(path)]) as stream:
            head = _Head(stream, HEAD_BYTES if kind != wal.WalKind.HISTORY else 1 << 20, scanner)
            ref = writer.store_stream(head)
        try:
            if head.size != f.size:
                raise IntegrityError(f"{f.name}: read {head.size} bytes, the archive listed {f.size} (changing?)")
            sysid = validate(
                f.name,
                kind,
                bytes(head.head),
                head.size,
                pg_major=self.cluster.pg_version,
                sysid=self.catalog.system_identifier,
            )
            if sysid is not None and self.catalog.system_identifier is None:
                self.catalog.system_identifier = sysid
            extra = {}
            if scanner is not None:
                extra["restore_points"] = [
                    {"name": rp.name, "lsn": wal.format_lsn(rp.lsn), "time": rp.time} for rp in scanner.finish()
                ]
                if scanner.carry_out is not None:
                    extra["rp_carry"] = self._carries[f.name] = scanner.carry_out.to_dict()
            good[f.name] = (f, ref, extra)
            self.result.pulled.append(f.name)
        except IntegrityError as e:
            bad[f.name] = (f, ref, e)
            self.result.quarantined[f.name] = Quarantined(f.name, failed_check(e), e.message, previously=False)
            self.warn(f"quarantined {f.name}: {e.message}")
        self.result.bytes_in += head.size

    def _commit(self, session, writer, good: dict, bad: dict, *, remove: bool = True) -> None:
        def files(items):
            return {n: {"kind": str(wal.classify(n).kind), "size": f.size, "mtime": f.mtime} for n, (f, *_) in items}

        good_files = files(good.items())
        for n, (_, _, extra) in good.items():
            good_files[n].update(extra)

        if good:
            writer.commit(Snapshot(
                kind=WAL_KIND, source=self.cluster.name, streams={n: ref for n, (_, ref, _) in good.items()},
                meta={"files": good_files, "system_identifier": self.catalog.system_identifier},
            ))  # fmt: skip
            self.stored.update(good)
        if bad:
            meta = files(bad.items())
            for n, (_, _, error) in bad.items():
                meta[n].update(reason=error.message, check=failed_check(error))
            writer.commit(
                Snapshot(
                    kind=QUARANTINE_KIND,
                    source=self.cluster.name,
                    streams={n: ref for n, (_, ref, _) in bad.items()},
                    meta={"files": meta},
                )
            )
        if good and remove and self.cluster.remove_after:
            self._remove_from_host(session, [f for f, _, _ in good.values()])

    def _remove_from_host(self, session, files: list[RemoteFile]) -> None:
        """Delete archived files on the host only once durable here and, if configured, off-site."""
        if self.policy.offsite is not None:
            from qfbackup.ops.access import offsite_store
            from qfbackup.repo.mirror import copy_repository

            copied = copy_repository(
                self.repo.store, offsite_store(self.policy, "offsite"), command="wal pull", warn=self.warn
            )
            if copied.corrupt:  # the off-site copy lacks something: the host's copy is still needed
                self.warn(f"not removing WAL from the host: {len(copied.corrupt)} local object(s) are corrupt")
                return
        current = {r.name: r for r in list_archive(session, self.cluster.wal_archive_dir)}
        # Only files unchanged since we read them: same size and mtime.
        victims = [f for f in files if current.get(f.name) == f]
        if victims:
            session.run(["rm", "-f", "--", *(str(self.cluster.wal_archive_dir / f.name) for f in victims)], check=True)
            self.result.removed_from_host += [f.name for f in victims]


def pull(repo, policy, cluster: str, **kw) -> PullResult:
    return WalPuller(repo, policy, cluster, **kw).run()
