"""docs/runbooks/primary-down.md followed literally, then vms-host-loss.md chained after it from the S3 copy alone.

The qfbackup commands are read from the runbooks themselves (tests/support/runbook.py) and run with the
runbooks' placeholders replaced, so a runbook cannot drift from the tool. What the runbook does outside qfbackup
(docker, pg_ctl on the VMS host) is done here by hand to the same effect: the sandbox's "vms" is a real sshd on
loopback, the primary a real PostgreSQL 15.

The point of the test is what happens *after* the first disaster: the restore promoted as the new primary keeps
archiving (its timeline 2 history file reaches the repository with no manual step), points on timeline 2 and on
timeline 1 before the fork restore exactly, and the whole thing survives a second disaster from the S3 copy.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.integration.ingest.conftest import make_ingest
from tests.integration.restore.failover import DB, insert, moment, repoint
from tests.integration.restore.pgrun import RestoredServer
from tests.integration.restore.test_pitr import CHECKSUM
from tests.integration.restore.test_pitr import restore_root as restore_root  # noqa: F401 (a fixture)
from tests.support import runbook

pytestmark = [pytest.mark.pg, pytest.mark.sshd, pytest.mark.s3]

RUNBOOK_TIME = "2026-11-26T03:10:00Z"
RUNBOOK_S3 = "s3://quantum-forge-backups/qfbackup"
EMERGENCY = "/var/lib/postgresql/15/emergency"


def checksum(pg) -> str:
    return pg.psql(CHECKSUM + " from trades", dbname=DB)


def restore_copy(ing, target, *args) -> str:
    """A plain restore (a copy, archive_mode off), promoted, its table checksum."""
    ing.cli.run("restore", "--cluster", "signalcartel", "--action", "promote", "--to", str(target), *args)
    server = RestoredServer(target).start()
    try:
        server.wait_promoted()
        assert "recovery stopping" in server.log_text() or "--latest" in args, server.log_text()[-2000:]
        assert server.psql("show archive_mode") == "off"
        return server.psql(CHECKSUM + " from trades", dbname=DB)
    finally:
        server.stop()


def test_primary_down_then_vms_host_loss(tmp_path, pg_factory, sshd, seaweed, s3_bucket, restore_root):
    primary = pg_factory()
    primary.psql(f"create database {DB}")
    primary.psql("create table trades (id bigserial primary key, batch int, price numeric)", dbname=DB)
    creds = tmp_path / "s3-credentials"
    creds.write_text(f"access_key={seaweed.access_key}\nsecret_key={seaweed.secret_key}\n")
    creds.chmod(0o600)
    s3_url = seaweed.url(s3_bucket, "qfbackup")
    offsite = f'\n[offsite]\nurl = "{s3_url}"\nendpoint = "{seaweed.endpoint}"\ncredentials_file = "{creds}"\n'
    ing = make_ingest(tmp_path, sshd, {"signalcartel": primary}, databases={"signalcartel": [DB]}, extra=offsite)
    escrow = tmp_path / "escrow.key"
    ing.cli.run("key", "add", "--keyfile", str(escrow), "--label", "escrow")
    ing.cli.run("backup", "base", "--cluster", "signalcartel")
    insert(primary, 1)
    insert(primary, 2)
    t2, sum2 = moment(primary), checksum(primary)
    insert(primary, 3)
    t3, sum3 = moment(primary), checksum(primary)
    insert(primary, 4)  # committed and archived, but after the point the operator restores to
    primary.switch_wal()
    ing.cli.run("wal", "pull")

    # The disaster: the primary's data directory is gone; the host and its archive directory survive.
    primary.stop_server("immediate")
    before = runbook.commands("primary-down.md", "Before you start")
    restore_cmds = runbook.commands("primary-down.md", "Restore")
    shutil.chown(restore_root, "postgres", "postgres")  # the SSH user (postgres) writes the restore on "vms"
    r = restore_root / "signalcartel-restore"
    subst = {'"$R"': str(r), "$R": str(r), RUNBOOK_TIME: t3}
    ing.cli.run(*runbook.argv(runbook.find(before, "wal", "pull"), subst))
    status = ing.cli.run(*runbook.argv(runbook.find(before, "wal", "status"), subst), check=False)
    assert status.returncode == 19 and "cannot query the primary" in status.stderr + status.stdout
    ing.cli.run(*runbook.argv(runbook.find(before, "list"), subst))

    # Restore steps 1-2: the --pitr variant (the primary died of bad data after t3), as the new primary.
    dry = runbook.argv(runbook.find(restore_cmds, "restore", "--pitr", "--dry-run"), subst)
    plan = json.loads(ing.cli.run("--json", *dry).stdout)["plan"]
    assert plan["gap"] is None and plan["timeline"] == 1
    done = ing.cli.run(*runbook.argv(runbook.find(restore_cmds, "restore", "--pitr", without=("--dry-run",)), subst))
    assert "the new primary: archives WAL into" in done.stdout
    log = restore_root / "signalcartel-restore.recovery.log"
    assert log.exists() and not (r / "recovery.log").exists()  # the log stays out of the data directory

    # Steps 3-4: start it, check it paused at the target, promote with pg_wal_replay_resume().
    server = RestoredServer(r)
    server.log = log
    server.start()
    try:
        server.wait_paused()
        assert server.psql(CHECKSUM + " from trades", dbname=DB) == sum3
        server.psql("select pg_wal_replay_resume()")
        server.wait_promoted()
        assert server.psql("show archive_mode") == "on"  # step 6
        # Step 5, the swap: the new primary now is the cluster the policy names.
        repoint(ing.policy, primary, server, archive=False)
        # Step 8: protect the new primary at once, with the runbook's own commands (its `docker exec ...
        # pg_switch_wal()` line, between the backup and the pull, is done here on the restored server).
        protect = [c for c in restore_cmds if c.split()[1] in ("backup", "wal", "list", "copy")]
        assert protect[0].split()[1:3] == ["backup", "base"], protect
        ing.cli.run(*runbook.argv(protect[0], subst))
        server.switch_wal(primary.archive_dir)
        for cmd in protect[1:]:
            ing.cli.run(*runbook.argv(cmd, subst))
        status = json.loads(ing.cli.run("--json", "wal", "status", "--cluster", "signalcartel").stdout)["clusters"][0]
        assert status["problems"] == [] and status["server_timeline"] == 2 and status["archive_mode"] == "on"
        windows = {w["timeline"]: w for w in json.loads(ing.cli.run("--json", "list").stdout)["clusters"][0]["windows"]}
        assert windows[2]["error"] is None and windows[2]["gaps"] == []
        insert(server, 5)
        t5, sum5 = moment(server), checksum(server)
        insert(server, 6)
        server.switch_wal(primary.archive_dir)
        ing.cli.run("wal", "pull")
        ing.cli.run("copy", "--to", "offsite")
        final = checksum(server)
    finally:
        server.stop()

    # PITR to a point on timeline 2 (from the base backup of the new primary, which carries the first restore's
    # settings in its postgresql.auto.conf) and to one on timeline 1 before the fork (from the first backup), each
    # exact; the copies do not archive.
    newest = json.loads(ing.cli.run("--json", "list").stdout)["clusters"][0]["base_backups"][-1]
    dry_t5 = ing.cli.run("--json", "restore", "--cluster", "signalcartel", "--pitr", t5, "--dry-run")
    plan = json.loads(dry_t5.stdout)["plan"]
    assert newest["timeline"] == 2 and plan["backup"]["id"] == newest["id"] and plan["timeline"] == 2
    assert restore_copy(ing, restore_root / "tl2", "--pitr", t5) == sum5
    assert restore_copy(ing, restore_root / "tl1", "--pitr", t2) == sum2
    auto = (restore_root / "tl2" / "postgresql.auto.conf").read_text()
    assert auto.count("restore_command") == 1 and auto.count("archive_mode") == 1, auto  # nothing piles up
    assert "archive_mode = 'off'" in auto

    # vms-host-loss.md chained after it: the local repository is gone too; the S3 copy alone, the escrow key.
    shutil.rmtree(ing.dir / "repo")
    ing.cli.env.update({k: v for k, v in seaweed.env().items() if k.startswith("AWS_")})
    ing.cli.env["QFBACKUP_KEY_FILE"] = str(escrow)
    loss = runbook.commands("vms-host-loss.md", "Restore and start")
    emergency = restore_root / "emergency"
    archive = restore_root / "emergency-wal"
    subst = {RUNBOOK_S3: s3_url, f"{EMERGENCY}-wal": str(archive), EMERGENCY: str(emergency)}
    ing.cli.run(*runbook.argv(runbook.find(loss, "--repo", "--dry-run"), subst))
    ing.cli.run(*runbook.argv(runbook.find(loss, "--repo", "--as-primary", without=("--dry-run",)), subst))
    server = RestoredServer(emergency)
    server.log = restore_root / "emergency.recovery.log"
    server.start()
    try:
        server.wait_promoted()
        assert server.psql(CHECKSUM + " from trades", dbname=DB) == final
        assert server.psql("select timeline_id from pg_control_checkpoint()") in ("2", "3")
        server.psql("checkpoint")
        assert server.psql("select timeline_id from pg_control_checkpoint()") == "3"
        insert(server, 8)
        server.switch_wal(archive)
        assert (archive / "00000003.history").exists()  # archiving from the start: the new timeline is kept
    finally:
        server.stop()
