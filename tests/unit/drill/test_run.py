"""The drill's own decisions outside the container: the target it draws, the dump it picks, which workspaces of
earlier drills it removes (their owner.pid is a pid with start time and boot id; plain-pid files still read)."""

from __future__ import annotations

import json
import os
import random
import secrets
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from qfbackup.common.process import ProcessIdentity, current
from qfbackup.drill.run import OWNER_FILE, choose_target, new_workspace, newest_dump, workspace_owner
from qfbackup.errors import UsageError
from qfbackup.pg.recovery import Target, parse_time

START = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def window(seconds: float) -> SimpleNamespace:
    """What choose_target reads of a Window: the oldest backup's consistency time and the reach's end."""
    return SimpleNamespace(
        first=SimpleNamespace(end_time=START), reach=SimpleNamespace(end_time=START + timedelta(seconds=seconds))
    )


def seeded(what: str) -> tuple[int, random.Random]:
    seed = int(os.environ.get("QFB_TEST_SEED") or secrets.randbits(32))
    print(f"{what}: seed {seed} (repeat with QFB_TEST_SEED={seed})")
    return seed, random.Random(seed)


# -- the target ---------------------------------------------------------------------------------------------------


def test_random_target_lies_inside_the_window_and_repeats_with_its_seed():
    seed, rnd = seeded("targets")
    w = window(3600)
    for _ in range(200):
        target = choose_target("random", w, rnd)
        assert target.kind == "time"
        assert START + timedelta(seconds=1) <= target.time <= START + timedelta(seconds=3599), target
    assert choose_target("random", w, random.Random(seed)) == choose_target("random", w, random.Random(seed))


def test_random_target_in_a_two_second_window_is_its_middle_second():
    _, rnd = seeded("short window")
    assert choose_target("random", window(2), rnd).time == START + timedelta(seconds=1)


def test_window_too_short_for_a_random_target_is_refused():
    with pytest.raises(UsageError, match="too short for a random target"):
        choose_target("random", window(1.9), random.Random(0))


@pytest.mark.parametrize(
    "spec, target",
    [
        ("latest", Target("latest")),
        ("0/5015478", Target("lsn", "0/5015478")),
        ("2026-12-03T14:33:51+00:00", Target("time", "2026-12-03T14:33:51+00:00")),
    ],
)
def test_explicit_targets(spec, target):
    assert choose_target(spec, window(1), random.Random(0)) == target


def test_time_without_zone_is_refused():
    with pytest.raises(UsageError, match="no time zone"):
        choose_target("2026-12-03T14:33:51", window(3600), random.Random(0))


# -- the dump -------------------------------------------------------------------------------------------------------


def dump(time: str, status: str = "ok", *, db: str = "signalcartel", source: str = "main", kind: str = "dump"):
    return SimpleNamespace(kind=kind, source=source, time=time, meta={"databases": {db: {"status": status}}})


def test_newest_successful_dump_of_the_database():
    older, newest_ok = dump("2026-12-01T00:00:00+00:00"), dump("2026-12-02T00:00:00+00:00")
    snapshots = [
        older,
        newest_ok,
        dump("2026-12-03T00:00:00+00:00", "failed"),  # newer, but that database failed
        dump("2026-12-04T00:00:00+00:00", db="other"),  # newer, another database
        dump("2026-12-05T00:00:00+00:00", source="replica"),  # newer, another cluster
        dump("2026-12-06T00:00:00+00:00", kind="basebackup"),
    ]
    assert newest_dump(snapshots, "main", "signalcartel") is newest_ok


def test_no_successful_dump_is_none():
    assert newest_dump([dump("2026-12-03T00:00:00+00:00", "failed")], "main", "signalcartel") is None
    assert newest_dump([], "main", "signalcartel") is None
    assert newest_dump([dump("2026-12-03T00:00:00+00:00")], "main", None) is None  # the cluster has no database


def test_dump_times_compare_as_written():
    """Snapshot times are ISO 8601 UTC strings; the newest must be the latest moment."""
    a, b = dump("2026-12-03T09:00:00+00:00"), dump("2026-12-03T10:00:00+00:00")
    assert parse_time(newest_dump([b, a], "main", "signalcartel").time) == datetime(2026, 12, 3, 10, tzinfo=UTC)


# -- workspaces -----------------------------------------------------------------------------------------------------


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def old_workspace(cache: Path, name: str, owner: str | None) -> Path:
    path = cache / "work" / name
    path.mkdir(parents=True)
    (path / "data").mkdir()
    if owner is not None:
        (path / OWNER_FILE).write_text(owner)
    return path


def test_new_workspace_records_this_process(tmp_path: Path):
    work = new_workspace(tmp_path, "abc")
    assert work == tmp_path / "work" / "abc" and oct(work.stat().st_mode & 0o777) == "0o700"
    recorded = json.loads((work / OWNER_FILE).read_text())
    assert ProcessIdentity.from_dict(recorded) == current() and recorded["start_ticks"] is not None
    assert workspace_owner(work / OWNER_FILE) == current()


def test_workspaces_of_gone_drills_are_removed_others_kept(tmp_path: Path):
    me = current()
    assert me.start_ticks is not None
    gone = dead_pid()
    cases = {
        "live": json.dumps(me.to_dict()),
        "live-plain-pid": str(me.pid),  # written before start times were kept
        "dead": json.dumps({**me.to_dict(), "pid": gone}),
        "dead-plain-pid": f"{gone}\n",
        # this very pid, but a process that started at another time: the drill that wrote it is gone
        "pid-reused": json.dumps({**me.to_dict(), "start_ticks": me.start_ticks + 1}),
        "other-boot": json.dumps({**me.to_dict(), "boot_id": "00000000-0000-0000-0000-000000000000"}),
        "garbage": "not a pid",
        "no-owner-yet": None,  # being created right now
    }
    paths = {name: old_workspace(tmp_path, name, owner) for name, owner in cases.items()}
    new_workspace(tmp_path, "new")
    left = {p.name for p in (tmp_path / "work").iterdir()}
    assert left == {"live", "live-plain-pid", "garbage", "no-owner-yet", "new"}, left
    assert not any(paths[n].exists() for n in ("dead", "dead-plain-pid", "pid-reused", "other-boot"))


def test_plain_pid_file_reads_as_a_pid_alone(tmp_path: Path):
    path = tmp_path / OWNER_FILE
    path.write_text("4242\n")
    assert workspace_owner(path) == ProcessIdentity(4242, None, None)
