"""Restore points by name: which record a ``--target-name`` means, on which timeline, at which LSN.

``wal pull`` indexes every restore point record as it stores a segment (``pg/walrecords.py``), so a name target is
planned from its LSN like an LSN target: the right base backup and the WAL up to it. A name the stored WAL does not
hold is refused before anything is written (PostgreSQL would replay to the end and fail to start), naming the
nearest known names.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from qfbackup.catalog.wal import RestorePointRef
from qfbackup.catalog.window import Coverage
from qfbackup.errors import HistoryMissing, InvalidLsn, UnknownRestorePoint
from qfbackup.pg import wal


@dataclass(frozen=True)
class ResolvedName:
    point: RestorePointRef
    timeline: int  # the timeline to recover along
    others: tuple[RestorePointRef, ...]  # more restore points of the same name on that path
    unindexed_segnos: tuple[int, ...] = ()  # segments on that path stored before restore points were indexed


def _on_path(cov: Coverage, rp: RestorePointRef, timeline: int) -> bool:
    """Whether replay along ``timeline`` reads this record: the file it was found in is the one the path reads
    for that segment (also a newer timeline's copy of its parent's WAL before the fork), or the path gives its
    position to the timeline whose file holds it."""
    try:
        ancestry = cov.ancestry(timeline)
        segno = wal.parse_segment_name(rp.segment)[1]
        return wal.segment_file_for(ancestry, segno) == rp.segment or wal.timeline_of_lsn(ancestry, rp.lsn) == (
            rp.timeline
        )
    except (HistoryMissing, InvalidLsn):
        return False


def resolve(cov: Coverage, name: str, timeline: int | None) -> ResolvedName | None:
    """The restore point ``name`` means, or None when the catalogue cannot tell (segments stored before restore
    points were indexed may hold it). Along ``timeline`` if given, else the newest timeline when the name is on
    its path, else the timeline the newest such record was written on."""
    points = cov.wal.restore_points()
    same = [p for p in points if p.name == name]
    if not same:
        if cov.wal.unindexed_segments():
            return None
        known = sorted({p.name for p in points})
        nearest = difflib.get_close_matches(name, known, n=3, cutoff=0.0) if known else []
        raise UnknownRestorePoint(
            f"no restore point named {name!r} in the stored WAL of cluster {cov.cluster}"
            + (f"; nearest known: {', '.join(nearest)}" if nearest else "; the stored WAL holds no restore points"),
            hint="`qfbackup list --cluster " + cov.cluster + "` lists the restore points with their times",
        )
    tli = timeline or cov.latest_timeline()
    on_path = [p for p in same if _on_path(cov, p, tli)]
    if not on_path:
        if timeline is not None:
            raise UnknownRestorePoint(
                f"restore point {name!r} is not on timeline {timeline}'s history "
                f"(it is on timeline {', '.join(str(p.timeline) for p in same)})",
                hint="drop --timeline, or pick the timeline the restore point was created on",
            )
        tli = same[-1].timeline
        on_path = [p for p in same if _on_path(cov, p, tli)]
        if not on_path:
            raise UnknownRestorePoint(
                f"restore point {name!r} was found (in {same[-1].segment}) but on no restorable timeline's history",
                hint=f"restore to its position: --target-lsn {wal.format_lsn(same[-1].lsn)} with --timeline",
            )
    ancestry = cov.ancestry(tli)
    blind = tuple(
        wal.parse_segment_name(n)[1]
        for n in cov.wal.unindexed_segments()
        if wal.segment_file_for(ancestry, wal.parse_segment_name(n)[1]) == n
    )
    return ResolvedName(on_path[-1], tli, tuple(on_path[:-1]), blind)
