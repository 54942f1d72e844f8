"""PostgreSQL write-ahead log facts: positions, file names, timelines, segment headers.

Pure functions over names and bytes, no I/O, in the spirit of Barman's xlog.py: the WAL pull, the catalogue,
gap detection and restore all need the same arithmetic, and getting it wrong silently loses data (a gap that
is not reported, a segment stored under the wrong name). Every rule here follows PostgreSQL's own definitions
in src/include/access/xlog_internal.h and xlogreader.c, for the wal_segment_size given (16 MiB by default).

Vocabulary: an LSN is a 64-bit byte position in the WAL stream, shown as ``0/3000148`` (high/low 32 bits,
hex). A segment number ``segno`` is ``lsn // segment_size``. A segment file name is
``TTTTTTTTXXXXXXXXYYYYYYYY``: timeline, then ``segno`` split into a "log id" and a segment within that log id,
where one log id spans 4 GiB (``0x100000000 // segment_size`` segments: 256 for 16 MiB, so the last part runs
00..FF).
"""

from __future__ import annotations

import re
import struct
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from qfbackup.errors import InvalidHistoryFile, InvalidLsn, InvalidWalName, InvalidWalSegment, UsageError
from qfbackup.pg.versions import DEFAULT_MAJOR, major_for_wal_magic, wal_page_magic

DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
DEFAULT_BLOCK_SIZE = 8192
MAX_LSN = 2**64 - 1
MAX_TIMELINE = 2**32 - 1

# xlp_info bits (xlog_internal.h).
XLP_FIRST_IS_CONTRECORD = 0x0001
XLP_LONG_HEADER = 0x0002
XLP_BKP_REMOVABLE = 0x0004
XLP_FIRST_IS_OVERWRITE_CONTRECORD = 0x0008
XLP_ALL_FLAGS = 0x000F

# XLogLongPageHeaderData on a little-endian 64-bit build: the short header (xlp_magic u16, xlp_info u16,
# xlp_tli u32, xlp_pageaddr u64, xlp_rem_len u32, 4 bytes of padding to MAXALIGN), then xlp_sysid u64,
# xlp_seg_size u32, xlp_xlog_blcksz u32. PostgreSQL writes it in host byte order; every supported server
# is little-endian.
_LONG_HEADER = struct.Struct("<HHIQI4xQII")
LONG_HEADER_SIZE = _LONG_HEADER.size  # 40

_LSN_RE = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")
_HEX8 = "[0-9A-F]{8}"
_SEGMENT_RE = re.compile(f"({_HEX8})({_HEX8})({_HEX8})")
_HISTORY_RE = re.compile(f"({_HEX8})\\.history")
_BACKUP_RE = re.compile(f"({_HEX8})({_HEX8})({_HEX8})\\.({_HEX8})\\.backup")
_PARTIAL_RE = re.compile(f"({_HEX8})({_HEX8})({_HEX8})\\.partial")


# --- LSNs and segment arithmetic ----------------------------------------------------------------------------


def parse_lsn(text: str) -> int:
    """``'0/3000148'`` -> 50331976. Accepts either case, as PostgreSQL prints upper and users type lower."""
    match = _LSN_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidLsn(text)
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(lsn: int) -> str:
    """50331976 -> ``'0/3000148'``, exactly as PostgreSQL's ``%X/%X`` prints it."""
    if not 0 <= lsn <= MAX_LSN:
        raise InvalidLsn(lsn)
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def check_segment_size(segment_size: int) -> int:
    """PostgreSQL allows a power of two from 1 MiB to 1 GiB (IsValidWalSegSize); anything else is a bug."""
    if segment_size < 2**20 or segment_size > 2**30 or segment_size & (segment_size - 1):
        raise UsageError(f"invalid wal_segment_size {segment_size}: must be a power of two from 1 MiB to 1 GiB")
    return segment_size


def segments_per_xlogid(segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """How many segments one 4 GiB "log id" holds: the radix of a file name's last 8 hex digits."""
    return 0x100000000 // check_segment_size(segment_size)


def segment_of_lsn(lsn: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """The segment number holding the byte at ``lsn`` (XLByteToSeg): where a record starting there is.

    ``pg_walfile_name()`` and ``pg_walfile_name_offset()`` use segment_of_end_lsn instead, which differs only
    when ``lsn`` is exactly on a segment boundary.
    """
    if not 0 <= lsn <= MAX_LSN:
        raise InvalidLsn(lsn)
    return lsn // check_segment_size(segment_size)


def segment_of_end_lsn(lsn: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """The segment holding the byte *before* ``lsn`` (XLByteToPrevSeg): the last segment needed to replay up to
    an end position such as a backup's stop LSN, which is exclusive. PostgreSQL's ``pg_walfile_name()`` naming."""
    if not 0 < lsn <= MAX_LSN:
        raise InvalidLsn(lsn)
    return (lsn - 1) // check_segment_size(segment_size)


def segment_start_lsn(segno: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """LSN of a segment's first byte (what its first page header's xlp_pageaddr must say)."""
    return segno * check_segment_size(segment_size)


def segment_name(timeline: int, segno: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    """(1, 3) -> ``000000010000000000000003``; segno 256 with 16 MiB -> ``000000010000000100000000``."""
    per_id = segments_per_xlogid(segment_size)
    if not 1 <= timeline <= MAX_TIMELINE:
        raise InvalidWalName(f"timeline {timeline} out of range")
    if not 0 <= segno <= MAX_LSN // segment_size:
        raise InvalidWalName(f"segment number {segno} out of range")
    return f"{timeline:08X}{segno // per_id:08X}{segno % per_id:08X}"


def parse_segment_name(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> tuple[int, int]:
    """``000000010000000100000000`` -> (timeline 1, segno 256). Raises InvalidWalName for anything else,
    including a last part too large for the segment size (``...000001FF`` does not exist with 1 GiB
    segments)."""
    match = _SEGMENT_RE.fullmatch(name)
    if match is None:
        raise InvalidWalName(name)
    return _segment_parts(name, match, segment_size)


def _segment_parts(name: str, match: re.Match[str], segment_size: int) -> tuple[int, int]:
    timeline, log, seg = (int(match.group(i), 16) for i in (1, 2, 3))
    per_id = segments_per_xlogid(segment_size)
    if timeline == 0:
        raise InvalidWalName(f"{name} (timeline 0 does not exist)")
    if seg >= per_id:
        raise InvalidWalName(
            f"{name} (segment part {seg:X} >= {per_id:X} segments per log id for {segment_size} byte segments)"
        )
    return timeline, log * per_id + seg


def next_segment_name(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    """The following segment on the same timeline (``...000000FF`` -> ``...0000000100000000`` for 16 MiB)."""
    timeline, segno = parse_segment_name(name, segment_size)
    return segment_name(timeline, segno + 1, segment_size)


def previous_segment_name(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    """The preceding segment on the same timeline; there is none before segment 0."""
    timeline, segno = parse_segment_name(name, segment_size)
    if segno == 0:
        raise InvalidWalName(f"{name} is the first segment; it has no predecessor")
    return segment_name(timeline, segno - 1, segment_size)


def history_file_name(timeline: int) -> str:
    """``00000002.history``: written when timeline 2 is created, lists its ancestors and switch points."""
    if not 1 <= timeline <= MAX_TIMELINE:
        raise InvalidWalName(f"timeline {timeline} out of range")
    return f"{timeline:08X}.history"


def backup_history_file_name(timeline: int, start_lsn: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    """``000000010000000000000002.00000028.backup``: segment holding a base backup's start, then offset."""
    segno = segment_of_lsn(start_lsn, segment_size)
    return f"{segment_name(timeline, segno, segment_size)}.{start_lsn % segment_size:08X}.backup"


# --- Classifying archive file names -------------------------------------------------------------------------


class WalKind(StrEnum):
    SEGMENT = "segment"
    HISTORY = "history"
    BACKUP = "backup"  # backup history file written by pg_backup_stop
    PARTIAL = "partial"  # last segment of an old timeline at promotion, or pg_receivewal's in-progress segment
    OTHER = "other"  # anything else found in an archive directory (temporary files, compressed copies, junk)


@dataclass(frozen=True)
class WalFile:
    """What an archive file name says about itself. ``segno`` is None for history and other files;
    ``offset`` is the byte offset of a base backup's start inside its segment, for ``.backup`` files only."""

    name: str
    kind: WalKind
    timeline: int | None = None
    segno: int | None = None
    offset: int | None = None


def classify(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> WalFile:
    """Tell segments, timeline history, backup history and partial files apart; never raises.

    File names are upper-case hex as PostgreSQL writes them; a lower-case or otherwise malformed name (e.g. a
    segment part out of range for this segment size) is OTHER, so that it is reported rather than ingested.
    """
    try:
        if match := _SEGMENT_RE.fullmatch(name):
            timeline, segno = _segment_parts(name, match, segment_size)
            return WalFile(name, WalKind.SEGMENT, timeline, segno)
        if match := _HISTORY_RE.fullmatch(name):
            timeline = int(match.group(1), 16)
            if timeline >= 1:
                return WalFile(name, WalKind.HISTORY, timeline)
        if match := _BACKUP_RE.fullmatch(name):
            timeline, segno = _segment_parts(name, match, segment_size)
            offset = int(match.group(4), 16)
            if offset < segment_size:
                return WalFile(name, WalKind.BACKUP, timeline, segno, offset)
        if match := _PARTIAL_RE.fullmatch(name):
            timeline, segno = _segment_parts(name, match, segment_size)
            return WalFile(name, WalKind.PARTIAL, timeline, segno)
    except InvalidWalName:
        pass
    return WalFile(name, WalKind.OTHER)


def wal_sort_key(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> tuple[int, int, int, int, int, str]:
    """Order in which to fetch and replay archive files.

    Timeline by timeline, as PostgreSQL produced them: a timeline's ``.history`` file comes before its first
    segment (restore needs it to follow the switch), segments by number, a ``.backup`` file right after the
    segment it points into (it is written once that segment's WAL exists). ``.partial`` files come after all
    of that: they are either pg_receivewal's segment still being written or the abandoned tail of an old
    timeline after a promotion, and nothing earlier depends on them. Unrecognised names sort last, by name.
    """
    f = classify(name, segment_size)
    if f.kind is WalKind.HISTORY:
        return (0, f.timeline or 0, -1, 0, 0, name)
    if f.kind is WalKind.SEGMENT:
        return (0, f.timeline or 0, f.segno or 0, 0, 0, name)
    if f.kind is WalKind.BACKUP:
        return (0, f.timeline or 0, f.segno or 0, 1, f.offset or 0, name)
    if f.kind is WalKind.PARTIAL:
        return (1, f.timeline or 0, f.segno or 0, 0, 0, name)
    return (2, 0, 0, 0, 0, name)


def sort_wal_names(names: Iterable[str], segment_size: int = DEFAULT_SEGMENT_SIZE) -> list[str]:
    """``names`` in WAL order (see wal_sort_key)."""
    return sorted(names, key=lambda n: wal_sort_key(n, segment_size))


# --- Gaps ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """Segments ``first_segno``..``last_segno`` (inclusive) of ``timeline`` are missing."""

    timeline: int
    first_segno: int
    last_segno: int
    segment_size: int = DEFAULT_SEGMENT_SIZE

    @property
    def count(self) -> int:
        return self.last_segno - self.first_segno + 1

    @property
    def first_name(self) -> str:
        return segment_name(self.timeline, self.first_segno, self.segment_size)

    @property
    def last_name(self) -> str:
        return segment_name(self.timeline, self.last_segno, self.segment_size)

    def __str__(self) -> str:
        if self.count == 1:
            return f"missing {self.first_name}"
        return f"missing {self.count} segments {self.first_name}..{self.last_name}"


def find_gaps(names: Iterable[str], segment_size: int = DEFAULT_SEGMENT_SIZE) -> list[Gap]:
    """Missing segment numbers between the lowest and highest segment stored, per timeline.

    Only complete segments count (``.partial``, ``.backup``, history and other names are ignored). Timelines
    are checked separately: timeline 2 starting at the segment where timeline 1 stopped is not a gap. Works on
    segment numbers, not name strings, so ``...000000FF`` -> ``...0000000100000000`` is correctly contiguous.
    """
    by_timeline: dict[int, set[int]] = defaultdict(set)
    for name in names:
        f = classify(name, segment_size)
        if f.kind is WalKind.SEGMENT and f.timeline is not None and f.segno is not None:
            by_timeline[f.timeline].add(f.segno)
    gaps: list[Gap] = []
    for timeline in sorted(by_timeline):
        segnos = sorted(by_timeline[timeline])
        for prev, cur in zip(segnos, segnos[1:], strict=False):
            if cur > prev + 1:
                gaps.append(Gap(timeline, prev + 1, cur - 1, segment_size))
    return gaps


# --- Timeline history ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryEntry:
    """A history file line: ``timeline`` ended at ``switch_lsn``, giving way to the next, for ``reason``."""

    timeline: int
    switch_lsn: int
    reason: str


@dataclass(frozen=True)
class TimelineSpan:
    """On one path, WAL ``begin_lsn`` <= lsn < ``end_lsn`` is ``timeline``'s (``end_lsn`` None: current)."""

    timeline: int
    begin_lsn: int
    end_lsn: int | None

    def contains(self, lsn: int) -> bool:
        return self.begin_lsn <= lsn and (self.end_lsn is None or lsn < self.end_lsn)


def parse_history(text: str, name: str = "history file") -> list[HistoryEntry]:
    """Parse a ``.history`` file as PostgreSQL's readTimeLineHistory does: ``tli<TAB>X/X<TAB>reason`` lines,
    ``#`` comments and blank lines skipped, timelines strictly increasing. Malformed content raises, because a
    wrong history sends a restore down the wrong timeline."""
    entries: list[HistoryEntry] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(None, 2)
        try:
            timeline = int(fields[0], 10)
        except ValueError:
            raise InvalidHistoryFile(name, f"line {lineno}: expected a numeric timeline ID: {raw!r}") from None
        if len(fields) < 2:
            raise InvalidHistoryFile(name, f"line {lineno}: expected a switch point location: {raw!r}")
        try:
            switch = parse_lsn(fields[1])
        except InvalidLsn:
            raise InvalidHistoryFile(name, f"line {lineno}: invalid switch point {fields[1]!r}") from None
        if not 1 <= timeline <= MAX_TIMELINE:
            raise InvalidHistoryFile(name, f"line {lineno}: timeline {timeline} out of range")
        if entries and timeline <= entries[-1].timeline:
            raise InvalidHistoryFile(name, f"line {lineno}: timeline IDs must be in increasing sequence")
        if entries and switch < entries[-1].switch_lsn:
            raise InvalidHistoryFile(name, f"line {lineno}: switch points must not go backwards")
        entries.append(HistoryEntry(timeline, switch, fields[2].strip() if len(fields) > 2 else ""))
    return entries


def timeline_ancestry(timeline: int, history: Sequence[HistoryEntry]) -> list[TimelineSpan]:
    """The path of timelines leading to ``timeline``, oldest first, each with the LSN range it covers.

    ``history`` is the content of ``timeline``'s own history file (empty for timeline 1): it lists every
    ancestor, not only the parent, so one file is enough.
    """
    spans: list[TimelineSpan] = []
    begin = 0
    for entry in history:
        if entry.timeline >= timeline:
            raise InvalidHistoryFile(
                history_file_name(timeline), f"lists timeline {entry.timeline}, not an ancestor of {timeline}"
            )
        spans.append(TimelineSpan(entry.timeline, begin, entry.switch_lsn))
        begin = entry.switch_lsn
    spans.append(TimelineSpan(timeline, begin, None))
    return spans


def timeline_of_lsn(ancestry: Sequence[TimelineSpan], lsn: int) -> int:
    """Which timeline's WAL holds ``lsn`` on this path."""
    for span in ancestry:
        if span.contains(lsn):
            return span.timeline
    raise InvalidLsn(format_lsn(lsn))


def segment_file_for(ancestry: Sequence[TimelineSpan], segno: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    """The file name restore must read for segment ``segno`` on this path.

    The segment holding a switch point exists under both timelines; the newer one is the right one (it has the
    old timeline's WAL up to the switch, then the new timeline's), so the timeline is taken at the segment's
    last byte, not its first.
    """
    last_byte = segment_start_lsn(segno + 1, segment_size) - 1
    for span in reversed(ancestry):
        if span.begin_lsn <= last_byte:
            return segment_name(span.timeline, segno, segment_size)
    raise InvalidLsn(format_lsn(last_byte))


# --- Segment headers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LongPageHeader:
    """XLogLongPageHeaderData: the header of a segment's first page."""

    magic: int
    info: int
    timeline: int
    pageaddr: int
    rem_len: int
    system_identifier: int
    segment_size: int
    block_size: int


def parse_long_page_header(data: bytes) -> LongPageHeader:
    """Decode the first 40 bytes of a segment. Raises InvalidWalSegment if there are fewer."""
    if len(data) < LONG_HEADER_SIZE:
        raise InvalidWalSegment("(header)", f"truncated: {len(data)} bytes, a page header needs {LONG_HEADER_SIZE}")
    return LongPageHeader(*_LONG_HEADER.unpack_from(data))


def validate_segment_size(name: str, size: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> None:
    """A complete segment is exactly wal_segment_size bytes; shorter means cut off during copy or
    archiving."""
    if size != segment_size:
        raise InvalidWalSegment(name, f"size is {size} bytes, expected {segment_size} (truncated or not a segment)")


def validate_segment_header(
    first_page: bytes,
    name: str,
    segment_size: int = DEFAULT_SEGMENT_SIZE,
    *,
    pg_major: int = DEFAULT_MAJOR,
    system_identifier: int | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    ancestry: Sequence[TimelineSpan] | None = None,
) -> LongPageHeader:
    """Check that a segment's first page is what its file name promises; raise InvalidWalSegment if not.

    Catches the ways a wrong file ends up under a WAL name: another major version or not WAL at all (magic), a
    segment copied to the wrong number or timeline (xlp_pageaddr, xlp_tli), another cluster (xlp_sysid, when
    ``system_identifier`` is given), another build (segment or block size), or a zero-filled/garbage file.

    The first segment of a new timeline is a copy of the parent's segment up to the switch point, so its first
    page header carries the *parent's* timeline. Without ``ancestry`` any older timeline is accepted there;
    with it (``timeline_ancestry`` of the file's timeline), the header's timeline must be the ancestor whose
    WAL covers the segment's start.
    """
    try:
        file_tli, segno = parse_segment_name(name, segment_size)
    except InvalidWalName as e:
        raise InvalidWalSegment(name, f"not a segment file name ({e})") from None
    if len(first_page) < LONG_HEADER_SIZE:
        raise InvalidWalSegment(name, f"truncated: {len(first_page)} bytes, a page header needs {LONG_HEADER_SIZE}")
    h = parse_long_page_header(first_page)
    expected_magic = wal_page_magic(pg_major)
    if h.magic != expected_magic:
        other = major_for_wal_magic(h.magic)
        what = f"written by PostgreSQL {other}" if other else "not a WAL page, or corrupt"
        raise InvalidWalSegment(
            name, f"page magic 0x{h.magic:04X} is not PostgreSQL {pg_major}'s 0x{expected_magic:04X} ({what})"
        )
    if not h.info & XLP_LONG_HEADER:
        raise InvalidWalSegment(name, f"first page lacks the long header flag (xlp_info 0x{h.info:04X})")
    if h.info & ~XLP_ALL_FLAGS:
        raise InvalidWalSegment(name, f"invalid xlp_info bits 0x{h.info:04X}")
    if h.segment_size != segment_size:
        raise InvalidWalSegment(name, f"header says segment size {h.segment_size}, expected {segment_size}")
    if h.block_size != block_size:
        raise InvalidWalSegment(name, f"header says WAL block size {h.block_size}, expected {block_size}")
    start = segment_start_lsn(segno, segment_size)
    if h.pageaddr != start:
        if h.pageaddr % segment_size == 0:
            actual = segment_name(file_tli, h.pageaddr // segment_size, segment_size)[8:]
            detail = f"it holds segment {actual} (pageaddr {format_lsn(h.pageaddr)})"
        else:
            detail = f"pageaddr {format_lsn(h.pageaddr)} is not a segment start"
        raise InvalidWalSegment(name, f"{detail}, but the file name says {name[8:]} ({format_lsn(start)})")
    if h.timeline != file_tli:
        _check_inherited_timeline(name, h.timeline, file_tli, start, ancestry)
    if system_identifier is not None and h.system_identifier != system_identifier:
        raise InvalidWalSegment(
            name, f"system identifier {h.system_identifier} is not this cluster's {system_identifier}"
        )
    return h


def _check_inherited_timeline(
    name: str, header_tli: int, file_tli: int, start: int, ancestry: Sequence[TimelineSpan] | None
) -> None:
    if header_tli == 0 or header_tli > file_tli:
        raise InvalidWalSegment(name, f"header says timeline {header_tli}, the file name says {file_tli}")
    if ancestry is None:
        return
    try:
        expected = timeline_of_lsn(ancestry, start)
    except InvalidLsn:
        expected = None
    if expected != header_tli:
        raise InvalidWalSegment(
            name,
            f"header says timeline {header_tli}, but on timeline {file_tli}'s history "
            f"{format_lsn(start)} belongs to timeline {expected}",
        )
