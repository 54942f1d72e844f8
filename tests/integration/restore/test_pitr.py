"""Point-in-time recovery, proved on real PostgreSQL 15: restored data equals the source as of each target.

A workload commits numbered batches of trades while WAL is pulled and base backups are taken. After each batch
the test records the time, LSN, xid and a checksum of the table, and makes a named restore point. Restores to
random targets of every kind must then start and hold exactly the batches committed before the target.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from qfbackup.pg.wal import parse_lsn
from tests.integration.ingest.conftest import make_ingest
from tests.integration.restore.pgrun import RestoredServer
from tests.support.seed import rng

pytestmark = [pytest.mark.pg, pytest.mark.sshd]

CHECKSUM = (
    "select count(*) || ':' || coalesce(md5(string_agg(id || '/' || batch || '/' || price, ',' order by id)), '')"
)


@dataclass
class Point:
    batch: int
    time: str  # a moment after this batch committed and before the next
    lsn: str
    xid: str
    checksum: str  # of trades after this batch


def run_workload(pg, cli, batches: int = 8) -> list[Point]:
    pg.psql(
        "create table trades (id bigserial primary key, batch int not null, price numeric not null,"
        " ts timestamptz default clock_timestamp())",
        dbname="signalcartel",
    )
    points = [Point(0, "", "", "", pg.psql(CHECKSUM + " from trades", dbname="signalcartel"))]
    cli.run("backup", "base", "--cluster", "main")  # the oldest backup: every target below lies after it
    for b in range(1, batches + 1):
        out = pg.psql(
            f"begin; insert into trades (batch, price) select {b}, 100 + g % 7 from generate_series(1, 500) g;"
            " select txid_current(); commit;",
            dbname="signalcartel",
        ).split()
        xid = out[-1] if out[-1].isdigit() else [x for x in out if x.isdigit()][-1]
        lsn = pg.psql("select pg_current_wal_lsn()")
        # Pacing, not synchronisation: 0.3 s on each side of the recorded moment so that this batch's commit, the
        # moment and the next commit are clearly apart in time, and a time target falls between two commits.
        time.sleep(0.3)
        moment = pg.psql(
            "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
        )
        pg.psql(f"select pg_create_restore_point('batch-{b}')")
        time.sleep(0.3)  # pacing (see above)
        points.append(Point(b, moment, lsn, xid, pg.psql(CHECKSUM + " from trades", dbname="signalcartel")))
        if b == batches // 2:
            pg.switch_wal()
            cli.run("wal", "pull")
            cli.run("backup", "base", "--cluster", "main")
    pg.psql("insert into trades (batch, price) values (999, 1)", dbname="signalcartel")  # a commit after the last point
    pg.switch_wal()
    cli.run("wal", "pull")
    return points


@pytest.fixture
def site(tmp_path, pg_factory, sshd):
    pg = pg_factory()
    pg.psql("create database signalcartel")
    ing = make_ingest(tmp_path, sshd, {"main": pg}, databases={"main": ["signalcartel"]})
    points = run_workload(pg, ing.cli)
    return ing, pg, points


@pytest.fixture
def restore_root():
    """Restores go where the postgres user can reach them (pytest's tmp_path is root-only)."""
    root = Path(tempfile.mkdtemp(prefix="qfb-restore-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def restore_and_read(ing, root: Path, name: str, *args: str) -> tuple[str, str]:
    """Restore with the CLI, start the copy, wait for promotion, return (table checksum, server log)."""
    target = root / name
    ing.cli.run("restore", "--cluster", "main", "--to", str(target), "--action", "promote", *args)
    server = RestoredServer(target).start()
    try:
        server.wait_promoted()
        return server.psql(CHECKSUM + " from trades", dbname="signalcartel"), server.log_text()
    finally:
        server.stop()


def test_restores_to_random_targets_match_source(site, restore_root):
    ing, pg, points = site
    targets = rng("pitr-targets")
    later = [p for p in points if p.batch >= 1]
    cases = [
        ("time", lambda p: ("--pitr", p.time), lambda p: p.batch),
        ("lsn", lambda p: ("--target-lsn", p.lsn), lambda p: p.batch),
        ("xid", lambda p: ("--target-xid", p.xid), lambda p: p.batch),
        ("xid-exclusive", lambda p: ("--target-xid", p.xid, "--target-exclusive"), lambda p: p.batch - 1),
        ("name", lambda p: ("--target-name", f"batch-{p.batch}"), lambda p: p.batch),
        ("time-2", lambda p: ("--pitr", p.time), lambda p: p.batch),
    ]
    by_batch = {p.batch: p for p in points}
    for kind, args, expect in cases:
        point = targets.choice(later)
        checksum, log = restore_and_read(ing, restore_root, f"{kind}-{point.batch}", *args(point))
        assert checksum == by_batch[expect(point)].checksum, (kind, point, log[-3000:])
        assert "recovery stopping" in log, log[-2000:]  # replay really stopped at the target
    latest, log = restore_and_read(ing, restore_root, "latest", "--latest")
    assert latest == pg.psql(CHECKSUM + " from trades", dbname="signalcartel")


def test_restore_points_are_indexed_and_planned_by_position(site, restore_root):
    ing, _, points = site
    inv = json.loads(ing.cli.run("--json", "list").stdout)["clusters"][0]
    assert [r["name"] for r in inv["restore_points"]] == [f"batch-{p.batch}" for p in points[1:]]
    for rp, p in zip(inv["restore_points"], points[1:], strict=True):
        assert parse_lsn(rp["lsn"]) >= parse_lsn(p.lsn) and rp["time"] > p.time  # created right after it
    backups = inv["base_backups"]
    late = json.loads(
        ing.cli.run("--json", "restore", "--cluster", "main", "--target-name", "batch-7", "--dry-run").stdout
    )["plan"]
    assert late["restore_point"]["name"] == "batch-7" and late["backup"]["id"] == backups[-1]["id"]  # not the oldest
    early = json.loads(
        ing.cli.run("--json", "restore", "--cluster", "main", "--target-name", "batch-1", "--dry-run").stdout
    )["plan"]
    assert early["backup"]["id"] == backups[0]["id"]
    target = restore_root / "never"
    proc = ing.cli.run("restore", "--cluster", "main", "--target-name", "batch-77", "--to", str(target), check=False)
    assert proc.returncode == 16 and "batch-77" in proc.stderr and "nearest known: batch-7" in proc.stderr, proc.stderr
    assert not target.exists()
    listed = json.loads(ing.cli.run("--json", "snapshot", "list").stdout)["snapshots"]
    wal_snaps = [s for s in listed if s["kind"] == "wal"]
    shown = [ing.cli.run("show", s["id"]).stdout for s in wal_snaps]
    rp = next(r for r in inv["restore_points"] if r["name"] == "batch-3")  # listed under its segment, in words
    assert any(re.search(rf"- lsn +{rp['lsn']}\n +name +batch-3\n", text) for text in shown), shown
