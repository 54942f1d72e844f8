"""A sandbox database host (real PostgreSQL 15 behind a real sshd) and a policy + repository pointing at it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from qfbackup.ops.access import open_repository
from qfbackup.policy import load_policy
from qfbackup.sandbox.site import sandbox_policy
from tests.integration.repo.conftest import CliEnv

pytestmark = [pytest.mark.pg, pytest.mark.sshd]


@dataclass
class Ingest:
    cli: CliEnv
    policy: Path
    pg: object
    sshd: object
    dir: Path

    def open_repo(self):
        """(Repository, Policy) through the library, as the CLI would open them with this site's policy."""
        policy = load_policy(self.policy)  # its repository.passphrase_file unlocks
        return open_repository(policy), policy


def make_ingest(tmp_path: Path, sshd, clusters: dict, **kw) -> Ingest:
    policy = sandbox_policy(tmp_path / "site", sshd=sshd, clusters=clusters, **kw)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QFBACKUP_")}
    env["QFBACKUP_POLICY"] = str(policy)
    cli = CliEnv(str(tmp_path / "site" / "repo"), env, tmp_path / "site" / "passphrase")
    cli.run("repo", "init")
    return Ingest(cli, policy, next(iter(clusters.values())), sshd, tmp_path / "site")


@pytest.fixture
def ingest(tmp_path, pg_cluster, sshd) -> Ingest:
    """Cluster ``main`` (the shared harness PostgreSQL) with databases signalcartel and consolidated."""
    for db in ("signalcartel", "consolidated"):
        if pg_cluster.psql(f"select 1 from pg_database where datname = '{db}'").strip() != "1":
            pg_cluster.psql(f"create database {db}")
    return make_ingest(tmp_path, sshd, {"main": pg_cluster}, databases={"main": ["signalcartel", "consolidated"]})
