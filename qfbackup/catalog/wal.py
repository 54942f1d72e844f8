"""What WAL the repository holds for a cluster, read from its ``wal`` snapshots.

Each ``wal pull`` run commits batches as snapshots of kind ``wal`` (source = cluster name): one stream per
archive file, named by its WAL file name, with ``meta["files"][name] = {kind, size, mtime}`` (segments also
carry the ``restore_points`` found in them as they were pulled). Files that failed
validation go to ``wal-quarantine`` snapshots instead, never into the catalogue of good WAL. This module merges
all of them into one view: the progress record of the pull lives in the repository, not in a local file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from qfbackup.catalog import kinds
from qfbackup.pg import wal
from qfbackup.repo.catalog import Snapshot, StreamRef

WAL_KIND = kinds.WAL
QUARANTINE_KIND = kinds.WAL_QUARANTINE


@dataclass(frozen=True)
class StoredWal:
    name: str
    kind: str
    size: int
    mtime: float  # when PostgreSQL archived it (the file's mtime on the host)
    snapshot: str
    ref: StreamRef
    restore_points: tuple[dict, ...] | None = None  # {name, lsn, time} per restore point; None: never scanned
    carry: dict | None = None  # the tail a restore point record may continue from into the next segment


@dataclass(frozen=True)
class RestorePointRef:
    """A restore point (``pg_create_restore_point``) as the catalogue knows it."""

    name: str
    lsn: int
    time: float
    timeline: int  # of the segment it was found in
    segment: str

    def to_dict(self) -> dict:
        return {"name": self.name, "lsn": wal.format_lsn(self.lsn), "time": _iso(self.time),
                "timeline": self.timeline, "segment": self.segment}  # fmt: skip


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")


@dataclass
class WalCatalog:
    cluster: str
    files: dict[str, StoredWal] = field(default_factory=dict)
    quarantined: dict[str, dict] = field(default_factory=dict)  # name -> {size, mtime, reason}
    system_identifier: int | None = None

    @classmethod
    def from_snapshots(cls, cluster: str, snapshots: list[Snapshot]) -> WalCatalog:
        cat = cls(cluster)
        for snap in sorted(snapshots, key=lambda s: s.time):
            if snap.source != cluster:
                continue
            if snap.kind == WAL_KIND:
                for name, info in snap.meta.get("files", {}).items():
                    rps = info.get("restore_points")
                    cat.files.setdefault(
                        name,
                        StoredWal(name, info["kind"], info["size"], info["mtime"], snap.id, snap.streams[name],
                                  None if rps is None else tuple(rps), info.get("rp_carry")),
                    )  # fmt: skip
                    cat.quarantined.pop(name, None)
                if snap.meta.get("system_identifier") is not None:
                    cat.system_identifier = snap.meta["system_identifier"]
            elif snap.kind == QUARANTINE_KIND:
                for name, info in snap.meta.get("files", {}).items():
                    if name not in cat.files:
                        cat.quarantined[name] = info
        return cat

    @classmethod
    def load(cls, repo, cluster: str) -> WalCatalog:
        return cls.from_snapshots(cluster, [s for s in repo.snapshots() if s.kind in (WAL_KIND, QUARANTINE_KIND)])

    def segments(self) -> list[str]:
        return wal.sort_wal_names(n for n, f in self.files.items() if f.kind == wal.WalKind.SEGMENT)

    def newest_segment(self) -> StoredWal | None:
        segs = self.segments()
        return self.files[segs[-1]] if segs else None

    def restore_points(self) -> list[RestorePointRef]:
        """Every restore point found in stored segments, in WAL order (a record copied into the first segment of a
        newer timeline is listed once, where it was written)."""
        seen: dict[tuple[str, int], RestorePointRef] = {}
        for name, f in self.files.items():
            for rp in f.restore_points or ():
                key = (rp["name"], wal.parse_lsn(rp["lsn"]))
                ref = RestorePointRef(rp["name"], key[1], rp["time"], wal.classify(name).timeline, name)
                if key not in seen or ref.timeline < seen[key].timeline:
                    seen[key] = ref
        return sorted(seen.values(), key=lambda r: (r.lsn, r.timeline))

    def unindexed_segments(self) -> list[str]:
        """Segments stored before restore points were indexed: a name target cannot be ruled out there."""
        return [n for n in self.segments() if self.files[n].restore_points is None]

    def history_timelines(self) -> list[int]:
        """Timelines whose history file is stored."""
        return sorted(wal.classify(n).timeline for n, f in self.files.items() if f.kind == wal.WalKind.HISTORY)

    def timelines(self) -> dict[int, int]:
        """Timeline -> number of stored segments on it."""
        counts: dict[int, int] = {}
        for name in self.segments():
            tli = wal.classify(name).timeline
            counts[tli] = counts.get(tli, 0) + 1
        return counts
