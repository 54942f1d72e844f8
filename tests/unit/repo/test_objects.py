import os
from dataclasses import replace

import pytest
import zstandard

from qfbackup.errors import CorruptObject
from qfbackup.repo.crypto import RepoKeys, content_hash, seal
from qfbackup.repo.objects import OBJECT_MAGIC, BlobType, ObjectKind, open_blob, open_object, seal_blob, seal_object

KEYS = RepoKeys.from_master(b"k" * 64)
OTHER = RepoKeys.from_master(b"o" * 64)


def test_blob_round_trip_compressible_and_random():
    for data in (b"a" * 100_000, os.urandom(50_000), b""):
        bid = KEYS.chunk_id(data)
        stored, _ = seal_blob(KEYS, BlobType.DATA, bid, data, 3)
        assert open_blob(KEYS, bid, stored, len(data)) == data


def test_compressible_blob_is_smaller():
    data = b"trade,price,qty\n" * 10_000
    stored, comp = seal_blob(KEYS, BlobType.DATA, KEYS.chunk_id(data), data, 3)
    assert comp == 1 and len(stored) < len(data) // 10


def test_chunk_ids_are_keyed():
    assert KEYS.chunk_id(b"x") != OTHER.chunk_id(b"x")
    assert KEYS.chunker_seed != OTHER.chunker_seed


@pytest.mark.parametrize("pos", [0, 5, 20, -1])
def test_flipped_byte_detected(pos):
    data = os.urandom(4096)
    bid = KEYS.chunk_id(data)
    stored = bytearray(seal_blob(KEYS, BlobType.DATA, bid, data, 3)[0])
    stored[pos] ^= 0x01
    with pytest.raises(CorruptObject):
        open_blob(KEYS, bid, bytes(stored), len(data))


def test_blob_bound_to_its_id_and_key():
    a, b = b"first", b"second"
    stored_a, _ = seal_blob(KEYS, BlobType.DATA, KEYS.chunk_id(a), a, 3)
    with pytest.raises(CorruptObject):
        open_blob(KEYS, KEYS.chunk_id(b), stored_a, len(a))
    with pytest.raises(CorruptObject):
        open_blob(OTHER, KEYS.chunk_id(a), stored_a, len(a))


def test_object_name_and_kind_checked():
    name, data = seal_object(KEYS, ObjectKind.SNAPSHOT, {"a": 1})
    assert open_object(KEYS, ObjectKind.SNAPSHOT, name, data) == {"a": 1}
    other_name, other = seal_object(KEYS, ObjectKind.SNAPSHOT, {"a": 2})
    with pytest.raises(CorruptObject, match="name"):
        open_object(KEYS, ObjectKind.SNAPSHOT, name, other)  # swapped content
    with pytest.raises(CorruptObject):
        open_object(KEYS, ObjectKind.INDEX, name, data)  # wrong kind
    assert b'"a"' not in data  # encrypted, not plain JSON


def _authentic(plain: bytes, kind: ObjectKind = ObjectKind.SNAPSHOT) -> tuple[str, bytes]:
    """An object sealed with the right key around arbitrary bytes: what a writer bug (not damage) could store."""
    prefix = OBJECT_MAGIC + bytes([kind])
    data = prefix + seal(KEYS.enc_key, zstandard.ZstdCompressor().compress(plain), prefix)
    return content_hash(data), data


@pytest.mark.parametrize(
    ("plain", "match"),
    [(b"not json", "Expecting value"), (b"\xff\xfe{", "decode"), (b"[1, 2]", "JSON list, not an object")],
)
def test_authentic_object_that_is_not_a_json_object_is_corrupt(plain, match):
    name, data = _authentic(plain)
    with pytest.raises(CorruptObject, match=match):
        open_object(KEYS, ObjectKind.SNAPSHOT, name, data)


def test_a_bug_while_opening_an_object_is_not_corruption():
    name, data = seal_object(KEYS, ObjectKind.INDEX, {"a": 1})
    bad_keys = replace(KEYS, enc_key=KEYS.enc_key.hex())  # a str where AES wants bytes: a bug, not damage
    with pytest.raises(TypeError):
        open_object(bad_keys, ObjectKind.INDEX, name, data)
