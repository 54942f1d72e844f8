"""The restorable window on synthetic catalogues: timeline paths, backups on a path, holes that are gaps and ends
that are not, and backup choice by the precise consistency time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qfbackup.catalog.backups import BaseBackup
from qfbackup.catalog.plan import plan_restore
from qfbackup.catalog.window import Coverage
from qfbackup.errors import QfError, TargetUnreachable
from qfbackup.pg import wal
from qfbackup.pg.recovery import Target
from qfbackup.repo.catalog import Snapshot, StreamRef

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
SEG = wal.DEFAULT_SEGMENT_SIZE
FORK = wal.segment_start_lsn(6) + 0x1000  # timeline 2 forks off inside segment 6


def ref(tag: str) -> StreamRef:
    return StreamRef(size=SEG, hash=tag, lists=[], chunks=1)


def backup(sid: str, tli: int, segno: int, minutes: float, *, end_time: datetime | None = None) -> Snapshot:
    start = wal.segment_start_lsn(segno) + 40
    meta = {
        "start_lsn": wal.format_lsn(start),
        "stop_lsn": wal.format_lsn(start + 1000),
        "start_timeline": tli,
        "stopped_at": (T0 + timedelta(minutes=minutes)).isoformat(timespec="seconds"),
    }
    if end_time is not None:
        meta["end_time"] = end_time.isoformat()
    return Snapshot(kind="basebackup", source="main", id=sid, streams={"base.tar": ref("b")}, meta=meta)


def wal_batch(files: dict[str, float], sid: str = "w") -> Snapshot:
    """``files``: WAL name -> minutes after T0 it was archived."""
    meta = {
        n: {"kind": wal.classify(n).kind.value, "size": SEG, "mtime": (T0 + timedelta(minutes=m)).timestamp()}
        for n, m in files.items()
    }
    return Snapshot(kind="wal", source="main", id=sid, streams={n: ref(n) for n in files}, meta={"files": meta})


class Repo:
    """Reads history files: their stream hash is the file name, the text is timeline 2's history."""

    def read_stream(self, r: StreamRef):
        assert r.hash == "00000002.history"
        yield f"1\t{wal.format_lsn(FORK)}\tno recovery target specified\n".encode()


def failover_catalogue(extra: list[Snapshot] = ()) -> list[Snapshot]:
    """Timeline 1: segments 2..12 (the old primary went on after the fork); timeline 2: segments 6..9."""
    files = {wal.segment_name(1, s): s for s in range(2, 13)}
    files |= {"00000002.history": 6.5} | {wal.segment_name(2, s): 6.5 + s for s in range(6, 10)}
    return [backup("b1", 1, 2, 2), wal_batch(files), *extra]


def test_newest_segment_of_another_timeline_is_not_a_gap():
    cov = Coverage(Repo(), "main", failover_catalogue())
    tl2 = cov.view(2)
    assert tl2.error is None and tl2.holes == [] and tl2.open_gaps == []
    assert tl2.current.reach.last_segno == 9 and tl2.current.reach.gap is None  # the end of timeline 2's WAL
    assert cov.view(1).current.reach.last_segno == 12
    assert cov.gaps() == ([], [])


def test_backup_after_the_fork_is_not_on_the_new_timeline():
    after = backup("b2", 1, 8, 8)  # timeline 1, after timeline 2 forked off at segment 6
    before_end = backup("b3", 1, 6, 6)  # starts before the fork but ends after it on timeline 1
    before_end.meta["stop_lsn"] = wal.format_lsn(FORK + 100)
    cov = Coverage(Repo(), "main", failover_catalogue([after, before_end]))
    on2 = [b.id for b in cov.view(2).backups]
    assert on2 == ["b1"] and [b.id for b in cov.view(1).backups] == ["b1", "b3", "b2"]
    plan = plan_restore(Repo(), "main", Target("latest"), snapshots=failover_catalogue([after, before_end]))
    assert plan.timeline == 2 and plan.backup.id == "b1" and plan.gap is None
    assert plan.wal_files[-1] == wal.segment_name(2, 9) and wal.segment_name(1, 6) not in plan.wal_files
    on_tl2 = Target("time", (T0 + timedelta(minutes=6.5 + 8.5)).isoformat())
    assert plan_restore(Repo(), "main", on_tl2, snapshots=failover_catalogue([after])).backup.id == "b1"


def test_a_backup_taken_on_the_new_timeline_serves_it():
    b4 = backup("b4", 2, 8, 15)
    b4.meta["wal_ranges"] = [{"timeline": 2, "start_lsn": b4.meta["start_lsn"], "end_lsn": b4.meta["stop_lsn"]}]
    cov = Coverage(Repo(), "main", failover_catalogue([b4]))
    assert [b.id for b in cov.view(2).backups] == ["b1", "b4"] and [b.id for b in cov.view(1).backups] == ["b1"]


def test_a_hole_on_the_path_is_a_gap_and_cuts_the_window():
    files = {wal.segment_name(1, s): s for s in (2, 3, 4, 6, 7)}
    snaps = [backup("b1", 1, 2, 2), backup("b2", 1, 6, 6.5), wal_batch(files)]
    cov = Coverage(Repo(), "main", snaps)
    v = cov.view(1)
    assert [str(g) for g in v.holes] == [f"missing {wal.segment_name(1, 5)}"] and v.open_gaps == []
    assert [(w.first.id, w.reach.last_segno, w.reach.gap) for w in v.windows] == [
        ("b1", 4, wal.segment_name(1, 5)),
        ("b2", 7, None),
    ]
    open_gaps, superseded = Coverage(Repo(), "main", snaps[:1] + snaps[2:]).gaps()
    assert [g.first_name for g in open_gaps] == [wal.segment_name(1, 5)] and superseded == []


def test_time_target_in_the_same_second_as_a_backup_end_uses_the_older_backup():
    end = T0 + timedelta(minutes=6, seconds=0.8)  # the server's clock after pg_basebackup
    snaps = [
        backup("b1", 1, 2, 2),
        backup("b2", 1, 6, 6, end_time=end),
        wal_batch({wal.segment_name(1, s): s for s in range(2, 12)}),
    ]
    b2 = BaseBackup.from_snapshot(snaps[1])
    assert b2.end_time == end  # recorded with microseconds
    # 06:00.5 is after the truncated stopped_at (06:00) but before b2 was consistent: b2 cannot reach it
    assert (
        plan_restore(
            Repo(), "main", Target("time", (end - timedelta(seconds=0.3)).isoformat()), snapshots=snaps
        ).backup.id
        == "b1"
    )
    assert (
        plan_restore(
            Repo(), "main", Target("time", (end + timedelta(seconds=0.1)).isoformat()), snapshots=snaps
        ).backup.id
        == "b2"
    )
    # without end_time (an older repository) a second is added to the truncated stop time, never less
    assert BaseBackup.from_snapshot(snaps[0]).end_time == T0 + timedelta(minutes=2, seconds=1)


def test_missing_history_file_is_named():
    files = {wal.segment_name(1, 2): 2, wal.segment_name(2, 3): 3}
    with pytest.raises(TargetUnreachable, match="00000002.history"):
        plan_restore(Repo(), "main", Target("latest"), snapshots=[backup("b1", 1, 2, 2), wal_batch(files)])
    assert "00000002.history" in Coverage(Repo(), "main", [backup("b1", 1, 2, 2), wal_batch(files)]).view(2).error


def test_newer_wal_on_another_timeline_is_named_in_the_plan():
    """PostgreSQL's 'latest' is the highest timeline; when another one holds newer WAL (an abandoned attempt was
    promoted to timeline 2 while timeline 1 went on), the plan says so instead of silently restoring less."""
    late = wal_batch({wal.segment_name(1, 13): 30}, sid="w2")
    plan = plan_restore(Repo(), "main", Target("latest"), snapshots=failover_catalogue([late]))
    assert plan.timeline == 2 and any("--timeline 1 restores along that one" in n for n in plan.notes), plan.notes
    quiet = plan_restore(Repo(), "main", Target("latest"), snapshots=failover_catalogue())
    assert not any("another timeline" in n for n in quiet.notes)


def test_gap_right_after_the_newest_backup_is_open_and_named_as_the_plan_names_it():
    snaps = [backup("b1", 1, 10, 10), wal_batch({wal.segment_name(1, s): s for s in range(20, 26)})]
    cov = Coverage(Repo(), "main", snaps)
    (gap,), _ = cov.gaps()
    assert (gap.first_name, gap.last_name) == (wal.segment_name(1, 11), wal.segment_name(1, 19))
    plan = plan_restore(Repo(), "main", Target("latest"), snapshots=snaps)
    assert plan.gap == gap.first_name and plan.degraded
    with pytest.raises(QfError, match="would reach only"):
        plan.check_complete(accept=False)
    plan.check_complete(accept=True)


def test_a_standby_backup_needs_its_last_segment_archived():
    """A standby cannot switch segments at pg_backup_stop: the tar's copy of the end segment stops near the end."""
    sb = backup("s1", 1, 10, 10)
    sb.meta["from_standby"] = True
    snaps = [sb, wal_batch({wal.segment_name(1, s): s for s in (11, 12)})]
    reach = Coverage(Repo(), "main", snaps).view(1).current.reach
    assert reach.gap == wal.segment_name(1, 10) and reach.last_file is None  # not silently past the backup's end
    snaps[1] = wal_batch({wal.segment_name(1, s): s for s in (10, 11, 12)})
    assert Coverage(Repo(), "main", snaps).view(1).current.reach.last_segno == 12


def test_margin_skips_segments_the_tar_holds():
    b = backup("b1", 1, 10, 5)
    b.meta["stop_lsn"] = wal.format_lsn(wal.segment_start_lsn(12) + 100)  # the backup spans segments 10..12
    snaps = [b, wal_batch({wal.segment_name(1, 10): 20, wal.segment_name(1, 13): 21, wal.segment_name(1, 14): 22})]
    plan = plan_restore(Repo(), "main", Target("time", (T0 + timedelta(minutes=6)).isoformat()), snapshots=snaps)
    assert plan.wal_files == [wal.segment_name(1, s) for s in (10, 13, 14)]


def test_a_damaged_history_file_spoils_only_its_timeline():
    class Broken(Repo):
        def read_stream(self, r):
            yield b"not a history file"

    cov = Coverage(Broken(), "main", failover_catalogue())
    assert cov.view(2).error and "history" in cov.view(2).error and cov.view(1).error is None
