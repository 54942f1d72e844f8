"""Only damaged bytes make a corrupt pack: a bug while unsealing its header propagates as itself (exit 70 at the
command line), never as an IntegrityError that would send an operator restoring from the off-site copy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from qfbackup.errors import CorruptObject, IntegrityError
from qfbackup.repo.crypto import RepoKeys
from qfbackup.repo.pack import TRAILER, PackBuilder, read_header
from tests.support.seed import rng

KEYS = RepoKeys.from_master(b"k" * 64)


def _pack() -> tuple[bytes, int]:
    """A pack of three blobs, and where its sealed header starts."""
    builder = PackBuilder()
    for blob in (b"one" * 100, b"two" * 200, b"three" * 300):
        builder.add(KEYS.chunk_id(blob), 1, 0, blob, len(blob))  # stored bytes need not be sealed for the header
    data, _ = builder.finish(KEYS)
    (hlen,) = TRAILER.unpack(data[-TRAILER.size :])
    return data, len(data) - TRAILER.size - hlen


def test_intact_header_reads():
    data, start = _pack()
    entries = read_header(KEYS, data)
    assert [e.length for e in entries] == [300, 600, 1500] and sum(e.length for e in entries) == start


def test_flipped_header_byte_is_corruption():
    data, start = _pack()
    pos = rng("flipped header byte").randrange(start, len(data) - TRAILER.size)
    damaged = bytearray(data)
    damaged[pos] ^= 0x01
    with pytest.raises(CorruptObject, match="pack header") as e:
        read_header(KEYS, bytes(damaged))
    assert isinstance(e.value, IntegrityError) and e.value.exit_code == 4


def test_wrong_key_is_corruption():
    data, _ = _pack()
    with pytest.raises(CorruptObject, match="pack header"):
        read_header(RepoKeys.from_master(b"o" * 64), data)


def test_type_error_inside_unsealing_is_not_corruption():
    data, _ = _pack()
    bad_keys = replace(KEYS, enc_key=KEYS.enc_key.hex())  # a str where AES wants bytes: a bug, not damage
    with pytest.raises(TypeError):
        read_header(bad_keys, data)


def test_attribute_error_inside_unsealing_is_not_corruption():
    data, _ = _pack()
    with pytest.raises(AttributeError, match="enc_key"):
        read_header(object(), data)  # type: ignore[arg-type]  # not keys at all
