"""Restore points (``pg_create_restore_point``) found in WAL segment bytes, as they stream past.

A restore plan may target a name only if its record exists, so the WAL pull scans each segment on its way to
storage and the catalogue learns every name with its LSN. The scanner never decodes the record chain (a Python
loop over ~100,000 records per segment is far too slow): it searches each page with a regular expression for
the fixed bytes of a restore point record, then proves each candidate three ways, so data that merely looks
like one (inside a tuple, a logical message, a full-page image) is never reported:

- walking the records of its page from the first record start that page's header announces lands exactly on it,
- its CRC-32C is right,
- it is RM_XLOG_ID/XLOG_RESTORE_POINT with one 72-byte main-data block (``xl_tot_len`` 98).

Layout, as in PostgreSQL 15's xlogrecord.h and xlog_internal.h (little-endian, MAXALIGN 8): a segment is a run
of 8 KiB pages, each starting with a page header (the long one on the first page); the record stream is the
concatenation of every page's bytes after its header, and records start at 8-aligned LSNs. A 98-byte record
spans at most two pages, possibly the last page of one segment and the first of the next: the first
segment's scanner then hands the head to the next one as a ``Carry``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

from qfbackup.errors import InvalidCarry, InvalidLsn
from qfbackup.pg.wal import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_SEGMENT_SIZE,
    LONG_HEADER_SIZE,
    XLP_ALL_FLAGS,
    XLP_FIRST_IS_CONTRECORD,
    XLP_LONG_HEADER,
    check_segment_size,
    format_lsn,
    parse_long_page_header,
    parse_lsn,
    parse_segment_name,
    segment_start_lsn,
)

SHORT_HEADER_SIZE = 24  # XLogPageHeaderData, MAXALIGN'd
RECORD_HEADER_SIZE = 24  # XLogRecord
RESTORE_POINT_RECORD_SIZE = 98  # header, XLR_BLOCK_ID_DATA_SHORT, length byte, xl_restore_point
RM_XLOG_ID = 0
XLOG_RESTORE_POINT = 0x70
XLR_BLOCK_ID_DATA_SHORT = 0xFF
MAXFNAMELEN = 64  # rp_name's size, NUL included
POSTGRES_EPOCH_USEC = 946_684_800_000_000  # 2000-01-01 00:00 UTC as UNIX microseconds

_PAGE = DEFAULT_BLOCK_SIZE
_RP = RESTORE_POINT_RECORD_SIZE
_TOT_LEN = struct.pack("<I", _RP)
_PAGE_HEADER = struct.Struct("<HHIQI")  # xlp_magic, xlp_info, xlp_tli, xlp_pageaddr, xlp_rem_len
_U32 = struct.Struct("<I")
_RESTORE_POINT = struct.Struct(f"<q{MAXFNAMELEN}s")  # rp_time, rp_name

# The fixed bytes of a restore point's first 26: xl_tot_len 98, (xl_xid, xl_prev), xl_info 0x7?, xl_rmid 0,
# (pad, xl_crc), block id 0xFF, length 72. The low xl_info bits are XLR flags PostgreSQL may set.
_CANDIDATE = re.compile(
    re.escape(_TOT_LEN) + rb".{12}[\x70-\x7f]\x00.{6}" + bytes([XLR_BLOCK_ID_DATA_SHORT, _RP - 26]), re.DOTALL
)
# The same as (offset, mask, value), for a head cut off by a page end, which the regular expression cannot see.
_PREFIX_RULES = (
    (16, 0xF0, XLOG_RESTORE_POINT),
    (17, 0xFF, RM_XLOG_ID),
    (24, 0xFF, XLR_BLOCK_ID_DATA_SHORT),
    (25, 0xFF, _RP - 26),
)


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """CRC-32C (Castagnoli), as PostgreSQL's pg_crc32c; ``crc`` continues an earlier result. Pure Python:
    only 98-byte records are ever checked, and a dependency is not worth that."""
    crc ^= 0xFFFFFFFF
    table = _CRC32C_TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def record_crc(record: bytes) -> int:
    """xl_crc of an XLogRecord: the data after the 24-byte header first, then the header up to xl_crc."""
    return crc32c(record[:20], crc32c(record[RECORD_HEADER_SIZE:]))


@dataclass(frozen=True)
class RestorePoint:
    """A restore point record: ``name`` as recovery_target_name takes it, ``lsn`` its start, ``time`` its
    rp_time as UNIX seconds, ``timeline`` that of the segment file the record starts in."""

    name: str
    lsn: int
    time: float
    timeline: int


@dataclass(frozen=True)
class Carry:
    """The head of what may be a restore point record cut off by the end of a segment: ``data`` is the record
    stream from ``lsn`` to the segment end. The next segment's scanner completes it from its first page."""

    lsn: int
    data: bytes
    timeline: int

    @property
    def end_lsn(self) -> int:
        return self.lsn + len(self.data)

    def to_dict(self) -> dict[str, Any]:
        return {"lsn": format_lsn(self.lsn), "data": self.data.hex(), "timeline": self.timeline}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Carry:
        """Inverse of to_dict; raises InvalidCarry for anything else (a damaged state file)."""
        try:
            carry = cls(parse_lsn(d["lsn"]), bytes.fromhex(d["data"]), int(d["timeline"]))
        except (KeyError, TypeError, ValueError, InvalidLsn) as e:
            raise InvalidCarry(f"{d!r}: {e}") from None
        if not 8 <= len(carry.data) < _RP or carry.lsn % 8 or carry.timeline < 1:
            raise InvalidCarry(f"{d!r}: not the head of a {_RP}-byte record at an aligned position")
        return carry


def _restore_point(record: bytes, lsn: int, timeline: int) -> RestorePoint | None:
    """Decode 98 record bytes if they are a restore point with a correct CRC, else None."""
    if (
        record[:4] != _TOT_LEN
        or not _prefix_ok(record, 0, _RP)
        or _U32.unpack_from(record, 20)[0] != record_crc(record)
    ):
        return None
    rp_time, raw_name = _RESTORE_POINT.unpack_from(record, 26)
    # recovery_target_name compares bytes: surrogateescape keeps a non-UTF-8 name recoverable.
    name = raw_name.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
    return RestorePoint(name, lsn, (rp_time + POSTGRES_EPOCH_USEC) / 1_000_000, timeline)


def _prefix_ok(buf: bytes | memoryview, start: int, end: int) -> bool:
    """Do the fixed bytes of a restore point record at ``start`` that lie before ``end`` match?"""
    return all(buf[start + off] & mask == want for off, mask, want in _PREFIX_RULES if start + off < end)


def _maxalign(n: int) -> int:
    return (n + 7) & ~7


def _first_record(info: int, rem_len: int, header_size: int) -> int | None:
    """Offset of the first record starting on a page, None if the page is all continuation (xlogreader's
    XLogFindNextRecord rule)."""
    if not info & XLP_FIRST_IS_CONTRECORD:
        return header_size
    if rem_len >= _PAGE - header_size:
        return None
    return header_size + _maxalign(rem_len)


def _walk(page: memoryview, pos: int, offset: int) -> int:
    """From the record starting at ``pos``, follow xl_tot_len to the first record start at or after ``offset``
    (the page size if the records end first). A candidate is a record only if this lands on it: that rules out
    restore-point-shaped bytes inside another record. xl_tot_len is always on the record's first page, since
    records start 8-aligned."""
    unpack = _U32.unpack_from
    while pos < offset:
        tot_len = unpack(page, pos)[0]
        if tot_len < RECORD_HEADER_SIZE:
            return _PAGE  # end of WAL (zeros after XLOG_SWITCH) or garbage
        pos += (tot_len + 7) & ~7
    return pos


class RestorePointScanner:
    """Feed one segment's bytes in chunks of any size, then ``finish()``. Holds at most a page and a carry.

    Reports the restore points whose record starts in this segment and ends in it, plus the one (if any) that
    ``carry`` (the previous segment's ``carry_out``) began, if that carry ends where this segment starts; a
    record cut off by this segment's end is left in ``carry_out`` for the next segment's scanner.

    Never raises on bad data: validating segments is done elsewhere (validate_segment_header, which also checks
    xlp_magic against the PostgreSQL version; here later pages need only carry the first page's). The scan
    stops at the first page whose header is not this segment's: xlp_pageaddr of another position is the rest of
    a recycled segment, where PostgreSQL's WAL ends, or a zero-filled page. A final partial page is ignored,
    and so is input beyond the segment size.
    """

    def __init__(
        self, segment_name: str, segment_size: int = DEFAULT_SEGMENT_SIZE, *, carry: Carry | None = None
    ) -> None:
        self.segment_name = segment_name
        self.segment_size = check_segment_size(segment_size)
        self.timeline, segno = parse_segment_name(segment_name, segment_size)
        self.start_lsn = segment_start_lsn(segno, segment_size)
        self.carry_out: Carry | None = None
        self._found: list[RestorePoint] = []
        self._partial = bytearray()
        self._pages = 0  # pages scanned
        self._magic = 0  # the first page's xlp_magic: later pages must agree
        self._stopped = False
        self._finished = False
        # The head of a possible restore point that the previous page (or segment) ended with.
        self._head: Carry | None = carry if carry is not None and carry.end_lsn == self.start_lsn else None

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Scan the segment's next bytes (copied only to complete a page split between chunks)."""
        if self._finished:
            raise RuntimeError("RestorePointScanner.feed() after finish()")
        if self._stopped:
            return
        view = memoryview(data).cast("B")
        if self._partial:
            take = _PAGE - len(self._partial)
            self._partial += view[:take]
            view = view[take:]
            if len(self._partial) < _PAGE:
                return
            page, self._partial = bytes(self._partial), bytearray()
            self._page(memoryview(page))
        whole = len(view) - len(view) % _PAGE
        for off in range(0, whole, _PAGE):
            if self._stopped:
                return
            self._page(view[off : off + _PAGE])
        if not self._stopped:
            self._partial += view[whole:]

    def finish(self) -> list[RestorePoint]:
        """The restore points found, in LSN order; sets ``carry_out``."""
        if not self._finished:
            self._finished = True
            self._partial = bytearray()
            complete = self._pages * _PAGE == self.segment_size  # (a stopped scan has no head)
            self.carry_out = self._head if complete else None
            self._head = None
        return list(self._found)

    def _stop(self) -> None:
        self._stopped = True
        self._head = None

    def _page(self, page: memoryview) -> None:
        index = self._pages
        if index * _PAGE >= self.segment_size:  # more input than a segment: not ours
            self._stop()
            return
        page_lsn = self.start_lsn + index * _PAGE
        magic, info, _tli, pageaddr, rem_len = _PAGE_HEADER.unpack_from(page)
        if index == 0:
            header_size = LONG_HEADER_SIZE
            h = parse_long_page_header(page)
            valid = info & XLP_LONG_HEADER and h.segment_size == self.segment_size and h.block_size == _PAGE
            self._magic = magic
        else:
            header_size = SHORT_HEADER_SIZE
            valid = not info & XLP_LONG_HEADER and magic == self._magic
        if not valid or pageaddr != page_lsn or info & ~XLP_ALL_FLAGS:
            self._stop()
            return
        self._pages += 1

        head, self._head = self._head, None
        if head is not None and info & XLP_FIRST_IS_CONTRECORD and rem_len == _RP - len(head.data):
            tail_at = header_size + rem_len
            found = _restore_point(head.data + page[header_size:tail_at], head.lsn, head.timeline)
            if found is not None:
                self._found.append(found)

        first = _first_record(info, rem_len, header_size)
        if first is None:
            return
        # Candidates in order, so one walk over the page's records serves them all.
        walked = first
        last_whole = _PAGE - _RP  # a record starting after this runs onto the next page
        pos = first
        while (m := _CANDIDATE.search(page, pos, _PAGE)) is not None:
            start = m.start()
            pos = start + 1  # not m.end(): a false match may overlap a real record
            if start > last_whole:
                break
            if start % 8:
                continue
            walked = _walk(page, walked, start)
            if walked != start:
                continue
            found = _restore_point(bytes(page[start : start + _RP]), page_lsn + start, self.timeline)
            if found is not None:
                self._found.append(found)
        # A record starting in the last 97 bytes continues on the next page: keep its head if it may be one.
        tail_from = max(first, _maxalign(last_whole + 1))
        tail = bytes(page[tail_from:])
        at = tail.find(_TOT_LEN)
        while at != -1:
            start = tail_from + at
            if start % 8 == 0 and _prefix_ok(page, start, _PAGE):
                walked = _walk(page, walked, start)
                if walked == start:
                    self._head = Carry(page_lsn + start, bytes(page[start:]), self.timeline)
                    break
            at = tail.find(_TOT_LEN, at + 1)
