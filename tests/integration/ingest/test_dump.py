"""``qfbackup backup dump`` against real PostgreSQL 15 behind a real sshd.

What must hold: each configured database is dumped with pg_dump -Fc into one snapshot, listed with its metadata,
and restores with pg_restore into a fresh database with the same rows; globals come along; a dump that fails is
recorded as failed with its stderr while the others are kept, and the command exits 1 naming it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from qfbackup.repo.repository import Repository
from qfbackup.sandbox import as_user, chown, wait_for
from tests.integration.ingest.conftest import Ingest, make_ingest

pytestmark = [pytest.mark.pg, pytest.mark.sshd]

TABLES = {
    "signalcartel": {"signals": 1200, "strategies": 7},
    "consolidated": {"positions": 3456},
}


def fill(pg, db: str, tables: dict[str, int]) -> None:
    for table, rows in tables.items():
        pg.psql(
            f"drop table if exists {table};"
            f"create table {table} (id int primary key, note text, at timestamptz default now());"
            f"insert into {table} (id, note) select g, md5(g::text) from generate_series(1, {rows}) g;",
            dbname=db,
        )


def counts(pg, db: str, tables) -> dict[str, int]:
    return {t: int(pg.psql(f"select count(*) from {t}", dbname=db)) for t in tables}


def stream_bytes(repo: Repository, snap_id: str, name: str) -> bytes:
    snap = repo.snapshot(snap_id)
    return b"".join(repo.read_stream(snap.streams[name]))


@pytest.fixture
def scratch_dbs(pg_cluster) -> Iterator[list[str]]:
    """Names of databases a test creates for restores; dropped afterwards (the cluster is shared)."""
    names: list[str] = []
    yield names
    for name in names:
        pg_cluster.psql(f"drop database if exists {name}")


def test_dumps_restore_with_the_same_rows(ingest: Ingest, pg_cluster, scratch_dbs: list[str]) -> None:
    for db, tables in TABLES.items():
        fill(pg_cluster, db, tables)

    out = json.loads(ingest.cli.run("--json", "backup", "dump", "--cluster", "main").stdout)
    assert out["status"] == "ok" and out["failed"] == []
    assert set(out["streams"]) == {"db/signalcartel.dump", "db/consolidated.dump", "globals.sql"}
    assert out["bytes_in"] == sum(out["streams"].values())

    listed = json.loads(ingest.cli.run("--json", "snapshot", "list", "--kind", "dump").stdout)["snapshots"]
    assert [(s["id"], s["source"]) for s in listed] == [(out["id"], "main")]
    repo = ingest.open_repo()[0]
    meta = repo.snapshot(out["id"]).meta
    assert meta["server_version_num"] == int(pg_cluster.psql("show server_version_num"))
    assert "pg_dump (PostgreSQL) 15" in meta["pg_dump_version"]
    for db in TABLES:
        assert meta["databases"][db]["status"] == "ok"
        assert meta["databases"][db]["size"] == out["streams"][f"db/{db}.dump"] > 0
        assert meta["databases"][db]["duration_s"] >= 0
    assert meta["globals"]["status"] == "ok"
    assert b"CREATE ROLE postgres" in stream_bytes(repo, out["id"], "globals.sql")

    for db, tables in TABLES.items():
        dump = stream_bytes(repo, out["id"], f"db/{db}.dump")
        assert dump.startswith(b"PGDMP")  # custom format
        target = f"restored_{db}_{uuid.uuid4().hex[:8]}"
        scratch_dbs.append(target)
        pg_cluster.psql(f"create database {target}")
        restore = subprocess.run(
            as_user(
                "postgres",
                [
                    pg_cluster.bin("pg_restore"),
                    "--exit-on-error",
                    "--no-owner",
                    "-h",
                    str(pg_cluster.socket_dir),
                    "-p",
                    str(pg_cluster.port),
                    "-U",
                    "postgres",
                    "-d",
                    target,
                ],
            ),  # fmt: skip
            input=dump,
            capture_output=True,
        )
        assert restore.returncode == 0, restore.stderr.decode()
        assert counts(pg_cluster, target, tables) == tables


def test_failed_dump_is_recorded_and_the_others_kept(pg_cluster, sshd, tmp_path) -> None:
    fill(pg_cluster, "signalcartel", TABLES["signalcartel"])
    ingest = make_ingest(tmp_path, sshd, {"main": pg_cluster}, databases={"main": ["signalcartel", "nosuchdb"]})

    proc = ingest.cli.run("--json", "backup", "dump", "--cluster", "main", check=False)
    assert proc.returncode == 1, proc.stderr
    assert "nosuchdb" in proc.stderr and 'database "nosuchdb" does not exist' in proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "partial" and out["failed"] == ["nosuchdb"]
    assert set(out["streams"]) == {"db/signalcartel.dump", "globals.sql"}

    meta = ingest.open_repo()[0].snapshot(out["id"]).meta
    failed = meta["databases"]["nosuchdb"]
    assert failed["status"] == "failed" and failed["exit_status"] == 1
    assert 'database "nosuchdb" does not exist' in failed["stderr"]
    assert "stream" not in failed
    assert meta["databases"]["signalcartel"]["status"] == "ok"


def test_only_policy_databases_can_be_dumped(ingest: Ingest) -> None:
    proc = ingest.cli.run("backup", "dump", "--cluster", "main", "--db", "postgres; rm -rf /", check=False)
    assert proc.returncode == 2 and "not in the policy" in proc.stderr
    out = json.loads(
        ingest.cli.run("--json", "backup", "dump", "--cluster", "main", "--db", "consolidated", "--no-globals").stdout
    )
    assert set(out["streams"]) == {"db/consolidated.dump"} and out["globals"] is None


def test_lost_connection_fails_one_dump_and_the_next_reconnects(pg_cluster, sshd, tmp_path) -> None:
    """signalcartel's pg_dump stalls mid-output and the SSH connection is cut: that dump is recorded as failed,
    consolidated is dumped over a new connection, and the snapshot keeps it."""
    fill(pg_cluster, "consolidated", TABLES["consolidated"])
    host_dir = Path(tempfile.mkdtemp(prefix="qfb-dumptest-"))
    try:
        host_dir.chmod(0o755)
        chown(host_dir, "postgres")
        marker = host_dir / "stalled"
        for name in ("psql", "pg_dumpall"):
            (host_dir / name).symlink_to(pg_cluster.bin(name))
        script = host_dir / "pg_dump"
        script.write_text(
            "#!/bin/sh\nfor last; do :; done\n"
            f'if [ "$last" = signalcartel ]; then echo PGDMP-partial; touch {marker}; sleep 60; fi\n'
            f'exec {pg_cluster.bin("pg_dump")} "$@"\n'
        )
        script.chmod(0o755)
        fields = {k: getattr(pg_cluster, k) for k in ("port", "socket_dir", "data_dir", "archive_dir")}
        cluster = SimpleNamespace(**fields, bin_dir=host_dir)
        ingest = make_ingest(tmp_path, sshd, {"main": cluster}, databases={"main": ["signalcartel", "consolidated"]})
        proc = ingest.cli.popen("--json", "backup", "dump", "--cluster", "main",
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            # The marker follows the partial output and precedes the stall: the cut below falls mid-output.
            wait_for(lambda: marker.exists() or proc.poll() is not None, timeout=30, interval=0.05, what="pg_dump")
            assert marker.exists(), f"pg_dump never started (the backup exited {proc.returncode})"
            assert sshd.kill_sessions(include_commands=True) > 0
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)
    assert proc.returncode == 1, stderr
    out = json.loads(stdout)
    assert out["failed"] == ["signalcartel"] and "lost" in out["databases"]["signalcartel"]["error"]["message"]
    assert out["databases"]["consolidated"]["status"] == "ok"
    assert set(out["streams"]) == {"db/consolidated.dump", "globals.sql"}
