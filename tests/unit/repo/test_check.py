import io
import os

from qfbackup.repo.catalog import Snapshot
from qfbackup.repo.check import BLOB, PACK, Affected, Verifier, verify


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
    assert any(p.object == name and snap.id in [a.snapshot_id for a in p.affected] for p in report.errors)


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


def test_snapshots_are_counted_by_kind(mem_repo):
    _backup(mem_repo)
    with mem_repo.writer() as w:
        ref = w.store_stream(io.BytesIO(os.urandom(1000)))
        w.commit(Snapshot(kind="wal", source="main", streams={"000000010000000000000001": ref}))
    assert verify(mem_repo).snapshots == {"stream": 1, "wal": 1}


def test_read_plan_total_is_what_reading_downloads(mem_repo):
    for _ in range(3):
        _backup(mem_repo, 700_000)
    verifier = Verifier(mem_repo)
    plan = verifier.plan_read()
    seen: list[int] = []
    verifier.read_data(plan, progress=seen.append)
    stored = sum(o.size for o in mem_repo.store.list("data/"))
    assert plan.bytes == stored == sum(seen) == verifier.report.bytes_read
    assert verifier.report.packs_read == len(plan.blobs) > 1


def test_problems_are_data_naming_object_and_affected_snapshots(mem_repo):
    snap = _backup(mem_repo)
    victim = next(o.name for o in mem_repo.store.list("data/"))
    del mem_repo.store.objects[victim]
    report = verify(mem_repo)
    (problem,) = [p for p in report.errors if p.object == victim]
    assert problem.kind == PACK and problem.object_id == victim.rsplit("/", 1)[1]
    assert problem.message == "missing (named by an index)"
    assert problem.affected == [Affected(snap.id, "stream")]


def test_blob_in_no_index_has_no_object(mem_repo):
    snap = _backup(mem_repo)
    for name in [o.name for o in mem_repo.store.list("index/")]:
        del mem_repo.store.objects[name]
    report = verify(mem_repo)
    blobs = [p for p in report.errors if p.kind == BLOB]
    assert blobs and all(p.object is None and len(p.object_id) == 64 for p in blobs)
    assert all(p.affected == [Affected(snap.id, "stream")] for p in blobs)
