import os

from qfbackup.repo.crypto import content_hash
from qfbackup.repo.store_cache import CachingStore
from qfbackup.repo.store_mem import MemStore


def test_cached_copy_used_checked_and_replaced_when_damaged(tmp_path):
    inner = MemStore()
    data = b"encrypted snapshot bytes"
    name = f"snapshots/{content_hash(data)}"
    inner.put(name, data)
    cache = CachingStore(inner, tmp_path)
    assert cache.get(name) == data and (tmp_path / name).read_bytes() == data
    inner.delete(name)
    assert cache.get(name) == data  # served locally
    (tmp_path / name).write_bytes(b"bit rot")
    inner.put(name, data)
    assert cache.get(name) == data and (tmp_path / name).read_bytes() == data  # refetched, not trusted


def test_mutable_objects_bypass_the_cache(tmp_path):
    inner = MemStore()
    inner.put("locks/x", b"1")
    cache = CachingStore(inner, tmp_path)
    assert cache.get("locks/x") == b"1"
    inner.put("locks/x", b"2")
    assert cache.get("locks/x") == b"2" and not (tmp_path / "locks").exists()
    assert [o.name for o in cache.list("locks/")] == ["locks/x"]


def test_cache_fills_do_not_fsync(tmp_path, monkeypatch):
    """The cache is checked by hash on every read and refetched when damaged: a fill costs no fsync."""
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    inner = MemStore()
    data = b"encrypted index bytes"
    name = f"index/{content_hash(data)}"
    inner.put(name, data)
    assert CachingStore(inner, tmp_path).get(name) == data
    assert (tmp_path / name).read_bytes() == data and synced == []
