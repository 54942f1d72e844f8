"""Copy plans: everything the mirror lacks, decided before copying, so progress knows the total."""

import io
import os

from qfbackup.repo.catalog import Snapshot
from qfbackup.repo.mirror import copy_repository, destination_lock, plan_copy, run_copy
from qfbackup.repo.store_mem import MemStore


def _backup(repo, n=600_000):
    with repo.writer() as w:
        ref = w.store_stream(io.BytesIO(os.urandom(n)))
        return w.commit(Snapshot(kind="stream", source="t", streams={"d": ref}))


def test_plan_total_is_what_the_copy_moves(mem_repo):
    _backup(mem_repo)
    dst = MemStore("mem://mirror")
    with destination_lock(mem_repo.store, dst):
        plan = plan_copy(mem_repo.store, dst)
        seen: list[int] = []
        report = run_copy(plan, progress=seen.append)
    moved = sum(len(v) for k, v in dst.objects.items() if not k.startswith("locks/"))
    assert plan.bytes == report.bytes_copied == sum(seen) == moved > 600_000
    assert report.present == 0 and report.corrupt == []
    assert [t.name for t in plan.transfers][-1].startswith("snapshots/")  # snapshots last


def test_second_plan_is_empty_and_removed_keys_are_ids(mem_repo):
    _backup(mem_repo)
    dst = MemStore("mem://mirror")
    first = copy_repository(mem_repo.store, dst)
    plan = plan_copy(mem_repo.store, dst)
    assert plan.transfers == [] and plan.bytes == 0 and plan.present == first.copied
    dst.put("keys/00112233aabbccdd", b"{}")  # a wrapping removed here since the last copy
    again = copy_repository(mem_repo.store, dst)
    assert again.copied == 0 and again.keys_removed == ["00112233aabbccdd"]
    assert "keys/00112233aabbccdd" not in dst.objects


def test_corrupt_local_pack_is_skipped_and_counted(mem_repo):
    _backup(mem_repo)
    victim = next(o.name for o in mem_repo.store.list("data/"))
    data = bytearray(mem_repo.store.objects[victim])
    data[len(data) // 2] ^= 0xFF
    mem_repo.store.objects[victim] = bytes(data)
    dst = MemStore("mem://mirror")
    report = copy_repository(mem_repo.store, dst)
    assert report.corrupt == [victim] and victim not in dst.objects
    assert any(n.startswith("snapshots/") for n in dst.objects)
