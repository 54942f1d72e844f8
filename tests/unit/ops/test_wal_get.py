"""wal-get's contract with PostgreSQL: 0 copied, 1 missing (recovery ends), 126 broken (recovery aborts)."""

import io

from qfbackup.catalog.wal import WAL_KIND
from qfbackup.errors import KeyRefused
from qfbackup.ops.restore.wal_get import FATAL, FOUND, MISSING, wal_get
from qfbackup.pg import wal
from qfbackup.repo.catalog import Snapshot

NAMES = [wal.segment_name(1, s) for s in range(1, 6)]


def store_wal(repo):
    with repo.writer() as w:
        streams = {n: w.store_stream(io.BytesIO(n.encode() * 1000)) for n in NAMES}
        meta = {"files": {n: {"kind": "segment", "size": 24000, "mtime": 0.0} for n in NAMES}}
        w.commit(Snapshot(kind=WAL_KIND, source="main", streams=streams, meta=meta))


def test_spool_first_without_opening_the_repository(tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / NAMES[0]).write_bytes(b"staged")

    def never():
        raise AssertionError("the repository must not be opened")

    assert wal_get(NAMES[0], tmp_path / "dest", cluster="main", spool=spool, open_repo=never) == FOUND
    assert (tmp_path / "dest").read_bytes() == b"staged"


def test_fetch_and_prefetch_from_repository(mem_repo, tmp_path):
    store_wal(mem_repo)
    spool = tmp_path / "spool"
    spool.mkdir()
    code = wal_get(NAMES[1], tmp_path / "dest", cluster="main", spool=spool, open_repo=lambda: mem_repo, prefetch=2)
    assert code == FOUND and (tmp_path / "dest").read_bytes() == NAMES[1].encode() * 1000
    assert sorted(p.name for p in spool.iterdir()) == NAMES[2:4]


def test_missing_and_unreadable(mem_repo, tmp_path):
    store_wal(mem_repo)
    assert (
        wal_get(wal.segment_name(1, 9), tmp_path / "d", cluster="main", spool=None, open_repo=lambda: mem_repo)
        == MISSING
    )

    def locked():
        raise KeyRefused("no passphrase")

    assert wal_get(NAMES[0], tmp_path / "d", cluster="main", spool=None, open_repo=locked) == FATAL
    assert wal_get(NAMES[0], tmp_path / "d", cluster="main", spool=tmp_path, open_repo=locked) == MISSING
