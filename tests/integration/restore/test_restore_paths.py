"""Restore paths beyond the happy one: WAL gaps, another host over SSH, the S3 copy alone, list/show."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from qfbackup.catalog.wal import WAL_KIND
from qfbackup.pg.wal import next_segment_name
from qfbackup.repo.catalog import Snapshot
from tests.integration.ingest.conftest import make_ingest
from tests.integration.restore.pgrun import PG_BIN, RestoredServer
from tests.integration.restore.test_pitr import CHECKSUM, run_workload
from tests.integration.restore.test_pitr import restore_root as restore_root  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.pg, pytest.mark.sshd]


@pytest.fixture
def site(tmp_path, pg_factory, sshd):
    pg = pg_factory()
    pg.psql("create database signalcartel")
    ing = make_ingest(tmp_path, sshd, {"main": pg}, databases={"main": ["signalcartel"]})
    return ing, pg, run_workload(pg, ing.cli, batches=4)


def drop_wal_file(ing, name: str) -> None:
    """Remove one WAL file from the repository: rewrite its batch without it (what a careless prune would do)."""
    repo, _ = ing.open_repo()
    snap = next(s for s in repo.snapshots() if s.kind == WAL_KIND and name in s.streams)
    files = {k: v for k, v in snap.meta["files"].items() if k != name}
    with repo.writer() as w:
        w.commit(
            Snapshot(
                kind=WAL_KIND,
                source=snap.source,
                streams={k: snap.streams[k] for k in files},
                meta={**snap.meta, "files": files},
            )
        )
    repo.store.delete(f"snapshots/{snap.id}")


def test_gap_refuses_targets_beyond_it_and_names_latest_reachable(site, restore_root):
    ing, pg, points = site
    pg.psql("insert into trades (batch, price) values (1000, 1)", dbname="signalcartel")
    pg.switch_wal()  # WAL exists after the victim, so its loss is a gap and not just the end
    ing.cli.run("wal", "pull")
    newest_backup = json.loads(ing.cli.run("--json", "list").stdout)["clusters"][0]["base_backups"][-1]
    shown = json.loads(ing.cli.run("--json", "show", newest_backup["id"]).stdout)
    victim = next_segment_name(shown["meta"]["wal_last_segment"])  # the first WAL replayed past that backup
    assert victim in wal_names(ing)
    drop_wal_file(ing, victim)
    listing = json.loads(ing.cli.run("--json", "list").stdout)["clusters"][0]
    assert victim in [g["first"] for g in listing["wal"]["gaps"]]
    late = points[-1]
    proc = ing.cli.run(
        "restore", "--cluster", "main", "--pitr", late.time, "--to", str(restore_root / "x"), check=False
    )
    assert proc.returncode == 13, proc.stderr  # TargetUnreachable
    assert "not reachable" in proc.stderr and "latest reachable point is" in proc.stderr and victim in proc.stderr
    assert not (restore_root / "x").exists()  # refused before touching anything
    # --latest cannot reach the newest stored WAL: its dry run shows the plan and fails as the restore would
    dry = ing.cli.run("--json", "restore", "--cluster", "main", "--latest", "--dry-run", check=False)
    plan = json.loads(dry.stdout)["plan"]
    assert any(victim in n["message"] for n in plan["notes"]) and plan["wal"]["last"] < victim
    assert dry.returncode == 14 and "would reach only" in dry.stderr and "--accept-earlier" in dry.stderr
    # a target before the gap still restores
    ok = ing.cli.run("--json", "restore", "--cluster", "main", "--pitr", points[2].time, "--dry-run")
    assert json.loads(ok.stdout)["plan"]["wal"]["last"] < victim


def wal_names(ing) -> list[str]:
    repo, _ = ing.open_repo()
    return [n for s in repo.snapshots() if s.kind == WAL_KIND for n in s.streams]


def test_dry_run_changes_nothing_and_prints_plan(site, restore_root):
    ing, _, points = site
    out = ing.cli.run(
        "restore", "--cluster", "main", "--pitr", points[2].time, "--to", str(restore_root / "d"), "--dry-run"
    )
    assert "base backup" in out.stdout and "dry run" in out.stdout and not (restore_root / "d").exists()


def test_restore_onto_another_host_over_ssh(tmp_path, pg_factory, sshd, netns_sshd, restore_root):
    pg = pg_factory()
    pg.psql("create database signalcartel")
    extra = (
        f'\n[hosts.standby-vm]\naddress = "{netns_sshd.host}"\nport = {netns_sshd.port}\nuser = "postgres"\n'
        f'key_file = "{netns_sshd.client_key_path}"\nknown_hosts = "{netns_sshd.known_hosts_path}"\n'
    )
    ing = make_ingest(tmp_path, sshd, {"main": pg}, databases={"main": ["signalcartel"]}, extra=extra)
    run_workload(pg, ing.cli, batches=2)
    expected = pg.psql(CHECKSUM + " from trades", dbname="signalcartel")
    target = restore_root / "remote-data"
    shutil.chown(restore_root, "postgres", "postgres")
    ing.cli.run("restore", "--cluster", "main", "--latest", "--host", "standby-vm", "--to", str(target))
    assert (target / "recovery.signal").exists() and target.stat().st_uid == shutil.os.stat(pg.data_dir).st_uid
    # start it *on that host*, through its own sshd
    run_dir = restore_root / "remote-run"
    run_dir.mkdir()
    shutil.chown(run_dir, "postgres", "postgres")
    port = 25999
    start = subprocess.run(
        netns_sshd.ssh_argv(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(target),
            "-l",
            str(run_dir / "log"),
            "-w",
            "-t",
            "120",
            "-o",
            f"'-p {port} -k {run_dir} -c listen_addresses='\"''\"",
            "start",
        ),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert start.returncode == 0, start.stderr + (run_dir / "log").read_text(errors="replace")[-2000:]
    server = RestoredServer(target)
    server.socket_dir, server.port = run_dir, port
    try:
        server.wait_promoted()
        assert server.psql(CHECKSUM + " from trades", dbname="signalcartel") == expected
    finally:
        server.stop()


@pytest.mark.s3
def test_restore_from_s3_copy_alone(site, restore_root, seaweed, s3_bucket):
    ing, pg, _ = site
    aws = {k: v for k, v in seaweed.env().items() if k.startswith("AWS_")}
    ing.cli.env.update(aws)
    url = seaweed.url(s3_bucket, "qf")
    ing.cli.run("copy", "--to", url)
    shutil.rmtree(ing.dir / "repo")
    ing.cli.env["QFBACKUP_REPO"] = url
    expected = pg.psql(CHECKSUM + " from trades", dbname="signalcartel")
    target = restore_root / "from-s3"
    ing.cli.run("restore", "--cluster", "main", "--latest", "--to", str(target))
    server = RestoredServer(target).start()
    try:
        server.wait_promoted()
        assert server.psql(CHECKSUM + " from trades", dbname="signalcartel") == expected
    finally:
        server.stop()


def test_list_and_show(site):
    ing, pg, _ = site
    inv = json.loads(ing.cli.run("--json", "list").stdout)["clusters"]
    assert [i["cluster"] for i in inv] == ["main"]
    main = inv[0]
    assert len(main["base_backups"]) == 2 and main["wal"]["gaps"] == []
    assert main["windows"][0]["timeline"] == 1 and main["windows"][0]["error"] is None
    sysid = pg.psql("select system_identifier from pg_control_system()")
    shown = json.loads(ing.cli.run("--json", "show", main["base_backups"][0]["id"][:10]).stdout)
    assert str(shown["meta"]["system_identifier"]) == sysid and shown["kind"] == "basebackup"
    human = ing.cli.run("list").stdout
    assert "restorable from" in human and "base backups (2)" in human
