"""Repositories on real backends, and the CLI run as operators run it (a subprocess, exit codes, env secrets)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.jsoncheck import check_run

PASSPHRASE = "integration-pass-7f3a9c"


@dataclass
class CliEnv:
    repo: str
    env: dict
    passfile: Path

    def run(self, *args: str, check: bool = True, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "qfbackup", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"qfbackup {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
        check_run(args, proc)
        return proc

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "qfbackup", *args], env=self.env, **kw)


def make_cli_env(tmp_path: Path, repo: str, extra: dict | None = None) -> CliEnv:
    passfile = tmp_path / "passphrase"
    passfile.write_text(PASSPHRASE + "\n")
    passfile.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QFBACKUP_")}
    env.update(QFBACKUP_REPO=repo, QFBACKUP_PASSPHRASE_FILE=str(passfile))
    env.update(extra or {})
    return CliEnv(repo, env, passfile)


@pytest.fixture
def cli(tmp_path) -> CliEnv:
    """An initialised local repository and the environment to run ``qfbackup`` against it."""
    env = make_cli_env(tmp_path, str(tmp_path / "repo"))
    env.run("repo", "init")
    return env
