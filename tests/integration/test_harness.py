"""Proof that each harness service is real and behaves as the other tests assume.

If these fail, every integration test built on the harness is suspect, so they check the properties those tests
rely on: WAL really gets archived, host keys really are checked, a pulled link really cuts traffic, S3
credentials really are enforced.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from qfbackup.sandbox import live_services
from qfbackup.sandbox.pg import WAL_SEGMENT_SIZE, PgCluster
from qfbackup.sandbox.sshd import NetnsSshServer, SshServer


def ssh(server: SshServer, *command: str, timeout: float = 30, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(server.ssh_argv(*command, **kw), capture_output=True, text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------------------------------------------------------
# PostgreSQL


@pytest.mark.pg
def test_pg_archives_segment_after_switch_wal(pg_cluster: PgCluster) -> None:
    before = int(pg_cluster.psql("select archived_count from pg_stat_archiver"))
    segment = pg_cluster.switch_wal()
    archived = pg_cluster.archive_dir / segment
    assert archived.is_file()
    assert archived.stat().st_size == WAL_SEGMENT_SIZE
    assert int(pg_cluster.psql("select archived_count from pg_stat_archiver")) > before
    assert pg_cluster.psql("select setting from pg_settings where name = 'wal_level'") == "replica"
    assert pg_cluster.psql("select count(*) from pg_stat_archiver where failed_count > 0") == "0"


@pytest.mark.pg
def test_pg_tcp_dsn_and_standby(pg_factory: Any) -> None:
    primary = pg_factory()
    standby = pg_factory.standby(primary)
    assert standby.port != primary.port
    primary.psql("create table trades (id int primary key, px numeric); insert into trades values (1, 101.5)")
    standby.wait_caught_up()
    assert standby.psql("select px from trades where id = 1") == "101.5"
    assert standby.is_in_recovery() and not primary.is_in_recovery()
    # the dsn is plain TCP on 127.0.0.1, as the tool will use it
    out = subprocess.run(
        [str(primary.bin_dir / "psql"), "-X", "-A", "-t", "-d", primary.dsn, "-c", "select inet_server_addr()"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert out == "127.0.0.1"


# ---------------------------------------------------------------------------------------------------------------
# SSH


@pytest.mark.sshd
def test_ssh_strict_host_key_checking(sshd: SshServer, tmp_path: Any) -> None:
    ok = ssh(sshd, "id", "-un")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "postgres"

    # a known_hosts that lists another key for this host:port must make the client refuse
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    wrong = tmp_path / "known_hosts"
    other_pub = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    wrong.write_text(f"[{sshd.host}]:{sshd.port} {other_pub}\n")
    argv = sshd.ssh_argv("true")
    argv[argv.index(f"UserKnownHostsFile={sshd.known_hosts_path}")] = f"UserKnownHostsFile={wrong}"
    bad = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert bad.returncode == 255
    assert "host key" in bad.stderr.lower()


@pytest.mark.sshd
def test_ssh_refuses_other_keys_and_users(sshd: SshServer, tmp_path: Any) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "stranger")], check=True)
    argv = sshd.ssh_argv("true")
    argv[argv.index(str(sshd.client_key_path))] = str(tmp_path / "stranger")
    assert subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 255
    argv = sshd.ssh_argv("true")
    argv[argv.index(f"postgres@{sshd.host}")] = f"root@{sshd.host}"
    assert subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 255


@pytest.mark.sshd
def test_ssh_kill_sessions_cuts_open_connection(sshd: SshServer) -> None:
    proc = subprocess.Popen(sshd.ssh_argv("echo started; sleep 30"), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        assert sshd.kill_sessions() >= 1
        assert proc.wait(timeout=10) == 255
    finally:
        proc.kill()
        proc.wait()
    assert ssh(sshd, "true").returncode == 0  # the listener survived


@pytest.mark.sshd
def test_netns_link_down_and_up(netns_sshd: NetnsSshServer) -> None:
    assert netns_sshd.host.startswith("10.200.")
    assert ssh(netns_sshd, "id", "-un").stdout.strip() == "postgres"
    netns_sshd.link_down()
    t0 = time.monotonic()
    down = ssh(netns_sshd, "true", connect_timeout=2)
    assert down.returncode == 255
    # The subnet's unreachable route keeps the traffic on this machine: the connect fails, it never leaves.
    assert "no route to host" in down.stderr.lower() or time.monotonic() - t0 >= 1.5, down.stderr
    netns_sshd.link_up()
    up = ssh(netns_sshd, "id", "-un", connect_timeout=5)
    assert up.returncode == 0, up.stderr


# ---------------------------------------------------------------------------------------------------------------
# S3


@pytest.mark.s3
def test_seaweed_enforces_credentials(seaweed: Any, s3_bucket: str) -> None:
    good = seaweed.client()
    good.put_object(Bucket=s3_bucket, Key="k", Body=b"v")
    assert good.get_object(Bucket=s3_bucket, Key="k")["Body"].read() == b"v"

    bad = seaweed.client(secret_key="not-the-secret")
    with pytest.raises(ClientError) as exc:
        bad.get_object(Bucket=s3_bucket, Key="k")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert exc.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    with pytest.raises(ClientError) as exc:
        seaweed.client(access_key="NOSUCHKEY").put_object(Bucket=s3_bucket, Key="k2", Body=b"v")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.s3
def test_seaweed_object_lock_bucket(seaweed: Any) -> None:
    import datetime

    bucket = seaweed.create_bucket(f"qfb-lock-{int(time.time() * 1000)}", object_lock=True)
    c = seaweed.client()
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1)
    put = c.put_object(
        Bucket=bucket, Key="locked", Body=b"x", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until
    )
    with pytest.raises(ClientError) as exc:
        c.delete_object(Bucket=bucket, Key="locked", VersionId=put["VersionId"])
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_services_are_registered_while_running(sshd: SshServer) -> None:
    # the leak backstop (atexit / pytest_sessionfinish) can only stop what it knows about
    assert sshd in live_services()
