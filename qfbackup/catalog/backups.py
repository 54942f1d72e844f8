"""Base backups as the catalogue sees them: where each starts and ends in the WAL, on which timelines, and when
it became consistent.

The end time decides which backup a time target can start from: a backup whose consistency point lies after the
target cannot reach it (PostgreSQL stops with "requested recovery stop point is before consistent recovery
point"). ``end_time`` is the database server's clock read after pg_basebackup finished, with microseconds, so
it is never earlier than the last commit the backup must replay. Backups recorded before that field existed
carry only the backup VM's clock truncated to the second; one second is added so that they, too, are never
taken as consistent earlier than they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from qfbackup.catalog import kinds
from qfbackup.pg import wal
from qfbackup.pg.recovery import parse_time
from qfbackup.repo.catalog import Snapshot

BASEBACKUP_KIND = kinds.BASEBACKUP


@dataclass(frozen=True)
class BaseBackup:
    snapshot: Snapshot
    start_lsn: int
    stop_lsn: int
    start_timeline: int
    wal_ranges: tuple[tuple[int, int, int], ...]  # (timeline, start LSN, end LSN), from the backup manifest
    end_time: datetime

    @property
    def id(self) -> str:
        return self.snapshot.id

    @property
    def first_segno(self) -> int:
        return wal.segment_of_lsn(self.start_lsn)

    @property
    def last_segno(self) -> int:
        """The segment holding the backup's end: its own WAL (inside its tar, ``-X fetch``) reaches into it."""
        return wal.segment_of_end_lsn(self.stop_lsn)

    @property
    def whole_segno(self) -> int:
        """The last segment the tar holds *whole*. On a primary pg_backup_stop switches to a new segment, so the
        one holding the end is complete; a standby cannot switch, so the tar's copy of that segment stops near
        the end and replay past it needs the archived segment."""
        return self.last_segno - 1 if self.from_standby else self.last_segno

    @property
    def from_standby(self) -> bool:
        m = self.snapshot.meta
        return bool(m.get("from_standby")) or m.get("backup_from") == "standby"

    def on_path(self, ancestry: Sequence[wal.TimelineSpan]) -> bool:
        """Whether this backup lies on the history of the timeline ``ancestry`` leads to: every WAL range it
        needs must be on that timeline's part of the path, before the fork that left it. A backup taken on
        timeline 1 after timeline 2 forked off is not on timeline 2's history."""
        spans = {s.timeline: s for s in ancestry}
        for tli, start, end in self.wal_ranges:
            span = spans.get(tli)
            if span is None or start < span.begin_lsn or (span.end_lsn is not None and end > span.end_lsn):
                return False
        return True

    @classmethod
    def from_snapshot(cls, snap: Snapshot) -> BaseBackup:
        m = snap.meta
        start, stop = wal.parse_lsn(m["start_lsn"]), wal.parse_lsn(m["stop_lsn"])
        ranges = tuple(
            (int(r["timeline"]), wal.parse_lsn(r["start_lsn"]), wal.parse_lsn(r["end_lsn"]))
            for r in m.get("wal_ranges") or ()
        ) or ((int(m["start_timeline"]), start, stop),)
        if m.get("end_time"):
            end_time = parse_time(m["end_time"])
        else:
            end_time = parse_time(m["stopped_at"]) + timedelta(seconds=1)
        return cls(snap, start, stop, int(m["start_timeline"]), ranges, end_time)


def base_backups(snapshots: Sequence[Snapshot], cluster: str) -> list[BaseBackup]:
    """The cluster's base backups, oldest consistency point first."""
    found = [BaseBackup.from_snapshot(s) for s in snapshots if s.kind == BASEBACKUP_KIND and s.source == cluster]
    return sorted(found, key=lambda b: (b.stop_lsn, b.end_time))
