"""``wal status`` detects what silently weakens protection on the primary itself (real PostgreSQL 15, real sshd):
archiving off, a failing archive_command, and a timeline whose history file never reached the repository."""

from __future__ import annotations

import json
import shutil

import pytest

from qfbackup.sandbox import wait_for
from tests.integration.ingest.conftest import make_ingest
from tests.integration.restore.failover import DB, insert, repoint
from tests.integration.restore.pgrun import RestoredServer
from tests.integration.restore.test_pitr import restore_root as restore_root  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.pg, pytest.mark.sshd]


def status(ing) -> tuple[int, dict]:
    proc = ing.cli.run("--json", "wal", "status", check=False)
    return proc.returncode, json.loads(proc.stdout)["clusters"][0]


def setup(tmp_path, pg_factory, sshd):
    pg = pg_factory()
    pg.psql(f"create database {DB}")
    pg.psql("create table trades (id bigserial primary key, batch int, price numeric)", dbname=DB)
    ing = make_ingest(tmp_path, sshd, {"main": pg}, databases={"main": [DB]})
    ing.cli.run("backup", "base", "--cluster", "main")
    insert(pg, 1)
    pg.switch_wal()
    ing.cli.run("wal", "pull")
    code, st = status(ing)
    assert code == 0 and st["problems"] == [], st
    return pg, ing


def test_archiving_off_or_failing_is_a_problem(tmp_path, pg_factory, sshd):
    pg, ing = setup(tmp_path, pg_factory, sshd)
    pg.psql("alter system set archive_command = 'false'")
    pg.psql("select pg_reload_conf()")
    insert(pg, 2)
    pg.psql("select pg_switch_wal()")
    wait_for(
        lambda: pg.psql("select failed_count from pg_stat_archiver") != "0",
        timeout=60,
        interval=0.2,
        what="the archiver to try archive_command = 'false' and fail",
    )
    code, st = status(ing)
    failing = [p for p in st["problems"] if p["kind"] == "archive_command_failing"]
    assert code == 19 and failing and "archive_command is failing" in failing[0]["message"] and failing[0]["fix"], st
    assert failing[0]["file"] == st["archiver"]["last_failed_wal"] and st["archiver"]["failed_count"] > 0

    pg.psql("alter system set archive_mode = off")
    pg.restart()
    code, st = status(ing)
    assert code == 19 and st["archive_mode"] == "off"
    assert any(p["message"].startswith("archive_mode is off on the primary") for p in st["problems"]), st


def test_promoted_copy_without_archiving_is_detected_and_fixed(tmp_path, pg_factory, sshd, restore_root):
    """The hole the old default left: a restore (archive_mode off) promoted as the new primary."""
    pg, ing = setup(tmp_path, pg_factory, sshd)
    target = restore_root / "copy"
    ing.cli.run("restore", "--cluster", "main", "--latest", "--to", str(target))  # a copy, not --as-primary
    server = RestoredServer(target).start()
    try:
        server.wait_promoted()  # 00000002.history is created now, with archiving off: never archived
        repoint(ing.policy, pg, server, archive=False)
        code, st = status(ing)
        assert code == 19 and st["server_timeline"] == 2
        assert any("archive_mode is off" in p["message"] for p in st["problems"])
        missing = [p for p in st["problems"] if "on timeline 2 but the repository has no 00000002" in p["message"]]
        assert [(p["kind"], p["timeline"], p["file"]) for p in missing] == [("history_missing", 2, "00000002.history")]

        # The operator turns archiving on by hand: timeline 2's segments arrive, its history file does not.
        server.psql("alter system set archive_mode = on")
        server.psql(f"alter system set archive_command = 'test ! -f {pg.archive_dir}/%f && cp %p {pg.archive_dir}/%f'")
        server.stop()
        server.start()
        insert(server, 2)
        server.switch_wal(pg.archive_dir)
        ing.cli.run("wal", "pull", check=False)
        code, st = status(ing)
        messages = [p["message"] for p in st["problems"]]
        assert code == 19 and any("timeline 2 has WAL or backups but no history file" in m for m in messages)
        windows = {w["timeline"]: w for w in json.loads(ing.cli.run("--json", "list").stdout)["clusters"][0]["windows"]}
        assert "00000002.history" in windows[2]["error"]["message"]

        # The fix the message names: the history file from the server's pg_wal into the archive, then a pull.
        shutil.copy2(target / "pg_wal" / "00000002.history", pg.archive_dir / "00000002.history")
        shutil.chown(pg.archive_dir / "00000002.history", "postgres", "postgres")
        ing.cli.run("wal", "pull")
        code, st = status(ing)
        assert code == 0 and st["problems"] == [], st
        windows = {w["timeline"]: w for w in json.loads(ing.cli.run("--json", "list").stdout)["clusters"][0]["windows"]}
        assert windows[2]["error"] is None and windows[2]["gaps"] == []
    finally:
        server.stop()
