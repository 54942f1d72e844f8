"""Pure WAL arithmetic: names, LSNs, ordering, gaps, history files, page header validation."""

from __future__ import annotations

import struct

import pytest

from qfbackup.errors import (
    IntegrityError,
    InvalidHistoryFile,
    InvalidLsn,
    InvalidWalName,
    InvalidWalSegment,
    UsageError,
)
from qfbackup.pg import wal
from qfbackup.pg.versions import WAL_PAGE_MAGIC, major_for_wal_magic, wal_page_magic
from qfbackup.pg.wal import Gap, HistoryEntry, TimelineSpan, WalKind

MiB = 1024 * 1024
SEG = 16 * MiB
SYSID = 7712270721724818363


def header(
    *,
    magic: int = 0xD110,
    info: int = wal.XLP_LONG_HEADER,
    tli: int = 1,
    pageaddr: int = 0,
    sysid: int = SYSID,
    seg_size: int = SEG,
    blcksz: int = 8192,
) -> bytes:
    page = struct.pack("<HHIQI4xQII", magic, info, tli, pageaddr, 0, sysid, seg_size, blcksz)
    return page + bytes(8192 - len(page))


# --- LSNs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [("0/0", 0), ("0/3000148", 0x3000148), ("16/B374D848", 0x16B374D848), ("ffffffff/ffffffff", 2**64 - 1)],
)
def test_lsn_round_trip(text: str, value: int) -> None:
    assert wal.parse_lsn(text) == value
    assert wal.format_lsn(value) == text.upper()


@pytest.mark.parametrize("bad", ["", "0", "0/", "/1", "1/2/3", "0x0/1", "g/1", "123456789/0", " 0 /1"])
def test_lsn_rejects_garbage(bad: str) -> None:
    with pytest.raises(InvalidLsn) as e:
        wal.parse_lsn(bad)
    assert isinstance(e.value, UsageError)
    assert "0/3000148" in str(e.value)


def test_format_lsn_range() -> None:
    with pytest.raises(InvalidLsn):
        wal.format_lsn(-1)
    with pytest.raises(InvalidLsn):
        wal.format_lsn(2**64)


# --- Segment names ------------------------------------------------------------------------------------------


def test_segment_names_16mib() -> None:
    assert wal.segments_per_xlogid(SEG) == 256
    assert wal.segment_name(1, 3) == "000000010000000000000003"
    assert wal.segment_name(1, 255) == "0000000100000000000000FF"
    assert wal.segment_name(1, 256) == "000000010000000100000000"
    assert wal.segment_name(0x1A, 0x16B3) == "0000001A00000016000000B3"
    assert wal.parse_segment_name("0000001A00000016000000B3") == (0x1A, 0x16B3)
    for segno in (0, 1, 255, 256, 257, 0x12345678):
        assert wal.parse_segment_name(wal.segment_name(7, segno)) == (7, segno)


def test_segment_names_other_sizes() -> None:
    assert wal.segments_per_xlogid(MiB) == 4096
    assert wal.segment_name(1, 4096, MiB) == "000000010000000100000000"
    assert wal.segment_name(1, 4095, MiB) == "000000010000000000000FFF"
    assert wal.segments_per_xlogid(2**30) == 4
    assert wal.segment_name(2, 5, 2**30) == "000000020000000100000001"
    # With 16 MiB segments the last part runs 00..FF only.
    with pytest.raises(InvalidWalName):
        wal.parse_segment_name("000000010000000000000100", SEG)
    assert wal.parse_segment_name("000000010000000000000100", MiB) == (1, 256)
    with pytest.raises(InvalidWalName):
        wal.parse_segment_name("000000010000000000000004", 2**30)


@pytest.mark.parametrize("size", [0, 2**19, 3 * MiB, 2**31, SEG + 1])
def test_invalid_segment_size(size: int) -> None:
    with pytest.raises(UsageError):
        wal.segments_per_xlogid(size)


@pytest.mark.parametrize(
    "bad", ["", "00000001000000000000000", "0000000100000000000000030", "000000010000000000000003 ",
            "00000001000000000000000g", "000000010000000000000fff", "000000000000000000000003"]
)  # fmt: skip
def test_parse_segment_name_rejects(bad: str) -> None:
    with pytest.raises(InvalidWalName):
        wal.parse_segment_name(bad)


def test_next_previous_cross_log_id() -> None:
    assert wal.next_segment_name("0000000100000000000000FF") == "000000010000000100000000"
    assert wal.previous_segment_name("000000010000000100000000") == "0000000100000000000000FF"
    assert wal.next_segment_name("000000010000000000000003") == "000000010000000000000004"
    assert wal.next_segment_name("00000001000000000000003F", 64 * MiB) == "000000010000000100000000"
    with pytest.raises(InvalidWalName):
        wal.previous_segment_name("000000010000000000000000")


def test_segment_of_lsn() -> None:
    assert wal.segment_of_lsn(0x3000148) == 3
    assert wal.segment_of_lsn(0x3000000) == 3  # on the boundary: the segment that starts there
    assert wal.segment_of_lsn(0x2FFFFFF) == 2
    assert wal.segment_of_lsn(wal.parse_lsn("1/0")) == 256
    assert wal.segment_of_lsn(wal.parse_lsn("16/B374D848")) == 0x16 * 256 + 0xB3
    assert wal.segment_start_lsn(256) == 2**32
    assert wal.segment_of_lsn(0x3000148, MiB) == 0x30
    assert wal.segment_of_end_lsn(0x3000000) == 2  # an exclusive end on a boundary needs only segment 2
    assert wal.segment_of_end_lsn(0x3000001) == 3
    with pytest.raises(InvalidLsn):
        wal.segment_of_end_lsn(0)


def test_history_and_backup_file_names() -> None:
    assert wal.history_file_name(2) == "00000002.history"
    assert wal.history_file_name(0x1A) == "0000001A.history"
    assert wal.backup_history_file_name(1, 0x2000028) == "000000010000000000000002.00000028.backup"
    with pytest.raises(InvalidWalName):
        wal.history_file_name(0)


# --- Classification and order -------------------------------------------------------------------------------


def test_classify() -> None:
    f = wal.classify("000000010000000100000002")
    assert (f.kind, f.timeline, f.segno) == (WalKind.SEGMENT, 1, 258)
    f = wal.classify("00000002.history")
    assert (f.kind, f.timeline, f.segno) == (WalKind.HISTORY, 2, None)
    f = wal.classify("000000010000000000000002.00000028.backup")
    assert (f.kind, f.timeline, f.segno, f.offset) == (WalKind.BACKUP, 1, 2, 0x28)
    f = wal.classify("000000010000000000000005.partial")
    assert (f.kind, f.timeline, f.segno) == (WalKind.PARTIAL, 1, 5)
    for other in [
        "archive_status",
        "000000010000000000000005.gz",
        "000000010000000000000005.tmp",
        "00000000.history",
        "0000000100000000000000zz",
        "000000010000000000000100",  # segment part out of range for 16 MiB
        "000000010000000000000002.01000000.backup",  # offset beyond the segment
        ".000000010000000000000005",
        "000000010000000000000005\n",
    ]:
        assert wal.classify(other).kind is WalKind.OTHER, other


def test_wal_sort_order() -> None:
    expected = [
        "000000010000000000000001",
        "000000010000000000000002",
        "000000010000000000000002.00000028.backup",
        "000000010000000000000003",
        "0000000100000000000000FF",
        "000000010000000100000000",
        "00000002.history",
        "000000020000000100000000",
        "000000020000000100000001",
        "0000000A.history",
        "0000000A0000000100000005",
        "000000010000000100000000.partial",
        "000000020000000100000002.partial",
        "README",
        "zzz",
    ]
    shuffled = list(reversed(expected))
    assert wal.sort_wal_names(shuffled) == expected


# --- Gaps ---------------------------------------------------------------------------------------------------


def test_find_gaps_none() -> None:
    names = [wal.segment_name(1, n) for n in range(250, 262)]  # crosses 0/FF -> 1/00
    assert wal.find_gaps(names) == []
    assert wal.find_gaps([]) == []
    assert wal.find_gaps(["000000010000000000000003"]) == []


def test_find_gaps_across_log_id_and_timelines() -> None:
    names = [
        "0000000100000000000000FD",
        "0000000100000000000000FE",
        # FF and 1/00 missing
        "000000010000000100000001",
        "000000010000000100000005",
        "00000002.history",
        "000000020000000100000005",
        "000000020000000100000006",
        "000000020000000100000009",
        "000000020000000100000007.partial",  # ignored: a partial is not the segment
        "junk",
    ]
    gaps = wal.find_gaps(names)
    assert gaps == [Gap(1, 0xFF, 0x100), Gap(1, 0x102, 0x104), Gap(2, 0x107, 0x108)]
    assert gaps[0].count == 2
    assert gaps[0].first_name == "0000000100000000000000FF"
    assert gaps[0].last_name == "000000010000000100000000"
    assert str(gaps[0]) == "missing 2 segments 0000000100000000000000FF..000000010000000100000000"
    assert str(Gap(1, 3, 3)) == "missing 000000010000000000000003"


def test_find_gaps_other_segment_size() -> None:
    names = ["000000010000000000000FFE", "000000010000000100000000"]
    assert wal.find_gaps(names, MiB) == [Gap(1, 0xFFF, 0xFFF, MiB)]
    assert wal.find_gaps(names, MiB)[0].first_name == "000000010000000000000FFF"


# --- History files ------------------------------------------------------------------------------------------

HISTORY_3 = """\
1\t0/3000148\tno recovery target specified

# comment
2\t0/5A0000A0\tbefore 2024-01-02 03:04:05+00
"""


def test_parse_history() -> None:
    entries = wal.parse_history(HISTORY_3)
    assert entries == [
        HistoryEntry(1, 0x3000148, "no recovery target specified"),
        HistoryEntry(2, 0x5A0000A0, "before 2024-01-02 03:04:05+00"),
    ]
    assert wal.parse_history("") == []
    assert wal.parse_history("1\t0/3000000\n") == [HistoryEntry(1, 0x3000000, "")]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x\t0/3\treason\n", "numeric timeline"),
        ("1\n", "switch point"),
        ("1\tnotlsn\treason\n", "invalid switch point"),
        ("2\t0/3\ta\n1\t0/4\tb\n", "increasing"),
        ("1\t0/5\ta\n2\t0/4\tb\n", "backwards"),
    ],
)
def test_parse_history_rejects(text: str, fragment: str) -> None:
    with pytest.raises(InvalidHistoryFile) as e:
        wal.parse_history(text, "00000003.history")
    assert isinstance(e.value, IntegrityError)
    assert fragment in str(e.value)
    assert "00000003.history" in str(e.value)


def test_timeline_ancestry() -> None:
    path = wal.timeline_ancestry(3, wal.parse_history(HISTORY_3))
    assert path == [
        TimelineSpan(1, 0, 0x3000148),
        TimelineSpan(2, 0x3000148, 0x5A0000A0),
        TimelineSpan(3, 0x5A0000A0, None),
    ]
    assert wal.timeline_ancestry(1, []) == [TimelineSpan(1, 0, None)]
    assert wal.timeline_of_lsn(path, 0) == 1
    assert wal.timeline_of_lsn(path, 0x3000147) == 1
    assert wal.timeline_of_lsn(path, 0x3000148) == 2
    assert wal.timeline_of_lsn(path, 2**40) == 3
    # Switch segments are read from the newer timeline's file.
    assert wal.segment_file_for(path, 2) == "000000010000000000000002"
    assert wal.segment_file_for(path, 3) == "000000020000000000000003"
    assert wal.segment_file_for(path, 0x59) == "000000020000000000000059"
    assert wal.segment_file_for(path, 0x5A) == "00000003000000000000005A"
    with pytest.raises(InvalidHistoryFile):
        wal.timeline_ancestry(2, wal.parse_history(HISTORY_3))


# --- Page headers -------------------------------------------------------------------------------------------


def test_versions_table() -> None:
    assert wal_page_magic(15) == 0xD110
    assert major_for_wal_magic(0xD10D) == 14
    assert major_for_wal_magic(0x1234) is None
    assert len(set(WAL_PAGE_MAGIC.values())) == len(WAL_PAGE_MAGIC)
    with pytest.raises(UsageError):
        wal_page_magic(9)


def test_valid_header() -> None:
    name = "000000010000000100000002"
    h = wal.validate_segment_header(header(pageaddr=258 * SEG), name, SEG, system_identifier=SYSID)
    assert (h.magic, h.timeline, h.pageaddr, h.system_identifier) == (0xD110, 1, 258 * SEG, SYSID)
    # Contrecord flag as well as the long header flag is fine.
    info = wal.XLP_LONG_HEADER | wal.XLP_FIRST_IS_CONTRECORD
    wal.validate_segment_header(header(pageaddr=258 * SEG, info=info), name)
    # Only the first 40 bytes are needed.
    wal.validate_segment_header(header(pageaddr=258 * SEG)[:40], name)


def check_invalid(page: bytes, name: str, *fragments: str, **kw: object) -> None:
    with pytest.raises(InvalidWalSegment) as e:
        wal.validate_segment_header(page, name, SEG, **kw)  # type: ignore[arg-type]
    assert isinstance(e.value, IntegrityError)
    assert name in str(e.value)
    for fragment in fragments:
        assert fragment in str(e.value)


def test_header_wrong_segment_number() -> None:
    check_invalid(
        header(pageaddr=3 * SEG),
        "000000010000000000000004",
        "holds segment 0000000000000003",
        "file name says 0000000000000004",
    )
    check_invalid(header(pageaddr=3 * SEG + 8192), "000000010000000000000003", "not a segment start")


def test_header_magic() -> None:
    check_invalid(header(magic=0xD111), "000000010000000000000000", "0xD111", "0xD110", "not a WAL page")
    check_invalid(header(magic=0xD10D), "000000010000000000000000", "PostgreSQL 14")
    wal.validate_segment_header(header(magic=0xD10D), "000000010000000000000000", pg_major=14)
    check_invalid(bytes(8192), "000000010000000000000000", "0x0000")


def test_header_truncated_and_flags_and_sizes() -> None:
    check_invalid(header()[:39], "000000010000000000000000", "truncated: 39 bytes")
    check_invalid(b"", "000000010000000000000000", "truncated: 0 bytes")
    check_invalid(header(info=0), "000000010000000000000000", "long header")
    check_invalid(header(info=0x12), "000000010000000000000000", "xlp_info")
    check_invalid(header(seg_size=64 * MiB), "000000010000000000000000", "segment size 67108864")
    check_invalid(header(blcksz=16384), "000000010000000000000000", "block size 16384")
    check_invalid(header(), "000000010000000000000000", "system identifier", system_identifier=1)
    check_invalid(header(), "00000001000000000000000", "not a segment file name")
    with pytest.raises(InvalidWalSegment, match="size is 100 bytes"):
        wal.validate_segment_size("000000010000000000000000", 100)
    wal.validate_segment_size("000000010000000000000000", SEG)


def test_header_timeline() -> None:
    # A newer timeline in the header than in the name is always wrong.
    check_invalid(header(tli=2, pageaddr=3 * SEG), "000000010000000000000003", "timeline 2")
    # An older one: the first segment of a new timeline starts with the parent's pages.
    wal.validate_segment_header(header(tli=1, pageaddr=3 * SEG), "000000020000000000000003")
    path = wal.timeline_ancestry(3, wal.parse_history(HISTORY_3))
    wal.validate_segment_header(header(tli=1, pageaddr=3 * SEG), "000000020000000000000003", ancestry=path)
    wal.validate_segment_header(header(tli=2, pageaddr=0x5A * SEG), "00000003000000000000005A", ancestry=path)
    check_invalid(
        header(tli=1, pageaddr=0x5A * SEG), "00000003000000000000005A", "belongs to timeline 2", ancestry=path
    )
    check_invalid(header(tli=0, pageaddr=3 * SEG), "000000020000000000000003", "timeline 0")
