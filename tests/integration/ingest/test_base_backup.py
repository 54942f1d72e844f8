"""``qfbackup backup base`` against real PostgreSQL 15 behind a real sshd.

What must hold: a committed base backup is a complete, valid pg_basebackup tar (pg_verifybackup accepts it) with
its WAL position recorded; the second one of an unchanged cluster deduplicates; a remote command that fails or a
connection cut mid-stream leaves no snapshot and exits 9 with the remote stderr; a standby can be the source.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from qfbackup.ops.restore.cluster import safe_extract
from qfbackup.output.contract import check
from qfbackup.repo.repository import Repository
from qfbackup.sandbox import chown, wait_for
from tests.integration.ingest.conftest import Ingest, make_ingest
from tests.support.tty import bar_totals, plain, run_with_terminal, to_bytes

pytestmark = [pytest.mark.pg, pytest.mark.sshd]


def snapshots(ingest: Ingest, kind: str) -> list[dict]:
    return json.loads(ingest.cli.run("--json", "snapshot", "list", "--kind", kind).stdout)["snapshots"]


def base_backup(ingest: Ingest, *args: str) -> dict:
    return json.loads(ingest.cli.run("--json", "backup", "base", *args).stdout)


def restore_tar(repo: Repository, snap_id: str, path: Path) -> Path:
    snap = repo.snapshot(snap_id)
    with open(path, "wb") as f:
        for part in repo.read_stream(snap.streams["base.tar"]):
            f.write(part)
    return path


def pg_bin(name: str) -> str:
    from qfbackup.sandbox.pg import PG_BIN_DIR

    return str(PG_BIN_DIR / name)


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A directory on the "database host" the remote user (postgres) can read and write (tmp_path is 0700 root)."""
    d = Path(tempfile.mkdtemp(prefix="qfb-bbtest-"))
    d.chmod(0o755)
    chown(d, "postgres")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def wrapper_bin(directory: Path, pg_basebackup_script: str) -> Path:
    """A pg_bin_dir whose psql is the real one and whose pg_basebackup is ``pg_basebackup_script`` (sh)."""
    (directory / "psql").symlink_to(pg_bin("psql"))
    script = directory / "pg_basebackup"
    script.write_text("#!/bin/sh\n" + pg_basebackup_script.replace("REAL", pg_bin("pg_basebackup")) + "\n")
    script.chmod(0o755)
    return directory


def cluster_like(pg, **overrides) -> SimpleNamespace:
    """The harness cluster as sandbox_policy sees it, with some settings replaced (a broken policy)."""
    fields = {k: getattr(pg, k) for k in ("port", "socket_dir", "bin_dir", "data_dir", "archive_dir")}
    return SimpleNamespace(**{**fields, **overrides})


# --- the good path ------------------------------------------------------------------------------------------------


def test_base_backup_is_listed_valid_and_deduplicates(ingest: Ingest, pg_cluster, tmp_path: Path) -> None:
    clock = "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    before = pg_cluster.psql(clock)
    first = base_backup(ingest, "--cluster", "main")
    after = pg_cluster.psql(clock)
    assert first["kind"] == "basebackup" and first["cluster"] == "main" and not first["from_standby"]
    assert first["bytes_in"] == first["streams"]["base.tar"] > 10_000_000
    assert 0 < first["bytes_stored"] < first["bytes_in"]

    listed = snapshots(ingest, "basebackup")
    assert [s["id"] for s in listed] == [first["id"]]
    repo = ingest.open_repo()[0]
    meta = repo.snapshot(first["id"]).meta
    sysid = pg_cluster.psql("select system_identifier from pg_control_system()")
    assert meta["system_identifier"] == sysid
    assert meta["server_version_num"] == int(pg_cluster.psql("show server_version_num"))
    assert meta["start_timeline"] == meta["stop_timeline"] == 1
    lsn_ok = pg_cluster.psql(
        f"select '{meta['start_lsn']}'::pg_lsn < '{meta['stop_lsn']}'::pg_lsn"
        f" and '{meta['stop_lsn']}'::pg_lsn <= pg_current_wal_lsn()"
    )
    assert lsn_ok == "t"
    assert meta["wal_first_segment"] <= meta["wal_last_segment"]
    assert meta["wal_first_segment"] == pg_cluster.psql(f"select pg_walfile_name('{meta['start_lsn']}')")
    assert meta["backup_from"] == "primary" and meta["wal_included"]
    assert meta["bytes_raw"] == first["bytes_in"] and meta["duration_s"] > 0 and meta["throughput_mb_s"] > 0
    assert meta["stopped_at"] >= meta["started_at"]
    # the consistency time: the server's clock after pg_basebackup finished, to the microsecond
    assert before < meta["end_time"] < after and len(meta["end_time"].split(".")[1]) == len("123456+00:00")
    assert f"START WAL LOCATION: {meta['start_lsn']}" in meta["backup_label"]

    tar_path = restore_tar(repo, first["id"], tmp_path / "base.tar")
    with tarfile.open(tar_path) as tar:
        names = set(tar.getnames())
        assert {"PG_VERSION", "backup_label", "backup_manifest", "global/pg_control"} <= names
        assert any(n.startswith("pg_wal/0000000") for n in names)
        datadir = tmp_path / "restored"
        datadir.mkdir()
    with tarfile.open(tar_path, mode="r|") as tar:
        safe_extract(tar, datadir)  # works on Debian 12's Python 3.11.2 too (no extraction filters there)
    verify = subprocess.run([pg_bin("pg_verifybackup"), str(datadir)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr

    second = base_backup(ingest, "--cluster", "main")
    assert second["id"] != first["id"]
    assert second["bytes_stored"] < 0.25 * first["bytes_stored"], (first, second)
    assert len(snapshots(ingest, "basebackup")) == 2


def test_base_backup_from_standby(pg_factory, sshd, tmp_path: Path) -> None:
    primary = pg_factory()
    primary.psql("create table t as select g from generate_series(1, 1000) g")
    standby = pg_factory.standby(primary)
    standby.wait_caught_up()
    ingest = make_ingest(tmp_path, sshd, {"prim": primary, "sb": standby}, standbys={"sb": "prim"})

    out = base_backup(ingest, "--cluster", "prim", "--from-standby")
    assert out["from_standby"] and out["source_cluster"] == "sb" and out["cluster"] == "prim"
    meta = ingest.open_repo()[0].snapshot(out["id"]).meta
    assert meta["backup_from"] == "standby"
    assert meta["system_identifier"] == primary.psql("select system_identifier from pg_control_system()")
    assert [s["source"] for s in snapshots(ingest, "basebackup")] == ["prim"]

    # the policy decides when no flag is given; --from-primary overrides it
    refused = ingest.cli.run("backup", "base", "--cluster", "sb", check=False)
    assert refused.returncode == 2 and "standby" in refused.stderr
    plain = base_backup(ingest, "--cluster", "prim")
    assert not plain["from_standby"] and plain["source_cluster"] == "prim"


# --- progress on a terminal, and nowhere else ------------------------------------------------------------------


def test_base_backup_progress_has_a_total_on_a_terminal_only(ingest: Ingest, pg_cluster) -> None:
    """The bar's total is the server's database sizes plus one WAL segment, known before the tar starts."""
    segment = "(select setting::bigint from pg_settings where name = 'wal_segment_size')"
    sizes = f"select sum(pg_database_size(oid)) + {segment} from pg_database"
    expected = int(pg_cluster.psql(sizes))
    run = run_with_terminal(["backup", "base", "--cluster", "main"], ingest.cli.env)
    assert run.returncode == 0 and run.stdout.startswith("base backup "), run.terminal[-2000:]
    # the total is known before the tar starts, so every bar line has it and a time-remaining column
    (total,) = bar_totals(run.terminal, "base backup of main", with_eta=True)
    assert to_bytes(total) == pytest.approx(expected, rel=0.01), plain(run.terminal)  # the server's sizes then

    quiet = run_with_terminal(["-q", "backup", "base", "--cluster", "main"], ingest.cli.env)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.terminal.strip() == ""

    as_json = run_with_terminal(["--json", "backup", "base", "--cluster", "main"], ingest.cli.env)
    assert as_json.returncode == 0 and "base backup of main" in plain(as_json.terminal)
    doc = json.loads(as_json.stdout)  # stdout is the document and nothing else
    assert check(doc) == [] and doc["command"] == "backup base"

    piped = ingest.cli.run("backup", "base", "--cluster", "main")  # stderr is a pipe, as under cron
    assert piped.stderr == "" and piped.stdout.startswith("base backup ")
    assert len(snapshots(ingest, "basebackup")) == 4


# --- failures: nothing committed, exit 18, the remote stderr shown ------------------------------------------------


def assert_failed_without_snapshot(ingest: Ingest, proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 18, proc.stderr  # BaseBackupFailed
    assert proc.stderr.startswith("qfbackup: error: Base backup of cluster main"), proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    assert snapshots(ingest, "basebackup") == []


def test_bad_pg_bin_dir_and_socket_dir(pg_cluster, sshd, tmp_path: Path) -> None:
    bad_bin = make_ingest(tmp_path / "a", sshd, {"main": cluster_like(pg_cluster, bin_dir=Path("/nonexistent/bin"))})
    proc = bad_bin.cli.run("backup", "base", "--cluster", "main", check=False)
    assert_failed_without_snapshot(bad_bin, proc, "/nonexistent/bin/psql", "No such file or directory")

    bad_sock = make_ingest(tmp_path / "b", sshd, {"main": cluster_like(pg_cluster, socket_dir=Path("/nonexistent"))})
    proc = bad_sock.cli.run("backup", "base", "--cluster", "main", check=False)
    assert_failed_without_snapshot(bad_sock, proc, "/nonexistent/.s.PGSQL")


def test_remote_failure_mid_stream(pg_cluster, sshd, tmp_path: Path, host_dir: Path) -> None:
    """pg_basebackup's output stops part-way and the command exits nonzero: no snapshot, exit 9, stderr shown."""
    bin_dir = wrapper_bin(host_dir, 'REAL "$@" | head -c 3000000\necho "simulated: disk on fire" >&2\nexit 3')
    ingest = make_ingest(tmp_path, sshd, {"main": cluster_like(pg_cluster, bin_dir=bin_dir)})
    proc = ingest.cli.run("backup", "base", "--cluster", "main", check=False)
    assert_failed_without_snapshot(
        ingest, proc, "pg_basebackup exited with status 3 after 3000000 bytes", "simulated: disk on fire"
    )


def test_connection_cut_mid_stream(pg_cluster, sshd, tmp_path: Path, host_dir: Path) -> None:
    """The SSH connection dies while the tar is streaming: no snapshot, exit 9, and the next backup works."""
    marker = host_dir / "streaming"
    script = f'REAL "$@" | head -c 8000000\ntouch {marker}\nsleep 60'
    bin_dir = wrapper_bin(host_dir, script)
    ingest = make_ingest(tmp_path, sshd, {"main": cluster_like(pg_cluster, bin_dir=bin_dir)})
    proc = ingest.cli.popen("backup", "base", "--cluster", "main", stderr=subprocess.PIPE, text=True)
    try:
        # The marker follows 8 MB of tar and precedes the stall: the cut below falls mid-stream.
        wait_for(lambda: marker.exists() or proc.poll() is not None, timeout=30, interval=0.05, what="the stream")
        assert proc.poll() is None, f"the backup ended (exit {proc.returncode}) before it could be cut"
        assert sshd.kill_sessions(include_commands=True) > 0
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, "", stderr)
    assert_failed_without_snapshot(ingest, done, "lost")

    # the same repository takes a good backup afterwards (chunks of the cut stream are simply reused)
    (host_dir / "pg_basebackup").unlink()
    (host_dir / "pg_basebackup").symlink_to(pg_bin("pg_basebackup"))
    good = base_backup(ingest, "--cluster", "main")
    assert [s["id"] for s in snapshots(ingest, "basebackup")] == [good["id"]]
