"""WAL file validation during pull: a .partial file is checked against its segment's header."""

import struct

import pytest

from qfbackup.errors import IntegrityError
from qfbackup.ops.ingest.wal_pull import validate
from qfbackup.pg import wal

SEG = wal.DEFAULT_SEGMENT_SIZE


def first_page(timeline: int, segno: int, sysid: int = 7) -> bytes:
    # XLogLongPageHeaderData: magic, info (XLP_LONG_HEADER), tli, pageaddr, rem_len, pad, sysid, seg_size, blcksz
    header = struct.pack("<HHIQI4xQII", 0xD110, 0x0002, timeline, segno * SEG, 0, sysid, SEG, 8192)
    return header + bytes(8192 - len(header))


def test_partial_validates_against_its_segment():
    name = wal.segment_name(1, 6) + ".partial"
    assert validate(name, wal.WalKind.PARTIAL, first_page(1, 6), SEG, pg_major=15, sysid=7) == 7


def test_partial_with_wrong_segment_refused():
    name = wal.segment_name(1, 6) + ".partial"
    with pytest.raises(IntegrityError):
        validate(name, wal.WalKind.PARTIAL, first_page(1, 9), SEG, pg_major=15, sysid=None)
