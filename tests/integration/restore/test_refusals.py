"""What restore refuses, and how it degrades honestly (real PostgreSQL 15 behind real sshd, a real repository)."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.integration.restore.pgrun import RestoredServer
from tests.integration.restore.test_pitr import CHECKSUM
from tests.integration.restore.test_pitr import restore_root as restore_root  # noqa: F401 (a fixture)
from tests.integration.restore.test_restore_paths import site as site  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.pg, pytest.mark.sshd]


def flip_byte(path) -> bytes:
    """Damage one byte of a repository object; returns the good bytes (to put back)."""
    good = path.read_bytes()
    data = bytearray(good)
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return good


def test_running_server_and_unknown_cluster_are_refused(site):
    ing, pg, _ = site
    before = {p: p.read_bytes() for p in (pg.data_dir / "PG_VERSION", pg.data_dir / "postgresql.auto.conf")}
    for extra in ((), ("--force",)):
        proc = ing.cli.run("restore", "--cluster", "main", "--latest", "--to", str(pg.data_dir), *extra, check=False)
        assert proc.returncode == 2, proc.stderr
        assert "running server" in proc.stderr and str(pg.postmaster_pid()) in proc.stderr
    assert {p: p.read_bytes() for p in before} == before and not (pg.data_dir / "recovery.signal").exists()
    assert pg.psql("select count(*) from trades", dbname="signalcartel") != ""  # it still runs, untouched

    # A typo in a cluster name is a usage error everywhere, never an empty answer.
    for args in (
        ("list", "--cluster", "nosuch"),
        ("restore", "--cluster", "nosuch", "--latest", "--dry-run"),
        ("restore", "dump", "--cluster", "nosuch", "--db", "x", "--to-file", "/tmp/never-written.dump"),
        ("wal", "status", "--cluster", "nosuch"),
        ("wal", "pull", "--cluster", "nosuch"),
        ("backup", "base", "--cluster", "nosuch"),
        ("drill", "history", "--cluster", "nosuch"),
    ):
        proc = ing.cli.run(*args, check=False)
        assert proc.returncode == 2, (args, proc.returncode, proc.stdout, proc.stderr)
        assert "nosuch" in proc.stderr and "main" in proc.stderr, (args, proc.stderr)  # names the known ones


def test_unreadable_snapshots_refuse_latest_unless_accepted(site, restore_root):
    ing, pg, _ = site
    repo, _ = ing.open_repo()
    batches = sorted((s for s in repo.snapshots() if s.kind == "wal"), key=lambda s: s.time)
    batch = ing.dir / "repo" / "snapshots" / batches[-1].id
    good = flip_byte(batch)  # the newest WAL: the end looks earlier, and no gap shows
    shutil.rmtree(ing.dir / "cache")
    dry = ing.cli.run("--json", "restore", "--cluster", "main", "--latest", "--dry-run", check=False)
    unreadable = json.loads(dry.stdout)["plan"]["unreadable_snapshots"]
    assert [u["id"] for u in unreadable] == [batches[-1].id] and dry.returncode == 14
    proc = ing.cli.run("restore", "--cluster", "main", "--latest", "--to", str(restore_root / "x"), check=False)
    assert proc.returncode == 14 and batches[-1].id in proc.stderr and "would reach only" in proc.stderr
    assert not (restore_root / "x").exists()
    batch.write_bytes(good)
    shutil.rmtree(ing.dir / "cache")

    listing = json.loads(ing.cli.run("--json", "list").stdout)["clusters"][0]
    newest = listing["base_backups"][-1]["id"]
    flip_byte(ing.dir / "repo" / "snapshots" / newest)
    shutil.rmtree(ing.dir / "cache")  # no good copy anywhere: the object itself is damaged
    target = restore_root / "refused"
    proc = ing.cli.run("restore", "--cluster", "main", "--latest", "--to", str(target), check=False)
    assert proc.returncode == 14, proc.stderr  # RestoreDegraded
    assert "would reach only" in proc.stderr and newest in proc.stderr and "--accept-earlier" in proc.stderr
    assert not target.exists()  # refused before anything was written
    damaged = ing.cli.run("restore", "--cluster", "main", "--latest", "--backup", newest[:12], "--to",
                          str(restore_root / "damaged"), check=False)  # fmt: skip
    assert damaged.returncode == 4 and newest in damaged.stderr, damaged.stderr
    # Accepted explicitly: an older backup, the same WAL, and the data is there.
    accepted = restore_root / "accepted"
    ok = ing.cli.run("restore", "--cluster", "main", "--latest", "--accept-earlier", "--to", str(accepted))
    assert "may not be what the repository could give" in ok.stderr
    server = RestoredServer(accepted).start()
    try:
        server.wait_promoted()
        assert server.psql(CHECKSUM + " from trades", dbname="signalcartel") == pg.psql(
            CHECKSUM + " from trades", dbname="signalcartel"
        )
    finally:
        server.stop()
