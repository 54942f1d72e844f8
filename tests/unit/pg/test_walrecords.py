"""Restore point scanner: CRC-32C, record decoding, page and segment boundaries, streaming, garbage."""

from __future__ import annotations

import json
import random
import struct

import pytest

from qfbackup.errors import InvalidCarry, InvalidWalName
from qfbackup.pg import walrecords
from qfbackup.pg.wal import XLP_FIRST_IS_CONTRECORD, XLP_LONG_HEADER, segment_name
from qfbackup.pg.walrecords import Carry, RestorePoint, RestorePointScanner, crc32c, record_crc

PAGE = 8192
SEG = 1024 * 1024  # the smallest wal_segment_size: 128 pages, so whole segments stay cheap
MAGIC = 0xD110
SYSID = 7712270721724818363
EPOCH_2000 = 946684800

# A restore point record exactly as PostgreSQL 15 wrote it (pg_create_restore_point('before_bench_0') at
# 0/5503A78; rp_name is copied with strlcpy, so the bytes after its NUL are whatever was on the stack).
REAL_RECORD = bytes.fromhex(
    "62000000000000005039500500000000700000003bba5b3fff48be87b56db40403006265666f72655f62656e63685f300000786752"
    "cf3556000048d035d43556000058e341d43556000080e041d43556000070e241d435560000a05ed1cffc7f0000"
)


def restore_point_record(name: bytes, *, usec: int = 0, prev: int = 0, xid: int = 0, info: int = 0x70) -> bytes:
    """An XLOG_RESTORE_POINT record with a correct CRC; ``usec`` is rp_time (microseconds since 2000)."""
    body = bytes([0xFF, 72]) + struct.pack("<q64s", usec, name)
    head = struct.pack("<IIQBB2x", 98, xid, prev, info, 0)
    record = head + bytes(4) + body
    return head + struct.pack("<I", record_crc(record)) + body


def other_record(payload: bytes, rmid: int = 10) -> bytes:
    """Any other record (heap, by default): its payload is opaque to the scanner."""
    if len(payload) < 256:
        body = bytes([0xFF, len(payload)]) + payload  # XLR_BLOCK_ID_DATA_SHORT
    else:
        body = b"\xfe" + struct.pack("<I", len(payload)) + payload  # XLR_BLOCK_ID_DATA_LONG
    head = struct.pack("<IIQBB2x", 24 + len(body), 700, 0, 0, rmid)
    return head + struct.pack("<I", record_crc(head + bytes(4) + body)) + body


class WalBuilder:
    """Lays records out on pages as PostgreSQL does: page headers (long on a segment's first page), records
    8-aligned, xlp_rem_len and XLP_FIRST_IS_CONTRECORD on the page where a record continues."""

    def __init__(self, first_segno: int = 5, *, tli: int = 1, segment_size: int = SEG) -> None:
        self.segment_size = segment_size
        self.first_segno = first_segno
        self.tli = tli
        self.lsn = first_segno * segment_size
        self.buf = bytearray()
        self._page_header(0)

    def _page_header(self, rem_len: int) -> None:
        info = XLP_FIRST_IS_CONTRECORD if rem_len else 0
        if self.lsn % self.segment_size == 0:
            hdr = struct.pack(
                "<HHIQI4xQII",
                MAGIC,
                info | XLP_LONG_HEADER,
                self.tli,
                self.lsn,
                rem_len,
                SYSID,
                self.segment_size,
                PAGE,
            )
        else:
            hdr = struct.pack("<HHIQI4x", MAGIC, info, self.tli, self.lsn, rem_len)
        self.buf += hdr
        self.lsn += len(hdr)

    def write(self, record: bytes) -> int:
        """Append a record; returns its LSN."""
        start = self.lsn
        done = 0
        while done < len(record):
            n = min(PAGE - self.lsn % PAGE, len(record) - done)
            self.buf += record[done : done + n]
            self.lsn += n
            done += n
            if self.lsn % PAGE == 0:
                self._page_header(len(record) - done)
        pad = -self.lsn % 8
        self.buf += bytes(pad)
        self.lsn += pad
        if pad and self.lsn % PAGE == 0:  # the padding filled the page
            self._page_header(0)
        return start

    def fill_to(self, lsn: int) -> None:
        """Write one filler record so that the next record starts at ``lsn`` (not inside a page header)."""
        headers = 0
        for boundary in range((self.lsn // PAGE + 1) * PAGE, lsn, PAGE):
            headers += 40 if boundary % self.segment_size == 0 else 24
        size = lsn - self.lsn - headers
        if size:
            assert size >= 32, f"cannot place a record {size} bytes before {lsn:X}"
            self.write(other_record(bytes(size - 26 if size <= 281 else size - 29)))
        assert self.lsn == lsn, (self.lsn, lsn)

    def segments(self) -> dict[str, bytes]:
        """The segments written so far, the last one zero-filled after the WAL end, by file name."""
        data = bytes(self.buf) + bytes(-len(self.buf) % self.segment_size)
        return {
            segment_name(self.tli, self.first_segno + i, self.segment_size): data[off : off + self.segment_size]
            for i, off in enumerate(range(0, len(data), self.segment_size))
        }


def record_end(lsn: int) -> int:
    """LSN after a restore point record's last byte (within one segment)."""
    return lsn + 98 + (24 if lsn % PAGE + 98 > PAGE else 0)


def scan(name: str, data: bytes, carry: Carry | None = None, chunk: int = 65536) -> RestorePointScanner:
    scanner = RestorePointScanner(name, SEG, carry=carry)
    for off in range(0, len(data), chunk):
        scanner.feed(data[off : off + chunk])
    scanner.finish()
    return scanner


def found(name: str, data: bytes, carry: Carry | None = None, chunk: int = 65536) -> list[RestorePoint]:
    return scan(name, data, carry, chunk).finish()


# --- CRC-32C ------------------------------------------------------------------------------------------------


def test_crc32c_known_vectors() -> None:
    assert crc32c(b"") == 0
    assert crc32c(b"123456789") == 0xE3069283
    # RFC 3720 (iSCSI) appendix B.4
    assert crc32c(bytes(32)) == 0x8A9136AA
    assert crc32c(b"\xff" * 32) == 0x62A8AB43
    assert crc32c(bytes(range(32))) == 0x46DD794E
    assert crc32c(bytes(range(31, -1, -1))) == 0x113FDB5C


def test_crc32c_continues() -> None:
    data = random.Random(1).randbytes(300)
    assert crc32c(data[100:], crc32c(data[:100])) == crc32c(data)


def test_record_crc_matches_postgres() -> None:
    assert record_crc(REAL_RECORD) == struct.unpack_from("<I", REAL_RECORD, 20)[0]


# --- Records ------------------------------------------------------------------------------------------------


def test_real_record_is_decoded() -> None:
    b = WalBuilder(5)
    b.fill_to(5 * SEG + 6776)
    lsn = b.write(REAL_RECORD)
    (name, data), *_ = b.segments().items()
    (rp,) = found(name, data)
    assert rp.name == "before_bench_0"  # the stack garbage after the NUL is not part of it
    assert rp.lsn == lsn == 5 * SEG + 6776
    assert rp.time == pytest.approx(1796282711.369662, abs=1e-6)
    assert rp.timeline == 1


def test_hand_built_records() -> None:
    b = WalBuilder(5, tli=3)
    expected = []
    usec = 850_000_000_123_456  # 2026-12-08 ... UTC
    for i, name in enumerate([b"a", b"x" * 63, "caf\u00e9 \u20ac".encode(), b"with space", b"n" * 40]):
        b.write(other_record(bytes(i * 13)))
        lsn = b.write(restore_point_record(name, usec=usec + i, prev=b.lsn - 40, xid=i * 1000))
        expected.append(RestorePoint(name.decode(), lsn, (usec + i + EPOCH_2000 * 10**6) / 10**6, 3))
    b.write(restore_point_record(b"flags", info=0x72))  # XLR_CHECK_CONSISTENCY bit: still a restore point
    expected.append(RestorePoint("flags", b.lsn - 104, EPOCH_2000, 3))
    [(name, data)] = b.segments().items()
    assert name == "000000030000000000000005"
    assert found(name, data) == expected
    assert expected[0].time == pytest.approx(850_000_000.123456 + EPOCH_2000, abs=1e-6)


def test_non_utf8_name_keeps_its_bytes() -> None:
    b = WalBuilder()
    b.write(restore_point_record(b"lat\xe9n1"))
    [(name, data)] = b.segments().items()
    (rp,) = found(name, data)
    assert rp.name.encode("utf-8", "surrogateescape") == b"lat\xe9n1"


@pytest.mark.parametrize(
    ("offset", "value"),
    [
        (0, 99),  # xl_tot_len
        (16, 0x60),  # xl_info: another XLOG record type
        (17, 1),  # xl_rmid: not RM_XLOG_ID
        (20, None),  # xl_crc
        (24, 0xFE),  # block id
        (25, 71),  # main data length
        (40, None),  # a byte of the name
        (97, None),  # the last byte
    ],
)
def test_damaged_record_is_not_reported(offset: int, value: int | None) -> None:
    record = bytearray(restore_point_record(b"damaged"))
    record[offset] = record[offset] ^ 0x01 if value is None else value
    b = WalBuilder()
    b.write(restore_point_record(b"good"))
    b.write(bytes(record[:98]))
    [(name, data)] = b.segments().items()
    assert [rp.name for rp in found(name, data)] == ["good"]


def test_restore_point_bytes_inside_another_record_are_not_reported() -> None:
    """A logical message or a tuple may hold bytes that look exactly like a restore point, CRC included."""
    fake = restore_point_record(b"fake")
    b = WalBuilder()
    b.write(other_record(b"\0" * 6 + fake + b"\0" * 4))  # 8-aligned in the stream: header 24 + 2 + 6
    # ... and in the continuation of a record that began on the previous page, at the top of the next page
    b.fill_to(5 * SEG + 3 * PAGE - 160)
    b.write(other_record(bytes(147) + fake + bytes(40), rmid=21))  # 160 + 16 bytes into the record: offset 40
    # ... and on pages that are all continuation (the record starts 29 + 3 = 32 bytes before the first copy)
    b.write(other_record(bytes(1) + (bytes(2) + fake + bytes(4)) * 200))
    b.write(restore_point_record(b"real"))
    [(name, data)] = b.segments().items()
    assert data.count(fake) > 190 and data.find(fake, 3 * PAGE, 4 * PAGE) == 3 * PAGE + 40
    assert [rp.name for rp in found(name, data)] == ["real"]


def test_false_match_overlapping_a_real_record() -> None:
    """Bytes 10 before a real restore point can start a match of the candidate pattern that runs into it
    (given this xid and xl_prev); the search must still find the real one."""
    b = WalBuilder()
    b.write(other_record(bytes(20) + b"b\0\0\0" + bytes(6)))  # 56 bytes: ends where the next record starts
    lsn = b.write(restore_point_record(b"real", xid=0x00710000, prev=0x48FF000000000000))
    [(name, data)] = b.segments().items()
    off = lsn - 5 * SEG
    assert walrecords._CANDIDATE.match(data, off - 10) is not None
    assert [(rp.name, rp.lsn) for rp in found(name, data)] == [("real", lsn)]


# --- Page boundaries and streaming --------------------------------------------------------------------------


def crossing_pages() -> tuple[str, bytes, list[int]]:
    """A segment with a restore point crossing every page end it can (every 8-aligned split), plus one that
    ends exactly at a page end and one that starts a page."""
    b = WalBuilder()
    lsns = []
    for i, head in enumerate(range(8, 98, 8)):
        page_end = (b.lsn // PAGE + 2) * PAGE
        b.fill_to(page_end - head)
        lsns.append(b.write(restore_point_record(f"split-{head}-{i}".encode())))
    b.fill_to((b.lsn // PAGE + 2) * PAGE - 104)
    lsns.append(b.write(restore_point_record(b"ends-at-page-end")))
    lsns.append(b.write(restore_point_record(b"starts-page")))
    [(name, data)] = b.segments().items()
    return name, data, lsns


def test_records_crossing_page_ends() -> None:
    name, data, lsns = crossing_pages()
    rps = found(name, data)
    assert [rp.lsn for rp in rps] == lsns
    assert [rp.name for rp in rps][:2] == ["split-8-0", "split-16-1"]
    assert all((rp.lsn % PAGE) + 98 > PAGE for rp in rps[:-2])
    assert rps[-1].lsn % PAGE == 24


@pytest.mark.parametrize("chunk", [1, 7, 24, 4096, 8191, 8192, 8193, 100_003, SEG])
def test_any_chunk_size(chunk: int) -> None:
    name, data, lsns = crossing_pages()
    if chunk == 1:
        data = data[: 6 * PAGE]  # byte by byte is slow: the first pages are enough
        lsns = [lsn for lsn in lsns if record_end(lsn) <= 5 * SEG + 6 * PAGE]
    assert [rp.lsn for rp in found(name, data, chunk=chunk)] == lsns


def test_memoryview_and_bytearray_chunks() -> None:
    name, data, lsns = crossing_pages()
    scanner = RestorePointScanner(name, SEG)
    scanner.feed(bytearray(data[:5000]))
    scanner.feed(memoryview(data)[5000:])
    assert [rp.lsn for rp in scanner.finish()] == lsns


# --- Segment boundaries (carry) -----------------------------------------------------------------------------


def crossing_segments(head: int) -> tuple[dict[str, bytes], int]:
    b = WalBuilder(0xFFF, tli=2)  # segment 0xFFF -> 0x1000 (1 MiB segments): the log id changes in the name
    b.write(restore_point_record(b"before"))
    b.fill_to(0x1000 * SEG - head)
    lsn = b.write(restore_point_record(b"across"))
    b.write(restore_point_record(b"after"))
    return b.segments(), lsn


@pytest.mark.parametrize("head", [8, 24, 48, 96])
def test_record_crossing_segments_via_carry(head: int) -> None:
    segs, lsn = crossing_segments(head)
    (n1, d1), (n2, d2) = segs.items()
    assert (n1, n2) == ("000000020000000000000FFF", "000000020000000100000000")
    first = scan(n1, d1)
    assert [rp.name for rp in first.finish()] == ["before"]
    carry = first.carry_out
    assert carry is not None and carry.lsn == lsn and len(carry.data) == head and carry.end_lsn == 0x1000 * SEG
    # as the WAL pull keeps it between runs
    carry = Carry.from_dict(json.loads(json.dumps(carry.to_dict())))
    assert carry == first.carry_out
    assert found(n2, d2, carry) == [
        RestorePoint("across", lsn, EPOCH_2000, 2),
        RestorePoint("after", 0x1000 * SEG + 40 + 104 - head, EPOCH_2000, 2),
    ]
    assert [rp.name for rp in found(n2, d2)] == ["after"]  # without the carry the head is unknown


def test_carry_to_a_child_timeline() -> None:
    segs, lsn = crossing_segments(32)
    (n1, d1), (n2, d2) = segs.items()
    carry = scan(n1, d1).carry_out
    child = "00000003" + n2[8:]  # the first segment of timeline 3 starts as a copy of timeline 2's
    assert [(rp.name, rp.timeline) for rp in found(child, d2, carry)] == [("across", 2), ("after", 3)]


def test_carry_is_ignored_unless_it_ends_where_the_segment_starts() -> None:
    segs, _ = crossing_segments(40)
    (n1, d1), (n2, d2) = segs.items()
    carry = scan(n1, d1).carry_out
    assert carry is not None
    assert [rp.name for rp in found(n1, d1, carry)] == ["before"]
    assert [rp.name for rp in found(n2, d2, carry)] == ["across", "after"]
    early = Carry(carry.lsn - SEG, carry.data, carry.timeline)  # from two segments back: not this record's head
    assert [rp.name for rp in found(n2, d2, early)] == ["after"]


def test_carry_needs_the_continuation_flag_and_length() -> None:
    segs, _ = crossing_segments(56)
    (n1, d1), (n2, d2) = segs.items()
    carry = scan(n1, d1).carry_out
    flags = struct.unpack_from("<H", d2, 2)[0]
    no_flag = d2[:2] + struct.pack("<H", flags & ~XLP_FIRST_IS_CONTRECORD) + d2[4:]
    assert [rp.name for rp in found(n2, no_flag, carry)] == []  # also: no record start known on page 1
    wrong_len = d2[:16] + struct.pack("<I", 98 - 56 + 8) + d2[20:]
    assert "across" not in [rp.name for rp in found(n2, wrong_len, carry)]


def test_no_carry_when_nothing_can_begin_at_the_end() -> None:
    b = WalBuilder()
    b.write(restore_point_record(b"x"))
    b.fill_to(6 * SEG - 64)
    b.write(other_record(bytes(72)))  # crosses the segment end: 98 bytes too, but not RM_XLOG_ID
    segs = b.segments()
    assert scan(*next(iter(segs.items()))).carry_out is None


def test_carry_from_dict_rejects_junk() -> None:
    good = Carry(0x1000 * SEG - 16, bytes(16), 2).to_dict()
    assert good == {"lsn": "0/FFFFFFF0", "data": "00" * 16, "timeline": 2}
    for bad in [
        {},
        {**good, "lsn": "nope"},
        {**good, "data": "zz"},
        {**good, "data": "00" * 98},
        {**good, "data": ""},
        {**good, "lsn": "0/FFFFFFF1"},
        {**good, "timeline": 0},
        {**good, "timeline": None},
        [],
    ]:
        with pytest.raises(InvalidCarry):
            Carry.from_dict(bad)  # type: ignore[arg-type]


# --- Where the scan stops; garbage ----------------------------------------------------------------------------


def test_recycled_tail_ends_the_scan() -> None:
    """A segment is reused by renaming an old one: past the WAL end its pages still carry the old
    xlp_pageaddr, and their records (restore points included) are not this segment's."""
    old = WalBuilder(2)
    old.fill_to(2 * SEG + 10 * PAGE + 24)
    old.write(restore_point_record(b"old"))
    [(_, old_data)] = old.segments().items()
    new = WalBuilder(5)
    new.write(restore_point_record(b"new"))
    [(name, new_data)] = new.segments().items()
    data = new_data[:PAGE] + old_data[PAGE:]
    scanner = scan(name, data)
    assert [rp.name for rp in scanner.finish()] == ["new"]
    assert scanner.carry_out is None


def test_zero_page_ends_the_scan() -> None:
    b = WalBuilder()
    b.write(restore_point_record(b"one"))
    b.fill_to(5 * SEG + 3 * PAGE + 24)
    b.write(restore_point_record(b"two"))
    [(name, data)] = b.segments().items()
    zeroed = data[: 2 * PAGE] + bytes(PAGE) + data[3 * PAGE :]
    assert [rp.name for rp in found(name, zeroed)] == ["one"]


def test_truncated_segment() -> None:
    name, data, lsns = crossing_pages()
    head_page_end = lsns[0] // PAGE * PAGE + PAGE - 5 * SEG  # the page ends with the first record's head
    for cut in [0, 10, 40, PAGE - 1, PAGE, 3 * PAGE + 100, head_page_end, head_page_end + 30, len(data) - 1]:
        scanner = scan(name, data[:cut])
        rps = scanner.finish()
        assert [rp.lsn for rp in rps] == [lsn for lsn in lsns if record_end(lsn) <= 5 * SEG + cut // PAGE * PAGE]
        assert scanner.carry_out is None


def test_last_page_head_only_carried_for_a_complete_segment() -> None:
    segs, _ = crossing_segments(64)
    (n1, d1), _ = segs.items()
    assert scan(n1, d1).carry_out is not None
    assert scan(n1, d1[:-1]).carry_out is None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_garbage_finds_nothing(seed: int) -> None:
    rng = random.Random(seed)
    name = "000000010000000000000005"
    rp = restore_point_record(b"in garbage")
    blobs = [
        rng.randbytes(SEG),
        bytes(SEG),
        b"\xff" * SEG,
        (rp + bytes(6)) * (SEG // 104),  # no page headers at all
        rng.randbytes(1000),
    ]
    # A valid first page, then garbage that happens to keep the magic.
    b = WalBuilder()
    b.write(restore_point_record(b"first"))
    first_page = b.segments()[name][:PAGE]
    blobs.append(first_page + (struct.pack("<HH", MAGIC, 0) + rng.randbytes(PAGE - 4)) * 127)
    for blob in blobs:
        scanner = scan(name, blob, chunk=rng.randrange(1, 200_000))
        assert [r.name for r in scanner.finish()] in ([], ["first"])
        assert scanner.carry_out is None


def test_wrong_segment_size_or_name() -> None:
    b = WalBuilder()
    b.write(restore_point_record(b"x"))
    [(name, data)] = b.segments().items()
    assert found(name, data) != []
    big = RestorePointScanner(name, 16 * SEG)  # header says 1 MiB: not this build's segment
    big.feed(data)
    assert big.finish() == []
    assert found("000000010000000000000006", data) == []  # xlp_pageaddr is segment 5's
    with pytest.raises(InvalidWalName):
        RestorePointScanner("not-a-segment")


def test_header_says_another_segment_size() -> None:
    """Segment 16 of 1 MiB starts at the same LSN as segment 1 of 16 MiB: only the long header tells them apart."""
    b = WalBuilder(16)
    b.write(restore_point_record(b"x"))
    [(name, data)] = b.segments().items()
    assert [rp.name for rp in found(name, data)] == ["x"]
    scanner = RestorePointScanner("000000010000000000000001", 16 * SEG)
    scanner.feed(data)
    assert scanner.finish() == []


@pytest.mark.parametrize(("offset", "value"), [(0, MAGIC + 3), (2, 0x10), (2, XLP_LONG_HEADER)])
def test_odd_page_header_ends_the_scan(offset: int, value: int) -> None:
    """Another magic (another version's page), unknown xlp_info bits, a long header in mid-segment."""
    b = WalBuilder()
    b.write(restore_point_record(b"one"))
    b.fill_to(5 * SEG + 5 * PAGE + 24)
    b.write(restore_point_record(b"two"))
    [(name, data)] = b.segments().items()
    page = 3 * PAGE
    odd = data[: page + offset] + struct.pack("<H", value) + data[page + offset + 2 :]
    assert [rp.name for rp in found(name, data)] == ["one", "two"]
    assert [rp.name for rp in found(name, odd)] == ["one"]


def test_more_than_a_segment_is_ignored() -> None:
    segs, _ = crossing_segments(16)
    (n1, d1), (_, d2) = segs.items()
    assert [rp.name for rp in found(n1, d1 + d2)] == ["before"]


def test_feed_after_finish() -> None:
    scanner = RestorePointScanner("000000010000000000000005", SEG)
    assert scanner.finish() == [] and scanner.finish() == []
    with pytest.raises(RuntimeError):
        scanner.feed(b"x")
