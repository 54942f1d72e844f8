"""After a promotion: backup choice along the timeline's history, and one restorable window that list, restore,
wal status and the plan all agree on (real PostgreSQL 15 behind real sshd)."""

from __future__ import annotations

import json

import pytest

from tests.integration.ingest.conftest import make_ingest
from tests.integration.restore.failover import DB, insert, merge_archive, moment, repoint
from tests.integration.restore.pgrun import RestoredServer
from tests.integration.restore.test_pitr import CHECKSUM
from tests.integration.restore.test_pitr import restore_root as restore_root  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.pg, pytest.mark.sshd]


def checksum(pg) -> str:
    return pg.psql(CHECKSUM + " from trades", dbname=DB)


def test_backup_after_the_fork_serves_only_its_own_timeline(tmp_path, pg_factory, sshd, restore_root):
    primary = pg_factory()
    primary.psql(f"create database {DB}")
    primary.psql("create table trades (id bigserial primary key, batch int, price numeric)", dbname=DB)
    ing = make_ingest(tmp_path, sshd, {"main": primary}, databases={"main": [DB]})
    ing.cli.run("backup", "base", "--cluster", "main")  # b1: timeline 1, before the fork
    insert(primary, 1)
    primary.switch_wal()
    standby = pg_factory.standby(primary)
    insert(primary, 2)
    standby.wait_caught_up()
    standby.psql("select pg_promote(true, 60)")  # timeline 2 forks off here
    # The old primary goes on writing timeline 1 (a split brain, or the old side of a test) and is backed up:
    # this backup starts on timeline 1 *after* the fork, so it is not on timeline 2's history.
    insert(primary, 50)
    ing.cli.run("backup", "base", "--cluster", "main")
    primary.switch_wal()
    ing.cli.run("wal", "pull")
    insert(standby, 3)
    on_tl2 = moment(standby)
    expected_at = checksum(standby)
    insert(standby, 4)
    standby.switch_wal()
    merge_archive(primary.archive_dir, standby.archive_dir)
    repoint(ing.policy, primary, standby)
    ing.cli.run("wal", "pull")

    backups = json.loads(ing.cli.run("--json", "list").stdout)["clusters"][0]["base_backups"]
    b1, b2 = backups[0]["id"], backups[1]["id"]
    assert [b["timeline"] for b in backups] == [1, 1]

    # One computation of the window: list, wal status and the plan agree, and nothing reads as a gap.
    inv = json.loads(ing.cli.run("--json", "list").stdout)["clusters"][0]
    windows = {w["timeline"]: w for w in inv["windows"]}
    assert set(windows) == {1, 2} and all(w["error"] is None for w in windows.values()), windows
    assert inv["wal"]["gaps"] == [] and windows[2]["gaps"] == [] and windows[1]["gaps"] == []
    assert windows[2]["from"]["backup_id"] == b1 and windows[2]["backups"] == 1  # b2 is not on timeline 2's path
    assert windows[1]["backups"] == 2
    status = json.loads(ing.cli.run("--json", "wal", "status").stdout)["clusters"][0]
    assert status["gaps"] == [] and status["problems"] == [] and status["server_timeline"] == 2
    plan = json.loads(ing.cli.run("--json", "restore", "--cluster", "main", "--latest", "--dry-run").stdout)["plan"]
    assert plan["timeline"] == 2 and plan["backup"]["id"] == b1 and plan["gap"] is None
    assert plan["reachable"] == windows[2]["to"]
    tl1 = json.loads(
        ing.cli.run("--json", "restore", "--cluster", "main", "--latest", "--timeline", "1", "--dry-run").stdout
    )["plan"]
    assert tl1["backup"]["id"] == b2 and tl1["reachable"] == windows[1]["to"]

    # --latest follows timeline 2 from b1: the standby's data, never the old primary's batch 50.
    latest = restore_root / "latest"
    ing.cli.run("restore", "--cluster", "main", "--latest", "--to", str(latest))
    server = RestoredServer(latest).start()
    try:
        server.wait_promoted()
        assert server.psql(CHECKSUM + " from trades", dbname=DB) == checksum(standby)
        assert server.psql("select count(*) from trades where batch = 50", dbname=DB) == "0"
    finally:
        server.stop()

    # A time on timeline 2 is reachable (no false "WAL gap"), and exact.
    pitr = restore_root / "pitr"
    ing.cli.run("restore", "--cluster", "main", "--pitr", on_tl2, "--action", "promote", "--to", str(pitr))
    server = RestoredServer(pitr).start()
    try:
        server.wait_promoted()
        assert "recovery stopping" in server.log_text()
        assert server.psql(CHECKSUM + " from trades", dbname=DB) == expected_at
    finally:
        server.stop()
