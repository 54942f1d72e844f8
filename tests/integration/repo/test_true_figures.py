"""The bytes figure each storing command reports is what the repository really grew by, within 1%.

"Stored" means bytes added to the repository: every pack, index file and snapshot object the command wrote (the
repository directory's file sizes, locks excluded: they come and go). Measured around each command run as operators
run it (the CLI with --json), against the sandbox PostgreSQL behind sshd.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.integration.ingest.conftest import Ingest, make_ingest

pytestmark = [pytest.mark.pg, pytest.mark.sshd]


@pytest.fixture
def site(tmp_path: Path, pg_cluster, sshd) -> Ingest:
    """Cluster ``main`` with one database holding enough rows that a dump and a base backup store real data."""
    if pg_cluster.psql("select 1 from pg_database where datname = 'signalcartel'").strip() != "1":
        pg_cluster.psql("create database signalcartel")
    pg_cluster.psql(
        "create table if not exists figures (id bigserial primary key, symbol text, price numeric, note text);"
        "insert into figures (symbol, price, note) select 'BTC', 40000 + g % 977, md5(g::text) "
        "from generate_series(1, 20000) g",
        dbname="signalcartel",
    )
    return make_ingest(tmp_path, sshd, {"main": pg_cluster}, databases={"main": ["signalcartel"]})


def repo_size(root: Path) -> int:
    """The repository's size on disk: the sum of its files' sizes, locks left out."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and "locks" not in p.relative_to(root).parts)


def grown(site: Ingest, *args: str) -> tuple[dict | list, int]:
    """Run ``qfbackup --json ARGS``; its parsed output and how many bytes the repository grew by meanwhile."""
    root = Path(site.cli.repo)
    before = repo_size(root)
    out = json.loads(site.cli.run("--json", *args).stdout)
    return out, repo_size(root) - before


def assert_true_figure(reported: int, growth: int) -> None:
    assert growth > 0, "the command stored nothing: the test proves nothing"
    assert reported > 0
    assert abs(reported - growth) <= 0.01 * growth, f"reported {reported} bytes, the repository grew by {growth}"


def test_wal_pull_reports_what_it_stored(site: Ingest, pg_cluster) -> None:
    for i in range(3):
        pg_cluster.psql(
            f"insert into figures (symbol, price, note) select 'ETH', {i}, 'x' from generate_series(1, 500)",
            dbname="signalcartel",
        )
        pg_cluster.switch_wal()
    out, growth = grown(site, "wal", "pull")
    assert out["clusters"][0]["pulled"]
    assert_true_figure(out["clusters"][0]["bytes_stored"], growth)


def test_backup_base_reports_what_it_stored(site: Ingest) -> None:
    out, growth = grown(site, "backup", "base", "--cluster", "main")
    assert_true_figure(out["bytes_stored"], growth)
    again, growth_again = grown(site, "backup", "base", "--cluster", "main")  # mostly deduplicated
    assert_true_figure(again["bytes_stored"], growth_again)
    assert again["bytes_stored"] < out["bytes_stored"]


def test_backup_dump_reports_what_it_stored(site: Ingest) -> None:
    out, growth = grown(site, "backup", "dump", "--cluster", "main")
    assert out["status"] == "ok"
    assert_true_figure(out["bytes_stored"], growth)


def test_snapshot_create_reports_what_it_stored(site: Ingest, tmp_path: Path) -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    tree = tmp_path / "configs"
    tree.mkdir()
    for i in range(20):  # small files: the snapshot object and index are a large part of what is stored
        (tree / f"app-{i}.conf").write_bytes(rng.randbytes(rng.randrange(100, 4000)))
    out, growth = grown(site, "snapshot", "create", str(tree))
    assert out["files"] == 20
    assert_true_figure(out["bytes_stored"], growth)
