import io
import os

from qfbackup.repo.catalog import Snapshot
from qfbackup.repo.check import verify


def _backup(repo, n=600_000):
    with repo.writer() as w:
        ref = w.store_stream(io.BytesIO(os.urandom(n)))
        return w.commit(Snapshot(kind="stream", source="t", streams={"d": ref}))


def test_clean_repo_verifies(mem_repo):
    _backup(mem_repo)
    report = verify(mem_repo, read_data=True)
    assert report.ok and report.packs_read >= 1 and report.blobs_checked > 5


def test_flipped_byte_in_pack_named(mem_repo):
    snap = _backup(mem_repo)
    name = next(o.name for o in mem_repo.store.list("data/"))
    blob = bytearray(mem_repo.store.get(name))
    blob[len(blob) // 3] ^= 0x40
    mem_repo.store.put(name, bytes(blob))
    assert verify(mem_repo).ok  # structure alone cannot see it
    report = verify(mem_repo, read_data=True)
    assert not report.ok
    assert any(p.object == name and snap.short_id in p.snapshots for p in report.errors)


def test_orphan_pack_is_not_an_error(mem_repo):
    _backup(mem_repo)
    mem_repo.store.put("data/ab/" + "ab" * 32, b"junk from a killed writer")
    report = verify(mem_repo, read_data=True)
    assert report.ok and report.orphan_packs == ["data/ab/" + "ab" * 32]


def test_subset_reads_only_part_of_the_packs(mem_repo):
    for _ in range(4):
        _backup(mem_repo, 700_000)  # 256 KiB packs: several per backup
    total = len(list(mem_repo.store.list("data/")))
    report = verify(mem_repo, read_data=True, subset=25.0)
    assert report.ok and 1 <= report.packs_read < total
