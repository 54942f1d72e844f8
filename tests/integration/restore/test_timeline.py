"""A promotion (timeline 2): WAL pull keeps both timelines and the history file, restore follows the history."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.integration.ingest.conftest import make_ingest
from tests.integration.restore.pgrun import RestoredServer
from tests.integration.restore.test_pitr import CHECKSUM
from tests.integration.restore.test_pitr import restore_root as restore_root  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.pg, pytest.mark.sshd]


def insert(pg, batch: int) -> None:
    pg.psql(
        f"insert into trades (batch, price) select {batch}, g from generate_series(1, 300) g", dbname="signalcartel"
    )


def test_wal_across_a_promotion_restores_on_the_new_timeline(tmp_path, pg_factory, sshd, restore_root):
    primary = pg_factory()
    primary.psql("create database signalcartel")
    primary.psql("create table trades (id bigserial primary key, batch int, price numeric)", dbname="signalcartel")
    ing = make_ingest(tmp_path, sshd, {"main": primary}, databases={"main": ["signalcartel"]})
    ing.cli.run("backup", "base", "--cluster", "main")
    insert(primary, 1)
    primary.switch_wal()
    standby = pg_factory.standby(primary)
    insert(primary, 2)
    standby.wait_caught_up()
    primary.stop_server()
    standby.psql("select pg_promote(true, 60)")
    insert(standby, 3)
    standby.switch_wal()
    # One archive, as on the VMS host: the old primary's WAL and the new one's side by side.
    for f in primary.archive_dir.iterdir():
        if not (standby.archive_dir / f.name).exists():
            shutil.copy2(f, standby.archive_dir / f.name)
            shutil.chown(standby.archive_dir / f.name, "postgres", "postgres")
    text = ing.policy.read_text()
    for old, new in (
        (primary.port, standby.port),
        (primary.socket_dir, standby.socket_dir),
        (primary.archive_dir, standby.archive_dir),
        (primary.data_dir, standby.data_dir),
    ):
        text = text.replace(str(old), str(new))
    ing.policy.write_text(text)

    pulled = json.loads(ing.cli.run("--json", "wal", "pull").stdout)["clusters"][0]
    assert "00000002.history" in pulled["pulled"] and pulled["gaps"] == []
    status = json.loads(ing.cli.run("--json", "wal", "status").stdout)["clusters"][0]
    assert set(status["timelines"]) == {"1", "2"} and status["problems"] == []

    plan = json.loads(ing.cli.run("--json", "restore", "--cluster", "main", "--latest", "--dry-run").stdout)["plan"]
    assert plan["timeline"] == 2 and plan["wal"]["files"] >= 3
    target = restore_root / "tl2"
    ing.cli.run("restore", "--cluster", "main", "--latest", "--to", str(target))
    server = RestoredServer(target).start()
    try:
        server.wait_promoted()
        assert server.psql(CHECKSUM + " from trades", dbname="signalcartel") == standby.psql(
            CHECKSUM + " from trades", dbname="signalcartel"
        )
        assert "selected new timeline ID: 3" in server.log_text()  # replayed timeline 2, then promoted past it
    finally:
        server.stop()
