"""Reading streams back: fetch byte ranges of packs ahead in a small pool, open blobs, check the whole stream.

Consecutive chunks of a stream usually sit next to each other in the same pack, so they are fetched as one
range (one S3 GET for up to ``MAX_RANGE`` bytes, not one per chunk). Every blob is authenticated and checked
against its id; at the end the stream's size and keyed hash must match the snapshot, so a missing, reordered
or swapped chunk can never yield a silently wrong restore.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from qfbackup.errors import CorruptObject, IntegrityError, ObjectMissing
from qfbackup.repo.catalog import StreamRef
from qfbackup.repo.index import BlobLocation, pack_name
from qfbackup.repo.objects import open_blob

MAX_RANGE = 8 * 1024 * 1024  # stored bytes per GET
MAX_RANGE_RAW = 16 * 1024 * 1024  # and decompressed bytes: well-compressing data (21x for pgbench) must not balloon
PREFETCH_RANGES = 4


def _locate(repo, blob_id: bytes) -> BlobLocation:
    loc = repo.index.get(blob_id)
    if loc is None:
        repo.invalidate_index()  # another process may have committed since we loaded it
        loc = repo.index.get(blob_id)
    if loc is None:
        raise IntegrityError(f"blob {blob_id.hex()[:16]} is in no index (missing data)")
    return loc


def _fetch(repo, pack: str, start: int, end: int, blobs: list[tuple[bytes, BlobLocation]]) -> list[bytes]:
    name = pack_name(pack)
    try:
        data = repo.store.get_range(name, start, end - start)
    except ObjectMissing:
        raise IntegrityError(f"{name} is missing") from None
    if len(data) != end - start:
        raise IntegrityError(f"{name} is truncated")
    out = []
    for blob_id, loc in blobs:
        o = loc.offset - start
        try:
            out.append(open_blob(repo.keys, blob_id, memoryview(data)[o : o + loc.length], loc.raw_len))
        except CorruptObject as e:
            raise IntegrityError(f"{name}: blob {blob_id.hex()[:16]}: {e}") from None
    return out


def read_blob(repo, blob_id: bytes) -> bytes:
    loc = _locate(repo, blob_id)
    return _fetch(repo, loc.pack, loc.offset, loc.offset + loc.length, [(blob_id, loc)])[0]


def _chunk_ids(repo, ref: StreamRef) -> Iterator[bytes]:
    for list_id in ref.lists:
        ids = read_blob(repo, bytes.fromhex(list_id))
        for i in range(0, len(ids), 32):
            yield ids[i : i + 32]


def _ranges(repo, ref: StreamRef) -> Iterator[tuple[str, int, int, list[tuple[bytes, BlobLocation]]]]:
    """Group the stream's chunks into contiguous byte ranges of the same pack."""
    cur: list[tuple[bytes, BlobLocation]] = []
    raw = 0
    for blob_id in _chunk_ids(repo, ref):
        loc = _locate(repo, blob_id)
        if cur:
            last = cur[-1][1]
            start = cur[0][1].offset
            if (
                loc.pack != last.pack
                or loc.offset != last.offset + last.length
                or loc.offset + loc.length - start > MAX_RANGE
                or raw + loc.raw_len > MAX_RANGE_RAW
            ):
                yield last.pack, start, last.offset + last.length, cur
                cur, raw = [], 0
        cur.append((blob_id, loc))
        raw += loc.raw_len
    if cur:
        last = cur[-1][1]
        yield last.pack, cur[0][1].offset, last.offset + last.length, cur


def _fetched(repo, ref: StreamRef, workers: int) -> Iterator[bytes]:
    """Blob plaintexts in stream order, with up to PREFETCH_RANGES ranges fetched ahead."""
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="qfbackup-read") as pool:
        pending: deque[Future] = deque()
        try:
            for rng in _ranges(repo, ref):
                pending.append(pool.submit(_fetch, repo, *rng))
                if len(pending) >= PREFETCH_RANGES:
                    yield from pending.popleft().result()
            while pending:
                yield from pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()


def read_stream(repo, ref: StreamRef, *, progress=None, workers: int = 2) -> Iterator[bytes]:
    """Yield the stream's bytes in order; raise IntegrityError on anything missing or wrong."""
    hasher = repo.keys.stream_hasher()
    size = 0
    for data in _fetched(repo, ref, workers):
        hasher.update(data)
        size += len(data)
        if progress:
            progress(len(data))
        yield data
    if size != ref.size or hasher.hexdigest() != ref.hash:
        raise IntegrityError(f"restored stream does not match its snapshot (size {size}, expected {ref.size})")
