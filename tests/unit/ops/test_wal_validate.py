"""WAL file validation during pull: a .partial file is checked against its segment's header."""

import struct

import pytest

from qfbackup.errors import IntegrityError
from qfbackup.ops.ingest.wal_pull import failed_check, validate
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


def quarantine_check(name: str, kind: str, head: bytes, size: int) -> str:
    with pytest.raises(IntegrityError) as e:
        validate(name, kind, head, size, pg_major=15, sysid=7)
    return failed_check(e.value)


def test_each_refusal_names_its_check():
    """``wal pull`` reports which check a quarantined file failed (its JSON ``check``), from the error it raised."""
    seg = wal.segment_name(1, 6)
    assert quarantine_check(seg, wal.WalKind.SEGMENT, first_page(1, 6), SEG // 2) == "segment"  # truncated
    assert quarantine_check(seg, wal.WalKind.SEGMENT, first_page(1, 9), SEG) == "segment"  # misnamed
    assert quarantine_check(seg, wal.WalKind.SEGMENT, first_page(1, 6, sysid=8), SEG) == "segment"  # other server
    assert quarantine_check("00000002.history", wal.WalKind.HISTORY, b"x\tnot an lsn\n", 13) == "history_file"
    # anything else a pull refuses for: the bytes read differ from the listed size
    assert failed_check(IntegrityError(f"{seg}: read 5 bytes, the archive listed 16777216 (changing?)")) == "length"
