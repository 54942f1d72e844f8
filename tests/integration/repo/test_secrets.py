"""No secret (passphrase, S3 secret key, key file content) in any output, log or stored object."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from tests.integration.repo.conftest import PASSPHRASE, make_cli_env
from tests.integration.repo.test_cli_files import make_tree


@pytest.mark.s3
def test_no_secret_in_output_logs_or_repository(tmp_path, seaweed, s3_bucket):
    aws = {k: v for k, v in seaweed.env().items() if k.startswith("AWS_")}
    secret_key = aws["AWS_SECRET_ACCESS_KEY"]
    cli = make_cli_env(tmp_path, str(tmp_path / "repo"), aws)
    url = seaweed.url(s3_bucket, "secrets")
    escrow = tmp_path / "escrow.key"
    outputs = []

    def run(*args, **kw):
        for flags in ((), ("-v",), ("--json",)):
            proc = cli.run(*flags, *args, check=False, **kw)
            outputs.append(proc.stdout + proc.stderr)

    cli.run("repo", "init", "--escrow-keyfile", str(escrow))
    keyfile_secret = escrow.read_text().split()[1]
    src = make_tree(tmp_path / "src")
    run("snapshot", "create", str(src))
    run("snapshot", "list")
    run("key", "list")
    run("verify", "--read-data")
    run("copy", "--to", url)
    run("repo", "info")
    # failures print their messages too: a wrong S3 secret, a wrong passphrase
    cli.env["AWS_SECRET_ACCESS_KEY"] = secret_key[::-1]
    run("copy", "--to", url)
    cli.env["AWS_SECRET_ACCESS_KEY"] = secret_key
    cli.passfile.write_text("wrong " + PASSPHRASE)
    run("snapshot", "list")

    text = "\n".join(outputs)
    assert "SignatureDoesNotMatch" in text or "403" in text or "denied" in text.lower()  # the failure did run
    log_files = [seaweed.log_path, *(p for p in (seaweed.base_dir / "log").rglob("*") if p.is_file())]
    logs = "".join(p.read_text(errors="replace") for p in log_files)
    stored = b"".join(p.read_bytes() for p in Path(cli.repo).rglob("*") if p.is_file())
    for secret in (PASSPHRASE, secret_key, keyfile_secret):
        assert secret not in text
        assert secret not in logs
        assert secret.encode() not in stored
    assert base64.b64decode(keyfile_secret) not in stored
    assert oct(os.stat(escrow).st_mode & 0o777) == "0o600"
    (tmp_path / "x").mkdir()
    assert make_cli_env(tmp_path / "x", cli.repo).run("key", "list").returncode == 0
