"""The restorable window: from which base backup, along which timeline, up to which WAL a restore can replay.

This is the one computation behind ``list``, ``restore`` (its plan), ``wal status``, ``wal pull`` and drills,
so they cannot disagree. It works per target timeline, on that timeline's *path*: its history file names the
ancestors and the LSN where each forked off, and for every segment number exactly one file name is on the path
(``wal.segment_file_for``). Only files on the path count: the newest segment of another timeline (the old
primary's WAL after a promotion) is neither WAL this path can replay nor a sign that this path has a gap.

From a base backup on the path (``BaseBackup.on_path``: it started and ended before the fork that left its
timeline), replay runs through the backup's own WAL (in its tar) and then through stored segments as long as
they are contiguous. Where the next segment is missing, the WAL *ends* if nothing later is stored on the path,
or has a *gap* if something is: the transactions in and after the gap cannot be replayed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime

from qfbackup.catalog.backups import BaseBackup, base_backups
from qfbackup.catalog.wal import StoredWal, WalCatalog
from qfbackup.errors import HistoryMissing, QfError
from qfbackup.pg import wal
from qfbackup.repo.catalog import Snapshot


def when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class PathGap:
    """Segments ``first_segno``..``last_segno`` of a timeline's path are missing while later WAL is stored."""

    first_name: str
    last_name: str
    first_segno: int
    last_segno: int

    @property
    def count(self) -> int:
        return self.last_segno - self.first_segno + 1

    def __str__(self) -> str:
        if self.count == 1:
            return f"missing {self.first_name}"
        return f"missing {self.count} segments {self.first_name}..{self.last_name}"

    def to_dict(self) -> dict:
        return {"first": self.first_name, "last": self.last_name, "segments": self.count, "message": str(self)}


@dataclass(frozen=True)
class Reach:
    """How far replay gets from ``backup`` along one timeline's path."""

    backup: BaseBackup
    timeline: int
    last_segno: int  # the last segment replay can read
    last_file: StoredWal | None  # the newest stored segment it reads; None: only the backup's own WAL
    gap: str | None  # the missing segment that cuts replay short while later WAL exists on the path

    @property
    def end_lsn(self) -> int:
        """The position replay can reach: the end of the last readable segment, or the backup's own end."""
        return wal.segment_start_lsn(self.last_segno + 1) if self.last_file else self.backup.stop_lsn

    @property
    def end_time(self) -> datetime:
        """When the last readable WAL was archived (its newest commits are older), or the backup's end."""
        return datetime.fromtimestamp(self.last_file.mtime, UTC) if self.last_file else self.backup.end_time

    def to_dict(self) -> dict:
        """The point as data: its LSN, the time it stands for and the last segment read (None: only the backup's
        own WAL, and the time is the backup's consistency point)."""
        return {
            "lsn": wal.format_lsn(self.end_lsn),
            "time": self.end_time,
            "segment": self.last_file.name if self.last_file else None,
        }

    def describe(self) -> str:
        """The point in words, for the messages of refusals (the plan's, the drill's)."""
        if self.last_file is None:
            return f"the end of the base backup (LSN {wal.format_lsn(self.backup.stop_lsn)})"
        where = f"the end of {self.last_file.name} (archived {when(self.last_file.mtime)})"
        return f"LSN {wal.format_lsn(self.end_lsn)}, {where}" if self.gap else where


@dataclass(frozen=True)
class Window:
    """A continuous restorable stretch of one timeline: every point from the oldest backup's consistency point
    to ``reach`` can be restored."""

    timeline: int
    first: BaseBackup
    reach: Reach

    def to_dict(self) -> dict:
        return {
            "from": {
                "backup_id": self.first.id,
                "time": self.first.end_time,
                "lsn": wal.format_lsn(self.first.stop_lsn),
            },
            "to": self.reach.to_dict(),
            "cut_by_gap": self.reach.gap,
        }


@dataclass
class TimelineView:
    """Everything restorable along one timeline's path."""

    timeline: int
    backups: list[BaseBackup] = field(default_factory=list)  # on the path, oldest first
    windows: list[Window] = field(default_factory=list)  # oldest first; the last one ends at the newest WAL
    holes: list[PathGap] = field(default_factory=list)  # missing stretches between stored WAL on the path
    open_gaps: list[PathGap] = field(default_factory=list)  # holes that cut replay from the newest backup short
    error: str | None = None

    @property
    def current(self) -> Window | None:
        return self.windows[-1] if self.windows else None

    def to_dict(self) -> dict:
        """The current window's ``from``/``to``/``cut_by_gap`` at the top (None when nothing is restorable), every
        window under ``windows``."""
        cur = self.current.to_dict() if self.current is not None else {"from": None, "to": None, "cut_by_gap": None}
        return {
            "timeline": self.timeline,
            "error": {"message": self.error} if self.error else None,
            "backups": len(self.backups),
            **cur,
            "windows": [w.to_dict() for w in self.windows],
            "gaps": [g.to_dict() for g in self.open_gaps],
            "holes": [g.to_dict() for g in self.holes if g not in self.open_gaps],
        }


class Coverage:
    """One cluster's catalogue: its WAL, its base backups, and the restorable windows per timeline."""

    def __init__(self, repo, cluster: str, snapshots: list[Snapshot]) -> None:
        self.repo = repo
        self.cluster = cluster
        self.wal = WalCatalog.from_snapshots(cluster, snapshots)
        self.backups = base_backups(snapshots, cluster)
        self._ancestry: dict[int, list[wal.TimelineSpan]] = {}
        self._views: dict[int, TimelineView] = {}
        self._segnos: dict[int, list[int]] = {}

    # -- timelines ---------------------------------------------------------------------------------------------
    def timelines(self) -> list[int]:
        found = {*self.wal.timelines(), *self.wal.history_timelines()}
        for b in self.backups:
            found.update(t for t, _, _ in b.wal_ranges)
        return sorted(found) or [1]

    def latest_timeline(self) -> int:
        return self.timelines()[-1]

    def ancestry(self, timeline: int) -> list[wal.TimelineSpan]:
        """The path to ``timeline``; raises HistoryMissing when its history file is not stored."""
        if timeline not in self._ancestry:
            if timeline == 1:
                self._ancestry[1] = wal.timeline_ancestry(1, [])
            else:
                name = wal.history_file_name(timeline)
                stored = self.wal.files.get(name)
                if stored is None:
                    raise HistoryMissing(
                        timeline, name, "its path back to timeline 1 is unknown, so nothing on it can be restored",
                        hint="archive it from the server that created the timeline (pg_wal/" + name + "), then "
                        "`qfbackup wal pull`",
                    )  # fmt: skip
                text = b"".join(self.repo.read_stream(stored.ref)).decode()
                self._ancestry[timeline] = wal.timeline_ancestry(timeline, wal.parse_history(text, name))
        return self._ancestry[timeline]

    # -- reach and windows -------------------------------------------------------------------------------------
    def path_segnos(self, timeline: int) -> list[int]:
        """Stored segment numbers whose file is the one ``timeline``'s path reads, ascending."""
        if timeline not in self._segnos:
            ancestry = self.ancestry(timeline)
            out = []
            for name, f in self.wal.files.items():
                if f.kind == wal.WalKind.SEGMENT:
                    _, segno = wal.parse_segment_name(name)
                    if wal.segment_file_for(ancestry, segno) == name:
                        out.append(segno)
            self._segnos[timeline] = sorted(out)
        return self._segnos[timeline]

    def reach(self, backup: BaseBackup, timeline: int) -> Reach:
        ancestry = self.ancestry(timeline)
        segnos = self.path_segnos(timeline)
        last = backup.whole_segno  # the tar holds every segment up to here whole
        i = bisect.bisect_right(segnos, last)
        while i < len(segnos) and segnos[i] == last + 1:
            last, i = last + 1, i + 1
        later = i < len(segnos)  # stored WAL beyond what replay can read: the stop is a gap, not the end
        if last < backup.last_segno:
            # a standby backup whose end segment is not stored: replay reaches the backup's end and no further
            gap = wal.segment_file_for(ancestry, backup.last_segno) if later else None
            return Reach(backup, timeline, backup.last_segno, None, gap)
        gap = wal.segment_file_for(ancestry, last + 1) if later else None
        last_file = self.wal.files.get(wal.segment_file_for(ancestry, last))  # None: only the tar's WAL
        return Reach(backup, timeline, last, last_file, gap)

    def newer_elsewhere(self, timeline: int, reach: Reach) -> StoredWal | None:
        """The newest stored segment, when it is not on ``timeline``'s path and was archived after ``reach``: the
        highest timeline (PostgreSQL's 'latest') may be an abandoned attempt's while another one went on."""
        segs = [f for f in self.wal.files.values() if f.kind == wal.WalKind.SEGMENT]
        newest = max(segs, key=lambda f: f.mtime, default=None)
        if newest is None or newest.mtime <= reach.end_time.timestamp():
            return None
        on_path = wal.segment_file_for(self.ancestry(timeline), wal.parse_segment_name(newest.name)[1]) == newest.name
        return None if on_path else newest

    def view(self, timeline: int) -> TimelineView:
        if timeline in self._views:
            return self._views[timeline]
        v = self._views[timeline] = TimelineView(timeline)
        try:
            ancestry = self.ancestry(timeline)
        except (QfError, ValueError) as e:  # missing, damaged or malformed history: this timeline only
            v.error = getattr(e, "message", None) or str(e)
            return v
        v.backups = [b for b in self.backups if b.on_path(ancestry)]
        segnos = self.path_segnos(timeline)
        v.holes = _holes(ancestry, segnos, min((b.first_segno for b in v.backups), default=None))
        for r in (self.reach(b, timeline) for b in v.backups):  # backups with the same end: one window
            if v.windows and v.windows[-1].reach.last_segno == r.last_segno:
                v.windows[-1] = Window(timeline, v.windows[-1].first, r)
            else:
                v.windows.append(Window(timeline, r.backup, r))
        if not v.backups:
            v.open_gaps = list(v.holes)
            v.error = f"no base backup lies on timeline {timeline}'s history"
        elif (cut := v.windows[-1].reach).gap:
            # the same computation as the plan's: from the newest backup's end to the next stored segment
            nxt = segnos[bisect.bisect_right(segnos, cut.last_segno)]
            first = wal.parse_segment_name(cut.gap)[1]
            v.open_gaps = [PathGap(cut.gap, wal.segment_file_for(ancestry, nxt - 1), first, nxt - 1)]
        return v

    def views(self) -> list[TimelineView]:
        return [self.view(t) for t in self.timelines()]

    def gaps(self) -> tuple[list[PathGap], list[PathGap]]:
        """(holes that cut replay from the newest base backup of some timeline: alarms, the other holes: they
        only shorten a window), over every timeline's path, each hole once."""
        open_: dict[str, PathGap] = {}
        other: dict[str, PathGap] = {}
        for v in self.views():
            for g in v.open_gaps:
                open_[g.first_name] = g
            for g in v.holes:
                if not any(o.first_segno <= g.last_segno and g.first_segno <= o.last_segno for o in v.open_gaps):
                    other[g.first_name] = g
        return list(open_.values()), [g for n, g in other.items() if n not in open_]


def _holes(ancestry, segnos: list[int], from_segno: int | None) -> list[PathGap]:
    """Missing stretches between stored segments of the path, from the oldest backup's start on (holes before it
    affect no restore)."""
    holes = []
    for prev, cur in zip(segnos, segnos[1:], strict=False):
        if cur > prev + 1 and (from_segno is None or cur - 1 >= from_segno):
            first = max(prev + 1, from_segno) if from_segno is not None else prev + 1
            holes.append(
                PathGap(wal.segment_file_for(ancestry, first), wal.segment_file_for(ancestry, cur - 1), first, cur - 1)
            )
    return holes
