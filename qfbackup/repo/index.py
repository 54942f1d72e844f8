"""Where each blob lives: blob id -> (pack, offset, length, type, compression, raw length).

Index files (``index/<hash>``) are written by each writer after its packs are durable and before its snapshot,
so a snapshot never names a blob that no index knows. The in-memory form keeps one packed int per blob to stay
small (about 130 bytes a blob, ~1.6 MiB per GiB of unique data at 80 KiB chunks).
"""

from __future__ import annotations

from dataclasses import dataclass

from qfbackup.repo.crypto import RepoKeys
from qfbackup.repo.objects import ObjectKind, open_object, seal_object

# Bit layout of a packed entry (from low bits): compression 4, type 4, raw_len 32, length 32, offset 40, pack rest.
_SHIFTS = (0, 4, 8, 40, 72, 112)


@dataclass(frozen=True)
class BlobLocation:
    pack: str
    offset: int
    length: int
    type: int
    comp: int
    raw_len: int


@dataclass
class PackRecord:
    """One pack and its blobs, as written to an index file."""

    id: str
    size: int
    blobs: list[tuple[bytes, int, int, int, int, int]]  # (id, type, comp, offset, length, raw_len)


def pack_name(pack_id: str) -> str:
    return f"data/{pack_id[:2]}/{pack_id}"


class Index:
    def __init__(self) -> None:
        self._entries: dict[bytes, int] = {}
        self._packs: list[str] = []
        self._pack_no: dict[str, int] = {}
        self.pack_sizes: dict[str, int] = {}

    def __contains__(self, blob_id: bytes) -> bool:
        return blob_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def add_pack(self, rec: PackRecord) -> None:
        no = self._pack_no.get(rec.id)
        if no is None:
            no = self._pack_no[rec.id] = len(self._packs)
            self._packs.append(rec.id)
        self.pack_sizes[rec.id] = rec.size
        for blob_id, btype, comp, offset, length, raw_len in rec.blobs:
            self._entries.setdefault(
                blob_id,
                comp | btype << 4 | raw_len << 8 | length << 40 | offset << 72 | no << 112,
            )

    def get(self, blob_id: bytes) -> BlobLocation | None:
        v = self._entries.get(blob_id)
        if v is None:
            return None
        return BlobLocation(
            pack=self._packs[v >> 112],
            offset=(v >> 72) & (2**40 - 1),
            length=(v >> 40) & (2**32 - 1),
            type=(v >> 4) & 0xF,
            comp=v & 0xF,
            raw_len=(v >> 8) & (2**32 - 1),
        )

    def packs(self) -> list[str]:
        return list(self._packs)


def encode_index(keys: RepoKeys, packs: list[PackRecord]) -> tuple[str, bytes]:
    doc = {
        "version": 1,
        "packs": [{"id": p.id, "size": p.size, "blobs": [[b[0].hex(), *b[1:]] for b in p.blobs]} for p in packs],
    }
    return seal_object(keys, ObjectKind.INDEX, doc)


def decode_index(keys: RepoKeys, name: str, data: bytes) -> list[PackRecord]:
    doc = open_object(keys, ObjectKind.INDEX, name, data)
    return [PackRecord(p["id"], p["size"], [(bytes.fromhex(b[0]), *b[1:]) for b in p["blobs"]]) for p in doc["packs"]]
