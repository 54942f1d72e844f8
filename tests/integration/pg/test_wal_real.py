"""qfbackup.pg.wal against WAL written by a real PostgreSQL 15: archived segments, damaged copies, a promotion."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from qfbackup.errors import InvalidWalSegment
from qfbackup.pg import wal
from qfbackup.pg.wal import WalKind
from qfbackup.sandbox.pg import PgCluster

if TYPE_CHECKING:
    from tests.conftest import PgFactory

pytestmark = pytest.mark.pg

SEG = wal.DEFAULT_SEGMENT_SIZE


@pytest.fixture(scope="module")
def archived(pg_cluster: PgCluster) -> list[Path]:
    """Segments this module made the shared cluster archive (only these: other tests share its archive)."""
    names = [pg_cluster.switch_wal() for _ in range(3)]  # each writes a WAL record first, so each switches
    return [pg_cluster.archive_dir / n for n in names]


def system_identifier(pg: PgCluster) -> int:
    return int(pg.psql("select system_identifier from pg_control_system()"))


def first_page(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(8192)


def segments(archive: Path, timeline: int | None = None) -> list[Path]:
    files = [p for p in archive.iterdir() if wal.classify(p.name).kind is WalKind.SEGMENT]
    if timeline is not None:
        files = [p for p in files if wal.classify(p.name).timeline == timeline]
    return sorted(files)


def test_archived_segments_validate(pg_cluster: PgCluster, archived: list[Path]) -> None:
    sysid = system_identifier(pg_cluster)
    for path in archived:
        wal.validate_segment_size(path.name, path.stat().st_size)
        h = wal.validate_segment_header(first_page(path), path.name, SEG, system_identifier=sysid)
        assert h.magic == 0xD110 and h.timeline == 1 and h.block_size == 8192
        assert h.pageaddr == wal.segment_start_lsn(wal.parse_segment_name(path.name)[1])


def test_lsn_arithmetic_matches_postgres(pg_cluster: PgCluster) -> None:
    lsns = ["0/1", "0/3000148", "0/FFFFFF", "0/1000000", "0/FFFFFFFF", "1/0", "16/B374D848", "FF/FF000000"]
    for text in lsns:
        sql = f"select file_name, file_offset from pg_walfile_name_offset('{text}')"
        name, offset = pg_cluster.psql(sql).split("|")
        lsn = wal.parse_lsn(text)
        # PostgreSQL names the segment holding the byte before the position (XLByteToPrevSeg)...
        assert wal.segment_name(1, wal.segment_of_end_lsn(lsn)) == name, text
        assert lsn % SEG == int(offset), text
        # ...which is the segment holding the position itself, unless it is on a boundary.
        if lsn % SEG:
            assert wal.segment_name(1, wal.segment_of_lsn(lsn)) == name, text
        assert wal.format_lsn(lsn) == pg_cluster.psql(f"select '{text}'::pg_lsn"), text
    current = pg_cluster.psql("select pg_current_wal_lsn()")
    assert wal.format_lsn(wal.parse_lsn(current)) == current


def test_damaged_copies_are_refused(pg_cluster: PgCluster, archived: list[Path], tmp_path: Path) -> None:
    good = archived[1]
    tli, segno = wal.parse_segment_name(good.name)
    page = first_page(good)

    # Renamed to the wrong number (an archive_command mix-up).
    wrong = wal.segment_name(tli, segno + 5)
    with pytest.raises(InvalidWalSegment, match=f"holds segment {good.name[8:]}"):
        wal.validate_segment_header(page, wrong)
    # Claimed by another timeline (newer than the header's is never right without history).
    with pytest.raises(InvalidWalSegment, match="belongs to timeline"):
        path = wal.timeline_ancestry(2, [wal.HistoryEntry(1, wal.segment_start_lsn(segno) - 1, "x")])
        wal.validate_segment_header(page, wal.segment_name(2, segno), ancestry=path)

    # Truncated: the copy stopped after 1 MiB, or after 20 bytes.
    cut = tmp_path / good.name
    with open(good, "rb") as src, open(cut, "wb") as dst:
        dst.write(src.read(1024 * 1024))
    with pytest.raises(InvalidWalSegment, match="size is 1048576 bytes"):
        wal.validate_segment_size(cut.name, cut.stat().st_size)
    with pytest.raises(InvalidWalSegment, match="truncated: 20 bytes"):
        wal.validate_segment_header(page[:20], good.name)

    # One flipped bit in the magic.
    flipped = bytes([page[0] ^ 0x01]) + page[1:]
    with pytest.raises(InvalidWalSegment, match="page magic 0xD111"):
        wal.validate_segment_header(flipped, good.name)

    # Another cluster's WAL under the right name.
    with pytest.raises(InvalidWalSegment, match="system identifier"):
        wal.validate_segment_header(page, good.name, system_identifier=system_identifier(pg_cluster) + 1)


def test_promotion_history_and_new_timeline(pg_factory: PgFactory) -> None:
    primary = pg_factory()  # own clusters: promotion changes them for good
    primary.psql(
        "create table t (id int primary key, v text); insert into t select g, 'x' from generate_series(1, 1000) g"
    )
    primary.switch_wal()
    archive = primary.archive_dir
    standby = pg_factory.standby(primary)
    # make_standby's pg_basebackup left a backup history file; its name encodes the start LSN.
    backups = [p for p in archive.iterdir() if wal.classify(p.name).kind is WalKind.BACKUP]
    assert len(backups) == 1
    start = backups[0].read_text().split("START WAL LOCATION: ")[1].split()[0]
    assert wal.backup_history_file_name(1, wal.parse_lsn(start)) == backups[0].name

    primary.psql("insert into t select g, 'y' from generate_series(1001, 2000) g")
    standby.wait_caught_up()
    assert standby.psql("select pg_promote()") == "t"
    assert standby.psql("select timeline_id from pg_control_checkpoint()") in ("1", "2")
    standby.psql("checkpoint")
    assert standby.psql("select timeline_id from pg_control_checkpoint()") == "2"
    standby.switch_wal()

    arch2 = standby.archive_dir
    history_path = arch2 / "00000002.history"
    assert history_path.exists(), sorted(p.name for p in arch2.iterdir())
    entries = wal.parse_history(history_path.read_text(), history_path.name)
    assert len(entries) == 1
    switch = entries[0].switch_lsn
    assert entries[0].timeline == 1 and entries[0].reason
    path = wal.timeline_ancestry(2, entries)
    assert path == [wal.TimelineSpan(1, 0, switch), wal.TimelineSpan(2, switch, None)]

    # The old timeline's unfinished segment is archived as .partial; it sorts after everything else.
    names = [p.name for p in arch2.iterdir()]
    partials = [n for n in names if wal.classify(n).kind is WalKind.PARTIAL]
    assert partials == [wal.segment_name(1, wal.segment_of_lsn(switch)) + ".partial"]
    order = wal.sort_wal_names(names)
    assert order[-1] == partials[0]
    assert order.index("00000002.history") < min(order.index(p.name) for p in segments(arch2, 2))

    # Every timeline 2 segment validates; the first one starts with pages written on timeline 1.
    sysid = system_identifier(primary)
    tl2 = segments(arch2, 2)
    assert tl2 and tl2[0].name == wal.segment_file_for(path, wal.segment_of_lsn(switch))
    headers = {}
    for seg in tl2:
        wal.validate_segment_size(seg.name, seg.stat().st_size)
        headers[seg.name] = wal.validate_segment_header(
            first_page(seg), seg.name, system_identifier=sysid, ancestry=path
        )
    first = headers[tl2[0].name]
    if switch % SEG:  # switch mid-segment: the copied start keeps the parent's timeline
        assert first.timeline == 1
    assert all(h.timeline == 2 for name, h in headers.items() if name != tl2[0].name)
    assert wal.find_gaps(names) == []
    assert wal.find_gaps(p.name for p in archive.iterdir()) == []
