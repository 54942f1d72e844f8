"""Name targets on synthetic catalogues: which restore point, on which timeline, from which base backup."""

from __future__ import annotations

from datetime import timedelta

import pytest

from qfbackup.catalog.plan import plan_restore
from qfbackup.errors import TargetUnreachable, UnknownRestorePoint
from qfbackup.pg import wal
from qfbackup.pg.recovery import Target
from tests.unit.catalog.test_window import FORK, T0, Repo, backup, failover_catalogue, wal_batch


def with_points(snap, points: dict[str, list[tuple[str, int]]], *, unindexed: tuple[str, ...] = ()):
    """Give every segment of a wal batch its restore_points (name, lsn); ``unindexed`` segments get none."""
    for name, info in snap.meta["files"].items():
        info.pop("restore_points", None)
        if info["kind"] == "segment" and name not in unindexed:
            info["restore_points"] = [
                {"name": n, "lsn": wal.format_lsn(lsn), "time": (T0 + timedelta(minutes=1)).timestamp()}
                for n, lsn in points.get(name, [])
            ]
    return snap


def plan(snaps, name: str, **kw):
    return plan_restore(Repo(), "main", Target("name", name), snapshots=snaps, **kw)


def test_restore_point_known_only_from_the_new_timelines_copy_of_the_fork_segment():
    """The old primary died before archiving its last segment: the point is only in 000000020000...06."""
    snaps = failover_catalogue()
    batch = snaps[1]
    del batch.meta["files"][wal.segment_name(1, 6)], batch.streams[wal.segment_name(1, 6)]
    for n in [wal.segment_name(1, s) for s in range(7, 13)]:
        del batch.meta["files"][n], batch.streams[n]
    with_points(batch, {wal.segment_name(2, 6): [("before-failover", FORK - 0x100)]})
    p = plan(snaps, "before-failover")
    assert p.timeline == 2 and p.restore_point["lsn"] == wal.format_lsn(FORK - 0x100)
    assert plan(snaps, "before-failover", timeline=2).timeline == 2


def test_name_is_planned_from_its_position_and_unknown_names_are_refused():
    files = {wal.segment_name(1, s): s for s in range(2, 12)}
    snaps = [backup("b1", 1, 2, 2), backup("b2", 1, 6, 6), wal_batch(files)]
    at = wal.segment_start_lsn(8) + 0x200
    with_points(snaps[2], {wal.segment_name(1, 8): [("before-deploy", at)], wal.segment_name(1, 4): [("old", 0)]})
    p = plan(snaps, "before-deploy")
    assert p.backup.id == "b2" and wal.segment_name(1, 8) in p.wal_files  # the newest backup before it
    with pytest.raises(UnknownRestorePoint, match="nearest known: before-deploy"):
        plan(snaps, "before-deplo")


def test_wal_stored_before_indexing_may_hide_an_earlier_point_of_the_same_name():
    files = {wal.segment_name(1, s): s for s in range(2, 12)}
    snaps = [backup("b1", 1, 2, 2), backup("b2", 1, 6, 6), wal_batch(files)]
    at = wal.segment_start_lsn(9) + 0x200
    with_points(snaps[2], {wal.segment_name(1, 9): [("nightly", at)]}, unindexed=(wal.segment_name(1, 7),))
    with pytest.raises(TargetUnreachable, match="before restore points were indexed"):
        plan(snaps, "nightly")  # from b2 replay crosses segment 7, never scanned; b1 too
    with_points(snaps[2], {wal.segment_name(1, 9): [("nightly", at)]}, unindexed=(wal.segment_name(1, 4),))
    assert plan(snaps, "nightly").backup.id == "b2"  # the unscanned segment lies before b2: no risk from it
