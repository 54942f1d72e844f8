"""kill -9 at random moments leaves a consistent repository; concurrent writers behave as documented."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qfbackup.common.atomic import TEMP_MARK
from qfbackup.sandbox import wait_for
from tests.integration.repo.conftest import make_cli_env
from tests.integration.repo.test_cli_files import assert_same_tree
from tests.support.seed import rng


@pytest.fixture
def big_tree(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        (src / f"model-{i}.bin").write_bytes(os.urandom(24 * 1024 * 1024))
    return src


def wait_for_committed_lock(cli, proc: subprocess.Popen) -> None:
    """Until ``proc`` holds a committed lock object (not the temporary file it is written through)."""
    locks = os.path.join(cli.repo, "locks")

    def locked_or_ended() -> str | None:
        if os.path.isdir(locks) and any(TEMP_MARK not in n for n in os.listdir(locks)):
            return "locked"
        return "ended" if proc.poll() is not None else None

    seen = wait_for(locked_or_ended, timeout=20, interval=0.02, what=f"a committed lock object in {locks}")
    assert seen == "locked", f"the backup ended (exit {proc.returncode}) before it was seen holding its lock"


@pytest.mark.slow
def test_kill_9_at_random_points_leaves_repository_consistent(cli, big_tree, tmp_path):
    # How long a whole backup of this tree takes here (into a scratch repository, so the trials start empty):
    # the kills are spread over that time, whatever the machine's speed.
    (tmp_path / "timing").mkdir()
    timing = make_cli_env(tmp_path / "timing", str(tmp_path / "timing" / "repo"))
    timing.run("repo", "init")
    t0 = time.monotonic()
    timing.run("snapshot", "create", str(big_tree))
    whole = time.monotonic() - t0
    delays = rng("kill-9-delays")
    killed = 0
    for trial in range(5):
        for f in big_tree.iterdir():  # new content each time, so every trial writes packs
            f.write_bytes(os.urandom(f.stat().st_size))
        proc = cli.popen("snapshot", "create", str(big_tree), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Pacing, not synchronisation: the kill lands at a random moment (seeded, printed) of the backup's life.
        time.sleep(delays.uniform(0.25, 0.9) * whole)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        locks = os.path.join(cli.repo, "locks")
        # A kill while the lock object was still being written leaves only its temporary file (``*.tmp-*``), which
        # the next run removes with the other temporaries; only a committed lock is announced as stale.
        left_behind = [n for n in os.listdir(locks) if TEMP_MARK not in n] if os.path.isdir(locks) else []
        verified = cli.run("--json", "verify", "--read-data")
        report = json.loads(verified.stdout)
        assert report["ok"], (trial, report["errors"])
        if left_behind:  # the dead writer's lock is recognised and cleared by the next run
            assert "removing stale shared lock" in verified.stderr
        assert not os.listdir(locks)
    assert killed >= 3, f"the delays should interrupt most trials (a whole backup took {whole:.2f} s)"
    # The next backup succeeds (stale lock of the dead pid removed), and restores exactly.
    done = cli.run("--json", "snapshot", "create", str(big_tree))
    snap = json.loads(done.stdout)["id"]
    cleanup = json.loads(cli.run("--json", "repo", "cleanup").stdout)
    assert json.loads(cli.run("--json", "verify", "--read-data").stdout)["orphan_packs"] == []
    cli.run("snapshot", "restore", snap, str(tmp_path / "restored"))
    assert_same_tree(big_tree, tmp_path / "restored")
    assert isinstance(cleanup["packs"], list)


def test_second_exclusive_writer_exits_3(cli, big_tree):
    backup = cli.popen("snapshot", "create", str(big_tree), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_committed_lock(cli, backup)
        proc = cli.run("repo", "cleanup", check=False)
        assert proc.returncode == 3, proc.stderr
        assert "shared lock by 'snapshot create'" in proc.stderr
    finally:
        backup.wait(timeout=120)
    assert backup.returncode == 0


def test_repo_info_shows_who_holds_a_lock(cli, big_tree):
    started = datetime.now(UTC).replace(microsecond=0)
    backup = cli.popen("snapshot", "create", str(big_tree), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_committed_lock(cli, backup)
        info = json.loads(cli.run("--json", "repo", "info").stdout)
    finally:
        backup.wait(timeout=120)
    (lock,) = info["locks"]
    assert (lock["command"], lock["pid"], lock["exclusive"]) == ("snapshot create", backup.pid, False)
    assert not lock["stale"]
    assert started <= datetime.fromisoformat(lock["created"]) <= datetime.fromisoformat(lock["refreshed"])
    assert json.loads(cli.run("--json", "repo", "info").stdout)["locks"] == []  # released at the end

    # Another host's lock, not refreshed for two hours: shown as probably stale, its epoch times as ISO times.
    then = time.time() - 7200
    foreign = {"host": "db-elsewhere", "pid": 4242, "exclusive": True, "created": then, "refreshed": then,
               "command": "repo cleanup"}  # fmt: skip
    lock_id = os.urandom(16).hex()
    (Path(cli.repo) / "locks" / lock_id).write_text(json.dumps(foreign))
    (lock,) = json.loads(cli.run("--json", "repo", "info").stdout)["locks"]
    assert lock["id"] == lock_id and lock["stale"] and lock["host"] == "db-elsewhere"
    assert datetime.fromisoformat(lock["created"]) == datetime.fromtimestamp(then, UTC)
    text = cli.run("repo", "info").stdout
    assert "exclusive lock by 'repo cleanup' on db-elsewhere pid 4242" in text
    assert f"(id {lock_id[:12]}); probably stale" in text


def test_waiting_writer_proceeds_after_holder_finishes(cli, big_tree):
    backup = cli.popen("snapshot", "create", str(big_tree), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_committed_lock(cli, backup)
    waited = cli.run("--lock-wait", "120", "--json", "repo", "cleanup")
    assert backup.wait(timeout=120) == 0
    assert json.loads(waited.stdout)["packs"] == []  # the backup's packs were indexed before it let go


def test_concurrent_appenders_both_succeed(cli, big_tree, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.bin").write_bytes(os.urandom(30 * 1024 * 1024))
    procs = [cli.popen("snapshot", "create", str(d), stdout=subprocess.DEVNULL) for d in (big_tree, other)]
    assert [p.wait(timeout=180) for p in procs] == [0, 0]
    report = json.loads(cli.run("--json", "verify", "--read-data").stdout)
    assert report["ok"] and report["snapshots"] == {"files": 2}
