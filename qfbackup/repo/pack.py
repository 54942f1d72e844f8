"""Packs: many sealed blobs in one stored object, so S3 holds few large objects instead of millions of small ones.

Layout: ``blob_1 | ... | blob_n | sealed header | u32 LE length of sealed header``. The sealed header lists, in
order, each blob's type, compression, stored length, raw length and id; offsets follow from the order. A pack is
self-describing, so an index can be rebuilt from packs alone. Its name is the BLAKE3 of all its bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from qfbackup.errors import AuthenticationFailed, CorruptObject
from qfbackup.repo.crypto import RepoKeys, content_hash, seal, unseal
from qfbackup.repo.index import PackRecord

ENTRY = struct.Struct("<BBII32s")
COUNT = struct.Struct("<I")
TRAILER = struct.Struct("<I")
HEADER_AAD = b"qfb1packhdr"


@dataclass(frozen=True)
class PackEntry:
    id: bytes
    type: int
    comp: int
    offset: int
    length: int
    raw_len: int


class PackBuilder:
    """Accumulates sealed blobs in memory up to the target pack size."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.entries: list[PackEntry] = []

    def __len__(self) -> int:
        return len(self.buf)

    def add(self, blob_id: bytes, btype: int, comp: int, stored: bytes, raw_len: int) -> None:
        self.entries.append(PackEntry(blob_id, btype, comp, len(self.buf), len(stored), raw_len))
        self.buf += stored

    def finish(self, keys: RepoKeys) -> tuple[bytes, PackRecord]:
        header = COUNT.pack(len(self.entries)) + b"".join(
            ENTRY.pack(e.type, e.comp, e.length, e.raw_len, e.id) for e in self.entries
        )
        sealed = seal(keys.enc_key, header, HEADER_AAD)
        self.buf += sealed + TRAILER.pack(len(sealed))
        data = bytes(self.buf)  # one copy; the builder is dropped right after
        pack_id = content_hash(data)
        record = PackRecord(
            pack_id, len(data), [(e.id, e.type, e.comp, e.offset, e.length, e.raw_len) for e in self.entries]
        )
        return data, record


def read_header(keys: RepoKeys, data: bytes | memoryview) -> list[PackEntry]:
    """Parse a whole pack's header. Raises CorruptObject for damaged bytes only: a failed tag (the header is not
    compressed) or a malformed entry table. Anything else is a bug and propagates, never reported as a corrupt pack."""
    if len(data) < TRAILER.size:
        raise CorruptObject("pack too short")
    (hlen,) = TRAILER.unpack(data[-TRAILER.size :])
    start = len(data) - TRAILER.size - hlen
    if start < 0:
        raise CorruptObject("pack header length out of range (truncated?)")
    try:
        header = unseal(keys.enc_key, data[start : len(data) - TRAILER.size], HEADER_AAD)
    except AuthenticationFailed as e:
        raise CorruptObject(f"pack header: {e}") from None
    try:
        (count,) = COUNT.unpack_from(header)
        entries, offset = [], 0
        for i in range(count):
            btype, comp, length, raw_len, blob_id = ENTRY.unpack_from(header, COUNT.size + i * ENTRY.size)
            entries.append(PackEntry(blob_id, btype, comp, offset, length, raw_len))
            offset += length
    except struct.error as e:
        raise CorruptObject(f"pack header: {e}") from None
    if offset != start:
        raise CorruptObject("pack header does not match the pack's size")
    return entries
