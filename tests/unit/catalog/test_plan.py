"""Planning logic on synthetic catalogues: backup choice, WAL continuity, gaps, unreachable targets."""

from datetime import UTC, datetime, timedelta

import pytest

from qfbackup.catalog.plan import plan_restore
from qfbackup.errors import TargetUnreachable
from qfbackup.pg import wal
from qfbackup.pg.recovery import Target
from qfbackup.repo.catalog import Snapshot, StreamRef

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
SEG = wal.DEFAULT_SEGMENT_SIZE
REF = StreamRef(size=SEG, hash="h", lists=[], chunks=1)


def backup(sid: str, segno: int, minutes: int) -> Snapshot:
    start = wal.segment_start_lsn(segno) + 40
    return Snapshot(
        kind="basebackup",
        source="main",
        id=sid,
        streams={"base.tar": StreamRef(1000, "h", [], 1)},
        meta={
            "start_lsn": wal.format_lsn(start),
            "stop_lsn": wal.format_lsn(start + 1000),
            "start_timeline": 1,
            "stopped_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        },
    )


def wal_batch(segnos: list[int]) -> Snapshot:
    names = {wal.segment_name(1, s): s for s in segnos}
    files = {
        n: {"kind": "segment", "size": SEG, "mtime": (T0 + timedelta(minutes=s)).timestamp()} for n, s in names.items()
    }
    return Snapshot(
        kind="wal", source="main", id=f"w{segnos[0]}", streams=dict.fromkeys(names, REF), meta={"files": files}
    )


class Repo:
    """plan_restore only reads snapshots (given) and history files (none on timeline 1)."""


def plan(target: Target, snaps, **kw):
    return plan_restore(Repo(), "main", target, snapshots=snaps, **kw)


def test_time_target_picks_newest_backup_before_it_and_wal_up_to_it():
    snaps = [backup("b1", 2, 2), backup("b2", 10, 10), wal_batch(list(range(2, 20)))]
    p = plan(Target("time", (T0 + timedelta(minutes=14, seconds=30)).isoformat()), snaps)
    assert p.backup.id == "b2"
    # up to the first segment archived after the target (15), plus a margin of 8 for the next commit after it
    assert p.wal_files[0] == wal.segment_name(1, 10) and p.wal_files[-1] == wal.segment_name(1, 19)
    far = plan(
        Target("time", (T0 + timedelta(minutes=11, seconds=30)).isoformat()),
        [*snaps[:2], wal_batch(list(range(2, 40)))],
    )
    assert far.wal_files[-1] == wal.segment_name(1, 12 + 8)


def test_target_before_oldest_backup_refused():
    snaps = [backup("b1", 5, 5), wal_batch(list(range(5, 9)))]
    with pytest.raises(TargetUnreachable, match="before the oldest base backup"):
        plan(Target("time", (T0 + timedelta(minutes=3)).isoformat()), snaps)


def test_gap_refuses_later_targets_and_names_latest_reachable():
    snaps = [backup("b1", 2, 2), wal_batch([2, 3, 4, 6, 7, 8])]
    with pytest.raises(TargetUnreachable, match="latest reachable point is LSN 0/5000000") as e:
        plan(Target("time", (T0 + timedelta(minutes=7, seconds=10)).isoformat()), snaps)
    assert wal.segment_name(1, 5) in e.value.message
    early = plan(Target("time", (T0 + timedelta(minutes=3, seconds=30)).isoformat()), snaps)
    assert early.wal_files[-1] == wal.segment_name(1, 4)
    latest = plan(Target("latest"), snaps)
    assert latest.wal_files[-1] == wal.segment_name(1, 4) and "gap" in latest.notes[0]


def test_lsn_target_beyond_stored_wal_refused():
    snaps = [backup("b1", 2, 2), wal_batch([2, 3])]
    with pytest.raises(TargetUnreachable, match="newest stored WAL"):
        plan(Target("lsn", wal.format_lsn(wal.segment_start_lsn(9))), snaps)


def test_time_after_newest_wal_refused():
    snaps = [backup("b1", 2, 2), wal_batch([2, 3])]
    with pytest.raises(TargetUnreachable, match="no WAL archived after it"):
        plan(Target("time", (T0 + timedelta(hours=2)).isoformat()), snaps)


def test_xid_uses_oldest_backup_unless_told():
    snaps = [backup("b1", 2, 2), backup("b2", 6, 6), wal_batch(list(range(2, 9)))]
    assert plan(Target("xid", "900"), snaps).backup.id == "b1"
    assert plan(Target("xid", "900"), snaps, backup_id="b2").backup.id == "b2"
