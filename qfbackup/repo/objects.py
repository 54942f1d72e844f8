"""Byte formats of blobs (chunks inside packs) and of whole encrypted objects (index, snapshot).

See docs/format.md for the same in prose. A blob is::

    header(4) = version(1) | type(1) | compression(1) | reserved(1)=0
    nonce(12) | AES-256-GCM(zstd-or-raw(plaintext)) | tag(16)
    AAD = b"qfb1blob" | header | id(32)

so a blob only opens under the id it was stored for: moving or swapping one is detected.
A whole object (index file, snapshot) is ``b"QFB1" | kind(1) | nonce | AEAD(zstd(json)) | tag`` with
AAD = ``b"QFB1" | kind``; its name is the BLAKE3 of all those bytes.
"""

from __future__ import annotations

import json
import struct
import threading
from enum import IntEnum

import zstandard

from qfbackup.errors import AuthenticationFailed, CorruptObject
from qfbackup.repo.crypto import RepoKeys, content_hash, seal, unseal

FORMAT_VERSION = 1
MIN_SUPPORTED_READ_VERSION = 1
MAX_SUPPORTED_WRITE_VERSION = 1

BLOB_HEADER = struct.Struct("<BBBB")
OBJECT_MAGIC = b"QFB1"


class BlobType(IntEnum):
    DATA = 1  # a chunk of a stream
    LIST = 2  # concatenated 32-byte ids of DATA chunks: one slice of a stream
    TREE = 3  # JSON listing of one directory


class Compression(IntEnum):
    NONE = 0
    ZSTD = 1


class ObjectKind(IntEnum):
    INDEX = 1
    SNAPSHOT = 2


_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    # One compressor per thread and level: ZstdCompressor is not thread-safe.
    cache = getattr(_local, "compressors", None)
    if cache is None:
        cache = _local.compressors = {}
    if level not in cache:
        cache[level] = zstandard.ZstdCompressor(level=level)
    return cache[level]


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "decompressor", None)
    if d is None:
        d = _local.decompressor = zstandard.ZstdDecompressor()
    return d


def decompress(data: bytes, raw_len: int) -> bytes:
    return _decompressor().decompress(data, max_output_size=raw_len)


def blob_aad(header: bytes, blob_id: bytes) -> bytes:
    return b"qfb1blob" + header + blob_id


def seal_blob(keys: RepoKeys, blob_type: BlobType, blob_id: bytes, plaintext: bytes, level: int) -> tuple[bytes, int]:
    """Compress (when it helps) and seal one blob; returns (stored bytes, compression)."""
    packed = _compressor(level).compress(plaintext)
    comp = Compression.ZSTD
    if len(packed) >= len(plaintext):
        packed, comp = plaintext, Compression.NONE
    header = BLOB_HEADER.pack(FORMAT_VERSION, blob_type, comp, 0)
    return header + seal(keys.enc_key, packed, blob_aad(header, blob_id)), comp


def open_blob(keys: RepoKeys, blob_id: bytes, stored: bytes | memoryview, raw_len: int) -> bytes:
    """Authenticate, decompress and check the id of one blob. Raises CorruptObject."""
    header = bytes(stored[: BLOB_HEADER.size])
    if len(header) != BLOB_HEADER.size:
        raise CorruptObject("blob truncated")
    version, _btype, comp, _ = BLOB_HEADER.unpack(header)
    if not MIN_SUPPORTED_READ_VERSION <= version <= MAX_SUPPORTED_WRITE_VERSION:
        raise CorruptObject(f"unknown blob version {version}")
    try:
        packed = unseal(keys.enc_key, stored[BLOB_HEADER.size :], blob_aad(header, blob_id))
        plaintext = decompress(packed, raw_len) if comp == Compression.ZSTD else packed
    except (AuthenticationFailed, zstandard.ZstdError) as e:
        raise CorruptObject(str(e)) from None
    if len(plaintext) != raw_len or keys.chunk_id(plaintext) != blob_id:
        raise CorruptObject("content does not match its id")
    return plaintext


def seal_object(keys: RepoKeys, kind: ObjectKind, doc: dict, level: int = 3) -> tuple[str, bytes]:
    """Encrypt a JSON document as a whole object; returns (content name, bytes)."""
    prefix = OBJECT_MAGIC + bytes([kind])
    plain = _compressor(level).compress(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())
    data = prefix + seal(keys.enc_key, plain, prefix)
    return content_hash(data), data


def open_object(keys: RepoKeys, kind: ObjectKind, name: str, data: bytes) -> dict:
    """Check an object's bytes against its name, then decrypt to its JSON object. Raises CorruptObject only for
    what damaged or foreign bytes cause (authentication, zstd, JSON, not an object); a bug propagates as itself."""
    if content_hash(data) != name:
        raise CorruptObject("content does not match its name (corrupted, truncated or swapped)")
    prefix = OBJECT_MAGIC + bytes([kind])
    if data[: len(prefix)] != prefix:
        raise CorruptObject("not an object of the expected kind")
    try:
        plain = unseal(keys.enc_key, memoryview(data)[len(prefix) :], prefix)
        doc = json.loads(zstandard.ZstdDecompressor().decompressobj().decompress(plain))
    except (AuthenticationFailed, zstandard.ZstdError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptObject(str(e)) from None
    if not isinstance(doc, dict):
        raise CorruptObject(f"holds a JSON {type(doc).__name__}, not an object")
    return doc
