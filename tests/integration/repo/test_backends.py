"""Byte-exact round trips on a real disk and on real SeaweedFS S3; dedup of a 200 MiB stream."""

from __future__ import annotations

import pytest

from qfbackup.repo.catalog import Snapshot
from qfbackup.repo.keys import Credential
from qfbackup.repo.repository import Repository
from qfbackup.repo.store import open_store
from tests.support.streams import PatternStream, sha256_of

MIB = 1 << 20
CHUNK_MIN, CHUNK_MAX = 16 * 1024, 256 * 1024  # of the default 64 KiB average
PACK = 16 * MIB


@pytest.fixture(params=["fs", pytest.param("s3", marks=pytest.mark.s3)])
def repo(request, tmp_path) -> Repository:
    if request.param == "fs":
        store = open_store(str(tmp_path / "repo"))
    else:
        seaweed = request.getfixturevalue("seaweed")
        store = open_store(seaweed.url(request.getfixturevalue("s3_bucket"), "qfb"), s3_options=seaweed.store_options())
    return Repository.init(store, Credential.passphrase("round-trip"))


def store_and_read(repo: Repository, src: PatternStream) -> Snapshot:
    with repo.writer() as w:
        ref = w.store_stream(src)
        snap = w.commit(Snapshot(kind="stream", source="t", streams={"d": ref}))
    fresh = Repository.open(repo.store, Credential.passphrase("round-trip"))
    digest, size = sha256_of(fresh.read_stream(fresh.snapshot(snap.id).streams["d"]))
    assert (digest, size) == (src.sha256(), src.size)
    return snap


SIZES = [0, 1, CHUNK_MIN - 1, CHUNK_MIN, CHUNK_MIN + 1, CHUNK_MAX - 1, CHUNK_MAX, CHUNK_MAX + 1, PACK - 1, PACK + 1]


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_boundaries(repo, size):
    store_and_read(repo, PatternStream(size, seed=size))


def test_round_trip_200_mib(repo):
    snap = store_and_read(repo, PatternStream(200 * MIB + 12345, seed=5))
    assert snap.stats["packs"] >= 12  # really spread over many packs of 16 MiB


def test_dedup_200_mib_with_one_percent_changed(tmp_path):
    repo = Repository.init(open_store(str(tmp_path / "repo")), Credential.passphrase("round-trip"))
    size = 200 * MIB
    first = store_and_read(repo, PatternStream(size, seed=9))
    again = store_and_read(repo, PatternStream(size, seed=9))
    changed = store_and_read(repo, PatternStream(size, seed=9, patches=[(size // 2, size // 100, 77)]))
    assert first.stats["bytes_new"] >= size
    assert again.stats["bytes_new"] == 0
    assert changed.stats["bytes_new"] < 0.03 * size, changed.stats  # ~1% changed, a little chunk slack
    stored = sum(o.size for o in repo.store.list("data/"))
    assert stored < 1.03 * size  # three 200 MiB versions cost about one
