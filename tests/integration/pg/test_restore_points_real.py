"""qfbackup.pg.walrecords against WAL written by a real PostgreSQL 15: every restore point is found, none invented.

1,500 restore points with names of every length, write traffic between them, and some placed on purpose so that
their record crosses a page end at every possible split and a segment end. The scanner's answer must equal both
what the server returned and what pg_waldump decodes.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from qfbackup.pg import wal
from qfbackup.pg.walrecords import Carry, RestorePoint, RestorePointScanner
from tests.support import seed

if TYPE_CHECKING:
    from qfbackup.sandbox.pg import PgCluster
    from tests.conftest import PgFactory

pytestmark = pytest.mark.pg

SEG = wal.DEFAULT_SEGMENT_SIZE
PAGE = wal.DEFAULT_BLOCK_SIZE
COUNT = 1500
NOW = "extract(epoch from clock_timestamp())"
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.:/'\"é€"

# Emits logical messages of computed sizes until the next record would start ``head`` bytes before a multiple
# of ``unit`` (a page or a segment), then creates the restore point there. Another backend may write a record
# in between; the caller checks where the restore point landed and tries again under a new name.
POSITION_FN = r"""
create function qfb_rp_at(rp_name text, unit bigint, head int) returns void language plpgsql as $$
declare
  pos bigint; want bigint; page_left bigint; size bigint;
begin
  for attempt in 1..200 loop
    pos := (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint;
    want := unit - pos % unit - head;  -- bytes of WAL to fill first
    if want = 0 then
      insert into rp_log values (rp_name, pg_create_restore_point(rp_name), extract(epoch from clock_timestamp()));
      return;
    end if;
    if want < 64 then
      want := want + unit;  -- too close for a message: aim at the next boundary
    end if;
    page_left := 8192 - pos % 8192;
    if want <= page_left then
      size := want;  -- ends on this page: the record is exactly that long
    elsif want <= page_left + 8192 - 24 then
      size := want - 24;  -- ends on the next page: one page header in between
    else
      size := want - 24 * (want / 8168 + 2) - 512;  -- far: get within a page, then again
    end if;
    -- XLogRecord 24 + data block header 2 (5 over 255 bytes) + xl_logical_message 24 + prefix 'f\0' + message
    perform pg_logical_emit_message(false, 'f', repeat('x', (case when size <= 281 then size - 52
                                                                   else size - 55 end)::int));
  end loop;
  raise exception 'could not place restore point % (WAL written concurrently all the time?)', rp_name;
end $$;
"""


def sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def random_name(rng: random.Random, i: int) -> str:
    """Unique, 1 to 63 bytes (the server's limit), some multi-byte UTF-8 and quote characters."""
    if i < 36:
        return "0123456789abcdefghijklmnopqrstuvwxyz"[i]
    prefix = f"{i}-"
    target = rng.choice([rng.randint(len(prefix), 63), 63, len(prefix) + 1])
    name = prefix
    while True:
        c = rng.choice(NAME_CHARS)
        if len((name + c).encode()) > target:
            return name
        name += c


def traffic(rng: random.Random) -> str:
    """A random bit of ordinary write traffic (inserts, updates, deletes of varying size)."""
    rows, width = rng.randint(0, 4), rng.choice([0, 1, 7, 40, 200, 1000, 3000])
    sql = [f"insert into traffic (pad) select repeat(chr(65 + g % 26), {width}) from generate_series(1, {rows}) g;"]
    if rng.random() < 0.2:
        sql.append(f"update traffic set pad = pad || 'u' where id % 97 = {rng.randrange(97)};")
    if rng.random() < 0.1:
        sql.append(f"delete from traffic where id % 89 = {rng.randrange(89)};")
    return "\n".join(sql)


def record_end(start: int, length: int = 104) -> int:
    """What pg_create_restore_point returns: the LSN after the record (98 bytes, MAXALIGN'd), skipping page
    headers (XLogBytePosToEndRecPtr: an end on a page boundary is the boundary itself)."""
    pos, left = start, length
    while True:
        room = PAGE - pos % PAGE
        if left <= room:
            return pos + left
        left -= room
        pos += room
        pos += wal.LONG_HEADER_SIZE if pos % SEG == 0 else 24


def waldump_restore_points(pg: PgCluster, first: str, last: str) -> tuple[set[tuple[str, int]], int]:
    """(name, LSN) of every RESTORE_POINT record pg_waldump decodes, and how many have an xid."""
    proc = subprocess.run(
        [pg.bin("pg_waldump"), "--rmgr=XLOG", f"--path={pg.archive_dir}", first, last],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr  # the last segment ends with XLOG_SWITCH: a clean end
    found = set()
    with_xid = 0
    for line in proc.stdout.splitlines():
        m = re.search(r" tx: +(\d+), lsn: ([0-9A-F]+/[0-9A-F]+), prev [0-9A-F/]+, desc: RESTORE_POINT (.*)$", line)
        if m:
            found.add((m.group(3), wal.parse_lsn(m.group(2))))
            with_xid += m.group(1) != "0"
    return found, with_xid


def scan_archive(names: list[str], archive: Path, rng: random.Random) -> tuple[list[RestorePoint], list[float]]:
    """Every segment in WAL order, fed in random chunk sizes, each carry passed on through JSON as the WAL pull
    keeps it."""
    points: list[RestorePoint] = []
    timings = []
    carry: Carry | None = None
    for name in names:
        data = (archive / name).read_bytes()
        chunks = []
        pos = 0
        while pos < len(data):
            size = rng.choice([1, 100, 8191, 65536, 1 << 20, 3 << 20])
            chunks.append(data[pos : pos + size])
            pos += size
        t0 = time.perf_counter()
        scanner = RestorePointScanner(name, SEG, carry=carry)
        for chunk in chunks:
            scanner.feed(chunk)
        points += scanner.finish()
        timings.append(time.perf_counter() - t0)
        carry = scanner.carry_out and Carry.from_dict(json.loads(json.dumps(scanner.carry_out.to_dict())))
    return points, timings


def test_every_restore_point_is_found(pg_factory: PgFactory) -> None:
    rng = seed.rng("restore-points")
    pg = pg_factory()
    pg.psql(
        "create table rp_log (name text primary key, lsn pg_lsn not null, at float8 not null);\n"
        "create table traffic (id bigserial primary key, pad text);\n" + POSITION_FN
    )

    # Restore points at every 8-aligned split of a page end, and three across a segment end (only 8 bytes, the
    # whole XLogRecord header, all but 2 bytes on the first segment). Retried under a new name if another
    # backend's record got in between.
    for unit, head in [*((PAGE, h) for h in range(8, 98, 8)), *((SEG, h) for h in (8, 24, 96))]:
        for attempt in range(5):
            name = f"at-{unit}-{head}-{attempt}"
            pg.psql(f"select qfb_rp_at({sql_text(name)}, {unit}, {head})")
            end = wal.parse_lsn(pg.psql(f"select lsn from rp_log where name = {sql_text(name)}"))
            if record_end(end // unit * unit - head) == end:
                break
    placed = int(pg.psql("select count(*) from rp_log"))

    # The rest: random names and traffic, a few inside a transaction that already has an xid.
    script = []
    for i in range(COUNT - placed):
        name = sql_text(random_name(rng, i))
        create = f"insert into rp_log values ({name}, pg_create_restore_point({name}), {NOW});"
        if rng.random() < 0.05:
            script.append(f"begin;\n{traffic(rng)}\n{create}\ncommit;")
        else:
            script += [traffic(rng), create]
    pg.psql("\n".join(script), timeout=600)
    last = pg.switch_wal()  # waits until this segment, and so every earlier one, is archived

    server = {}
    for line in pg.psql("select name, lsn, at from rp_log").splitlines():
        name, lsn, at = line.rsplit("|", 2)
        server[name] = (wal.parse_lsn(lsn), float(at))
    assert len(server) == COUNT

    # Only segments up to the one switch_wal waited for: a later one (archive_timeout) may still be copied.
    last_segno = wal.parse_segment_name(last)[1]
    files = [wal.classify(p.name) for p in pg.archive_dir.iterdir()]
    names = wal.sort_wal_names(
        f.name for f in files if f.kind is wal.WalKind.SEGMENT and f.segno is not None and f.segno <= last_segno
    )
    assert wal.find_gaps(names) == []
    points, timings = scan_archive(names, pg.archive_dir, rng)
    print(f"{len(names)} segments scanned, {1000 * min(timings):.1f}..{1000 * max(timings):.1f} ms each")

    scanned = {(rp.name, rp.lsn) for rp in points}
    assert len(scanned) == len(points) == COUNT
    dumped, with_xid = waldump_restore_points(pg, names[0], names[-1])
    assert scanned == dumped
    assert with_xid > 0  # some were made in a transaction that had an xid: xl_xid is not always 0
    assert {(rp.name, record_end(rp.lsn)) for rp in points} == {(n, lsn) for n, (lsn, _) in server.items()}
    for rp in points:
        assert rp.timeline == 1
        assert abs(rp.time - server[rp.name][1]) < 5, rp

    crosses_page = [rp for rp in points if rp.lsn % PAGE + 98 > PAGE]
    crosses_segment = [rp for rp in points if rp.lsn % SEG + 98 > SEG]
    print(f"{len(crosses_page)} restore points cross a page end, {len(crosses_segment)} a segment end")
    assert {PAGE - rp.lsn % PAGE for rp in crosses_page} >= set(range(8, 98, 8))
    assert {SEG - rp.lsn % SEG for rp in crosses_segment} >= {8, 24, 96}
