"""The operator's basic cycle through the real CLI: init, back up a directory, list, verify, restore, compare."""

from __future__ import annotations

import filecmp
import json
import os

from tests.integration.repo.conftest import make_cli_env


def make_tree(root):
    (root / "models" / "v1").mkdir(parents=True)
    (root / "models" / "v1" / "weights.bin").write_bytes(os.urandom(3_000_000))
    (root / "docker-compose.yml").write_text("services:\n  db:\n    image: postgres:15\n")
    env = root / ".env"
    env.write_text("DB_PASSWORD=s3cr3t\n")
    env.chmod(0o600)
    (root / "empty").mkdir()
    os.symlink("docker-compose.yml", root / "compose-link")
    return root


def assert_same_tree(a, b):
    cmp = filecmp.dircmp(a, b)
    assert not cmp.left_only and not cmp.right_only and not cmp.diff_files and not cmp.funny_files, cmp.report()
    for sub in cmp.common_dirs:
        assert_same_tree(a / sub, b / sub)
    for name in cmp.common_files:
        assert filecmp.cmp(a / name, b / name, shallow=False)
        sa, sb = os.lstat(a / name), os.lstat(b / name)
        assert (sa.st_mode, sa.st_mtime_ns) == (sb.st_mode, sb.st_mtime_ns), name


def test_backup_list_verify_restore(cli, tmp_path):
    src = make_tree(tmp_path / "src")
    out = cli.run("--json", "snapshot", "create", str(src), "--tag", "config")
    created = json.loads(out.stdout)
    assert created["files"] == 3 and out.stderr == ""
    listed = json.loads(cli.run("--json", "snapshot", "list").stdout)["snapshots"]
    assert [s["id"] for s in listed] == [created["id"]] and listed[0]["tags"] == ["config"]
    listed_text = cli.run("snapshot", "list").stdout
    assert created["id"][:12] in listed_text and "file-set snapshot" in listed_text and "config" in listed_text
    verified = cli.run("verify", "--read-data")
    assert verified.returncode == 0 and "checked 1 file-set snapshot;" in verified.stdout
    restored = cli.run("--json", "snapshot", "restore", created["id"][:10], str(tmp_path / "restored"))
    assert json.loads(restored.stdout)["snapshot_id"] == created["id"] and json.loads(restored.stdout)["files"] == 3
    assert_same_tree(src, tmp_path / "restored")
    assert os.readlink(tmp_path / "restored" / "compose-link") == "docker-compose.yml"


def test_restore_refuses_non_empty_target(cli, tmp_path):
    src = make_tree(tmp_path / "src")
    snap = json.loads(cli.run("--json", "snapshot", "create", str(src)).stdout)["id"]
    target = tmp_path / "busy"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    proc = cli.run("snapshot", "restore", snap, str(target), check=False)
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert (target / "keep.txt").read_text() == "precious"


def test_quiet_prints_nothing_and_errors_are_one_sentence(cli, tmp_path):
    src = make_tree(tmp_path / "src")
    proc = cli.run("-q", "snapshot", "create", str(src))
    assert proc.stdout == "" and proc.stderr == ""
    missing = cli.run("snapshot", "restore", "deadbeef", str(tmp_path / "x"), check=False)
    assert missing.returncode == 6 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("qfbackup: error: no snapshot")


def test_no_repository_and_existing_repository(tmp_path):
    env = make_cli_env(tmp_path, str(tmp_path / "nowhere"))
    proc = env.run("snapshot", "list", check=False)
    assert proc.returncode == 6 and "No repository at" in proc.stderr and "repo init" in proc.stderr
    env.run("repo", "init")
    assert env.run("repo", "init", check=False).returncode == 7


def test_wrong_passphrase_exit_5(cli):
    cli.passfile.write_text("not the passphrase\n")
    proc = cli.run("snapshot", "list", check=False)
    assert proc.returncode == 5 and "wrong passphrase" in proc.stderr


def test_passphrase_file_must_be_private(cli):
    cli.passfile.chmod(0o644)
    proc = cli.run("snapshot", "list", check=False)
    assert proc.returncode == 2 and "chmod 600" in proc.stderr


def test_key_passwd_and_keyfile(cli, tmp_path):
    src = make_tree(tmp_path / "src")
    snap = json.loads(cli.run("--json", "snapshot", "create", str(src)).stdout)["id"]
    new = tmp_path / "new-pass"
    new.write_text("a brand new passphrase\n")
    new.chmod(0o600)
    cli.env["QFBACKUP_NEW_PASSPHRASE_FILE"] = str(new)
    cli.run("key", "passwd")
    assert cli.run("snapshot", "list", check=False).returncode == 5  # old passphrase retired
    cli.env["QFBACKUP_PASSPHRASE_FILE"] = str(new)
    keyfile = tmp_path / "escrow.key"
    cli.run("key", "add", "--keyfile", str(keyfile))
    keys = json.loads(cli.run("--json", "key", "list").stdout)["keys"]
    assert sorted(k["kind"] for k in keys) == ["keyfile", "passphrase"]
    del cli.env["QFBACKUP_PASSPHRASE_FILE"]
    cli.env["QFBACKUP_KEY_FILE"] = str(keyfile)
    cli.run("snapshot", "restore", snap, str(tmp_path / "r"))
    assert_same_tree(src, tmp_path / "r")


def test_wal_get_exit_codes_reach_the_shell(cli, tmp_path):
    """PostgreSQL reads restore_command's exit status: 1 ends recovery, 126 aborts it. They must not become 0."""
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "000000010000000000000001").write_bytes(b"wal")
    base = ("wal-get", "--cluster", "main", "--spool", str(spool))
    assert cli.run(*base, "000000010000000000000001", str(tmp_path / "a")).returncode == 0
    assert (tmp_path / "a").read_bytes() == b"wal"
    assert cli.run(*base, "000000010000000000000002", str(tmp_path / "b"), check=False).returncode == 1
    cli.passfile.write_text("wrong\n")
    broken = cli.run("wal-get", "--cluster", "main", "000000010000000000000002", str(tmp_path / "c"), check=False)
    assert broken.returncode == 126 and not (tmp_path / "c").exists()


def test_repo_and_key_commands_in_json(tmp_path):
    env = make_cli_env(tmp_path, str(tmp_path / "repo"))
    init = json.loads(env.run("--json", "repo", "init", "--escrow-keyfile", str(tmp_path / "escrow.key")).stdout)
    keys = json.loads(env.run("--json", "key", "list").stdout)["keys"]
    assert {k["id"]: k["current"] for k in keys} == {init["key_id"]: True, init["escrow_key_id"]: False}
    new = tmp_path / "new-pass"
    new.write_text("a second passphrase\n")
    new.chmod(0o600)
    env.env["QFBACKUP_NEW_PASSPHRASE_FILE"] = str(new)
    added = json.loads(env.run("--json", "key", "add", "--label", "second").stdout)
    assert (added["kind"], added["label"]) == ("passphrase", "second") and added["id"] not in {k["id"] for k in keys}
    assert json.loads(env.run("--json", "key", "remove", added["id"]).stdout)["id"] == added["id"]
    passwd = json.loads(env.run("--json", "key", "passwd").stdout)
    assert passwd["replaced_key_id"] == init["key_id"]
    env.env["QFBACKUP_PASSPHRASE_FILE"] = str(new)
    after = {k["id"] for k in json.loads(env.run("--json", "key", "list").stdout)["keys"]}
    assert after == {passwd["id"], init["escrow_key_id"]}
    assert f"*  {passwd['id']}  passphrase" in env.run("key", "list").stdout
    info = json.loads(env.run("--json", "repo", "info").stdout)
    assert info["id"] == init["id"] and info["snapshots"] == {} and info["locks"] == [] and info["packs"] == 0
    assert "holds           no snapshots" in env.run("repo", "info").stdout
