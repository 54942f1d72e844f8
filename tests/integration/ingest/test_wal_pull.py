"""``wal pull`` against a real PostgreSQL 15 archiving WAL, reached through a real sshd."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import time
from contextlib import nullcontext

import pytest

from qfbackup.catalog.wal import WalCatalog
from qfbackup.ops.ingest.wal_pull import pull
from tests.integration.ingest.conftest import make_ingest
from tests.support.streams import sha256_of

pytestmark = [pytest.mark.pg, pytest.mark.sshd]


def workload(pg, switches: int, rows: int = 2000) -> list[str]:
    """Write trades and force WAL switches; returns the segments archived."""
    pg.psql(
        "create table if not exists trades (id bigserial primary key, ts timestamptz default now(),"
        " symbol text, price numeric, qty int)"
    )
    segs = []
    for i in range(switches):
        pg.psql(
            f"insert into trades (symbol, price, qty) select 'BTC', 40000 + g % 100, {i} "
            f"from generate_series(1, {rows}) g"
        )
        segs.append(pg.switch_wal())
    return segs


def archive_hashes(pg) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in pg.archive_dir.iterdir() if p.is_file()}


def stored_hashes(repo, cluster="main") -> dict[str, str]:
    cat = WalCatalog.load(repo, cluster)
    return {name: sha256_of(repo.read_stream(f.ref))[0] for name, f in cat.files.items()}


def test_every_archived_segment_stored_byte_identical(ingest):
    workload(ingest.pg, 4)
    out = json.loads(ingest.cli.run("--json", "wal", "pull").stdout)["clusters"]
    assert out[0]["pulled"] and not out[0]["quarantined"] and not out[0]["gaps"]
    repo, _ = ingest.open_repo()
    expected = archive_hashes(ingest.pg)
    assert stored_hashes(repo) == expected
    # idempotent: nothing pulled twice
    again = json.loads(ingest.cli.run("--json", "wal", "pull").stdout)["clusters"]
    assert again[0]["pulled"] == []
    workload(ingest.pg, 2)
    third = json.loads(ingest.cli.run("--json", "wal", "pull").stdout)["clusters"]
    assert len(third[0]["pulled"]) >= 2
    assert stored_hashes(repo) == archive_hashes(ingest.pg)
    status = json.loads(ingest.cli.run("--json", "wal", "status").stdout)["clusters"][0]
    assert status["newest_segment"] == max(n for n in expected | archive_hashes(ingest.pg) if len(n) == 24)
    assert status["lag_segments"] == 0 and status["gaps"] == [] and status["problems"] == []


def test_cut_mid_transfer_resumes_without_loss_or_duplicates(tmp_path, pg_factory, sshd):
    pg = pg_factory()
    ing = make_ingest(tmp_path, sshd, {"main": pg})
    workload(pg, 12, rows=20000)
    repo, policy = ing.open_repo()
    cut = threading.Event()

    def cut_after_first_file(n):
        if not cut.is_set() and n:
            cut.set()
            sshd.kill_sessions()  # the sshd session dies before the next file has been read

    warnings: list[str] = []
    result = pull(repo, policy, "main", progress=lambda total: nullcontext(cut_after_first_file), warn=warnings.append)
    assert cut.is_set() and result.reconnects >= 1
    # one warning per reconnect, from the one retry mechanism (not a second one from the job)
    assert [w for w in warnings if w.startswith("wal pull from") and "attempt 1/4 failed" in w], warnings
    assert len([w for w in warnings if "attempt 1/4" in w]) == 1, warnings
    stored = stored_hashes(repo)
    assert stored == archive_hashes(pg)
    snaps = [s for s in repo.snapshots() if s.kind == "wal"]
    names = [n for s in snaps for n in s.streams]
    assert len(names) == len(set(names)), "a file recorded twice"


def test_network_partition_then_catch_up(tmp_path, pg_factory, netns_sshd):
    pg = pg_factory()
    ing = make_ingest(tmp_path, netns_sshd, {"main": pg})
    workload(pg, 3)
    ing.cli.run("wal", "pull")
    workload(pg, 3)
    netns_sshd.link_down()
    try:
        t0 = time.monotonic()
        failed = ing.cli.run("wal", "pull", check=False, timeout=120)
        assert failed.returncode == 9 and time.monotonic() - t0 < 90
        status = ing.cli.run("--json", "wal", "status", check=False)
        assert status.returncode == 19 and "cannot query the primary" in status.stdout
    finally:
        netns_sshd.link_up()
    ing.cli.run("wal", "pull")
    repo, _ = ing.open_repo()
    assert stored_hashes(repo) == archive_hashes(pg)
    assert json.loads(ing.cli.run("--json", "wal", "status").stdout)["clusters"][0]["problems"] == []


def test_corrupt_truncated_and_misnamed_files_quarantined(tmp_path, pg_factory, sshd):
    pg = pg_factory()
    ing = make_ingest(tmp_path, sshd, {"main": pg})
    segs = workload(pg, 3)
    arch = pg.archive_dir
    good = arch / segs[-1]
    tli, log, seg = segs[-1][:8], segs[-1][8:16], int(segs[-1][16:], 16)
    misnamed = arch / f"{tli}{log}{seg + 5:08X}"
    shutil.copy(good, misnamed)
    truncated = arch / f"{tli}{log}{seg + 6:08X}"
    truncated.write_bytes(good.read_bytes()[: 5 * 1024 * 1024])
    flipped = arch / f"{tli}{log}{seg + 7:08X}"
    data = bytearray((arch / segs[0]).read_bytes())
    data[0] ^= 0xFF
    flipped.write_bytes(bytes(data))
    old = time.time() - 3600  # not "still being copied"
    for p in (misnamed, truncated, flipped):
        os.utime(p, (old, old))
        shutil.chown(p, "postgres", "postgres")
    proc = ing.cli.run("--json", "wal", "pull", check=False)
    assert proc.returncode == 21  # WalQuarantined: a warning, the good files are stored
    out = json.loads(proc.stdout)["clusters"][0]
    checks = {q["name"]: q["check"] for q in out["quarantined"]}
    assert checks == {misnamed.name: "segment", truncated.name: "segment", flipped.name: "segment"}
    assert not any(q["previously"] for q in out["quarantined"])
    repo, _ = ing.open_repo()
    cat = WalCatalog.load(repo, "main")
    assert not {misnamed.name, truncated.name, flipped.name} & set(cat.files)
    assert set(cat.quarantined) == {misnamed.name, truncated.name, flipped.name}
    assert good.name in cat.files
    again = json.loads(ing.cli.run("--json", "wal", "pull", check=False).stdout)["clusters"][0]
    assert again["pulled"] == [] and {q["name"] for q in again["quarantined"]} == set(checks)
    assert all(q["previously"] and q["check"] == checks[q["name"]] for q in again["quarantined"])


def test_gap_reported_until_closed(tmp_path, pg_factory, sshd):
    pg = pg_factory()
    ing = make_ingest(tmp_path, sshd, {"main": pg})
    segs = workload(pg, 4)
    hidden = pg.archive_dir / segs[1]
    parked = tmp_path / segs[1]
    shutil.move(hidden, parked)  # archive_command "lost" it, for now
    proc = ing.cli.run("--json", "wal", "pull", check=False)
    assert proc.returncode == 20 and json.loads(proc.stdout)["clusters"][0]["gaps"]  # WalGapOpen
    status = ing.cli.run("wal", "status", check=False)
    assert status.returncode == 19 and "GAP" in status.stdout and segs[1] in status.stdout
    shutil.move(parked, hidden)
    ing.cli.run("wal", "pull")
    assert ing.cli.run("wal", "status").returncode == 0


def test_remove_after_deletes_only_stored_files(tmp_path, pg_factory, sshd):
    pg = pg_factory()
    ing = make_ingest(tmp_path, sshd, {"main": pg})
    text = ing.policy.read_text().replace("databases = []", "databases = []\nremove_after = true")
    ing.policy.write_text(text)
    segs = workload(pg, 3)
    before = archive_hashes(pg)
    out = json.loads(ing.cli.run("--json", "wal", "pull").stdout)["clusters"][0]
    assert set(out["removed_from_host"]) == set(out["pulled"]) and set(segs) <= set(out["removed_from_host"])
    assert not any(pg.archive_dir.glob("0*"))
    repo, _ = ing.open_repo()
    assert stored_hashes(repo) == before


def test_changed_host_key_refused(ingest, tmp_path):
    kh = ingest.sshd.known_hosts_path
    original = kh.read_text()
    fake = tmp_path / "fake"
    os.system(f"ssh-keygen -q -t ed25519 -N '' -f {fake}")
    try:
        host = original.split()[0]
        kh.write_text(
            f"{host} {(tmp_path / 'fake.pub').read_text().split()[0]} "
            f"{(tmp_path / 'fake.pub').read_text().split()[1]}\n"
        )
        proc = ingest.cli.run("wal", "pull", check=False)
        assert proc.returncode == 9 and "SHA256:" in proc.stderr and "changed" in proc.stderr.lower()
    finally:
        kh.write_text(original)
