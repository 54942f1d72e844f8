"""The S3 mirror: idempotent, resumable, and enough on its own (with the key) to restore everything."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pytest

from qfbackup.sandbox import wait_for
from tests.integration.repo.conftest import PASSPHRASE, make_cli_env
from tests.integration.repo.test_cli_files import assert_same_tree, make_tree

pytestmark = pytest.mark.s3


@pytest.fixture
def mirrored(tmp_path, seaweed, s3_bucket):
    aws = {k: v for k, v in seaweed.env().items() if k.startswith("AWS_")}
    cli = make_cli_env(tmp_path, str(tmp_path / "repo"), aws)
    escrow = tmp_path / "escrow.key"
    cli.run("repo", "init", "--escrow-keyfile", str(escrow))
    src = make_tree(tmp_path / "src")
    for i in range(3):
        (src / "models" / f"big-{i}.bin").write_bytes(os.urandom(20 * 1024 * 1024))
    snap = json.loads(cli.run("--json", "snapshot", "create", str(src)).stdout)["id"]
    return cli, seaweed.url(s3_bucket, "quantum-forge"), src, snap, escrow


def test_copy_is_idempotent_and_restores_alone(mirrored, tmp_path):
    cli, url, src, snap, escrow = mirrored
    first = json.loads(cli.run("--json", "copy", "--to", url).stdout)
    assert first["copied"] > 5
    second = json.loads(cli.run("--json", "copy", "--to", url).stdout)
    assert second["copied"] == 0 and second["present"] == first["copied"]

    shutil.rmtree(cli.repo)  # the local repository is gone
    cli.env["QFBACKUP_REPO"] = url
    report = json.loads(cli.run("--json", "verify", "--read-data").stdout)
    assert report["ok"] and report["snapshots"] == {"files": 1}
    cli.run("snapshot", "restore", snap, str(tmp_path / "from-s3"))
    assert_same_tree(src, tmp_path / "from-s3")
    # The escrow key file alone opens the mirror too.
    del cli.env["QFBACKUP_PASSPHRASE_FILE"]
    cli.env["QFBACKUP_KEY_FILE"] = str(escrow)
    cli.run("snapshot", "restore", snap, str(tmp_path / "from-escrow"))
    assert_same_tree(src, tmp_path / "from-escrow")


def test_interrupted_copy_resumes(mirrored, seaweed, s3_bucket):
    cli, url, _, _, _ = mirrored
    s3 = seaweed.client()

    def mirrored_names(prefix: str) -> list[str]:
        got = s3.list_objects_v2(Bucket=s3_bucket, Prefix=f"quantum-forge/{prefix}")
        return [o["Key"] for o in got.get("Contents", [])]

    proc = cli.popen("copy", "--to", url, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # kill it once the first pack is there (or fail at once if the copy ended without one)
    wait_for(lambda: mirrored_names("data/") or proc.poll() is not None, timeout=30, interval=0.02, what="a pack")
    assert mirrored_names("data/"), f"the copy ended (exit {proc.returncode}) before mirroring a pack"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert mirrored_names("snapshots/") == []  # snapshots go last: the half mirror shows nothing half-done
    resumed = json.loads(cli.run("--json", "copy", "--to", url).stdout)
    assert resumed["copied"] >= 1 and resumed["present"] >= 1
    cli.env["QFBACKUP_REPO"] = url
    assert json.loads(cli.run("--json", "verify", "--read-data").stdout)["ok"]


def test_changed_passphrase_propagates_to_mirror(mirrored, tmp_path):
    cli, url, _, snap, _ = mirrored
    cli.run("copy", "--to", url)
    new = tmp_path / "new-pass"
    new.write_text("rotated passphrase\n")
    new.chmod(0o600)
    cli.env["QFBACKUP_NEW_PASSPHRASE_FILE"] = str(new)
    cli.run("key", "passwd")
    cli.env["QFBACKUP_PASSPHRASE_FILE"] = str(new)
    assert json.loads(cli.run("--json", "copy", "--to", url).stdout)["keys_removed"]
    (tmp_path / "old").mkdir()
    old = make_cli_env(tmp_path / "old", url, {k: v for k, v in cli.env.items() if k.startswith("AWS_")})
    assert old.run("snapshot", "list", check=False).returncode == 5
    assert PASSPHRASE not in new.read_text()


def test_copy_refuses_a_foreign_repository(mirrored, tmp_path):
    cli, url, _, _, _ = mirrored
    cli.run("copy", "--to", url)
    (tmp_path / "o").mkdir()
    other = make_cli_env(
        tmp_path / "o", str(tmp_path / "other-repo"), {k: v for k, v in cli.env.items() if k.startswith("AWS_")}
    )
    other.run("repo", "init")
    proc = other.run("copy", "--to", url, check=False)
    assert proc.returncode == 2 and "another repository" in proc.stderr


def test_repository_initialised_directly_on_s3(tmp_path, seaweed, s3_bucket):
    aws = {k: v for k, v in seaweed.env().items() if k.startswith("AWS_")}
    cli = make_cli_env(tmp_path, seaweed.url(s3_bucket, "direct"), aws)
    cli.run("repo", "init")
    src = make_tree(tmp_path / "src")
    snap = json.loads(cli.run("--json", "snapshot", "create", str(src)).stdout)["id"]
    assert json.loads(cli.run("--json", "verify", "--read-data").stdout)["ok"]
    cli.run("snapshot", "restore", snap, str(tmp_path / "out"))
    assert_same_tree(src, tmp_path / "out")
