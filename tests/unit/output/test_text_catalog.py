"""The text of `list` and `show`, from hand-built documents that satisfy their contracts."""

from __future__ import annotations

from qfbackup.output.contract import validate
from qfbackup.output.contract.catalog import LIST, SHOW
from qfbackup.output.document import document
from qfbackup.output.text.catalog import RESTORE_POINTS_SHOWN, list_text, show_text

B1, B2, D1 = "a1" * 32, "b2" * 32, "d3" * 32
SEG = "0000000{}0000000000000{:03X}".format


def _gap(first: int, last: int) -> dict:
    n = last - first + 1
    return {
        "first": SEG(1, first),
        "last": SEG(1, last),
        "segments": n,
        "message": f"missing {n} segments {SEG(1, first)}..{SEG(1, last)}" if n > 1 else f"missing {SEG(1, first)}",
    }


def _window(backup: str, start: str, to_time: str, segment: str | None, gap: str | None) -> dict:
    return {
        "from": {"backup_id": backup, "time": start, "lsn": "0/2000100"},
        "to": {"lsn": "0/9000000", "time": to_time, "segment": segment},
        "cut_by_gap": gap,
    }


def _list_doc() -> dict:
    earlier = _window(B1, "2026-12-03T01:00:00+00:00", "2026-12-03T02:00:00+00:00", SEG(1, 4), SEG(1, 5))
    current = _window(B2, "2026-12-03T03:00:00+00:00", "2026-12-03T04:30:00.250000+00:00", SEG(1, 9), None)
    points = [
        {"name": f"batch-{i}", "lsn": f"0/{i:X}000028", "time": f"2026-12-03T03:{i:02d}:00+00:00", "timeline": 1,
         "segment": SEG(1, i)}
        for i in range(RESTORE_POINTS_SHOWN + 5)
    ]  # fmt: skip
    cluster = {
        "cluster": "main",
        "base_backups": [
            {"id": B1, "stopped_at": "2026-12-03T01:00:00+00:00", "consistent_at": "2026-12-03T01:00:00+00:00",
             "timeline": 1, "start_lsn": "0/2000028", "stop_lsn": "0/2000100", "bytes": 48_166_912,
             "from_standby": False},
            {"id": B2, "stopped_at": None, "consistent_at": "2026-12-03T03:00:00+00:00", "timeline": 1,
             "start_lsn": "0/6000028", "stop_lsn": "0/6000100", "bytes": 1536, "from_standby": True},
        ],
        "dumps": [{"id": D1, "time": "2026-12-03T05:00:00+00:00", "databases": ["signalcartel"], "status": "ok"}],
        "wal": {"files": 9, "first": SEG(1, 1), "last": SEG(1, 9), "gaps": [_gap(5, 5)], "quarantined": [SEG(1, 7)],
                "timelines": {"1": 8}},
        "windows": [
            {"timeline": 1, "error": None, "backups": 2, **current, "windows": [earlier, current], "gaps": [],
             "holes": [_gap(5, 5)]},
            {"timeline": 2, "error": {"message": "00000002.history is not stored"}, "backups": 0, "from": None,
             "to": None, "cut_by_gap": None, "windows": [], "gaps": [_gap(10, 12)], "holes": []},
        ],
        "restore_points": points,
    }  # fmt: skip
    return document("list", clusters=[cluster])


def test_list_says_each_thing_in_units_and_words():
    doc = _list_doc()
    assert validate(doc, LIST) == []
    text = list_text(doc)
    assert "base backups (2):" in text and "dumps (1):" in text
    assert f"{B1[:12]}  consistent 2026-12-03 01:00:00 UTC  timeline 1  LSN 0/2000028..0/2000100  45.9 MiB" in text
    assert f"{B2[:12]}" in text and "1.50 KiB  (from the standby)" in text and B2 not in text
    assert f"{D1[:12]}  2026-12-03 05:00:00 UTC  signalcartel  ok" in text
    assert f"WAL: 9 files, {SEG(1, 1)} .. {SEG(1, 9)}, 1 gap, 1 quarantined" in text
    assert f"gap: missing {SEG(1, 5)}" in text and f"quarantined: {SEG(1, 7)}" in text
    assert f"restore points ({RESTORE_POINTS_SHOWN + 5}): the newest:" in text
    assert "batch-24" in text and "batch-4\n" not in text and text.count("batch-") == RESTORE_POINTS_SHOWN
    assert (
        "timeline 1: restorable from 2026-12-03 03:00:00 UTC to the end of "
        f"{SEG(1, 9)} (archived 2026-12-03 04:30:00.25 UTC)"
    ) in text
    assert (
        f"earlier window from 2026-12-03 01:00:00 UTC to LSN 0/9000000, the end of {SEG(1, 4)} (archived "
        f"2026-12-03 02:00:00 UTC) (cut by a gap at {SEG(1, 5)})"
    ) in text
    assert "timeline 2: not restorable (00000002.history is not stored)" in text
    assert "{" not in text and "[" not in text and "+00:00" not in text


def test_list_of_nothing_says_so():
    doc = document("list", clusters=[])
    assert validate(doc, LIST) == [] and list_text(doc) == "nothing stored"


def test_a_window_of_the_base_backup_alone_names_its_lsn():
    doc = _list_doc()
    view = doc["clusters"][0]["windows"][0]
    view["to"] = {"lsn": "0/6000100", "time": "2026-12-03T03:00:00+00:00", "segment": None}
    view["windows"] = [{k: view[k] for k in ("from", "to", "cut_by_gap")}]
    assert validate(doc, LIST) == []
    assert "to the end of the base backup (LSN 0/6000100)" in list_text(doc)


def _show_doc() -> dict:
    meta = {
        "backup_label": "START WAL LOCATION: 0/2000028\nLABEL: qfbackup main\n",
        "bytes_raw": 48_166_912,
        "duration_s": 125.0,
        "throughput_mb_s": 30.3,
        "end_time": "2026-12-03T17:48:07.293873+00:00",
        "from_standby": False,
        "failed": [],
        "wal_ranges": [{"timeline": 1, "start_lsn": "0/2000028", "end_lsn": "0/2000100"}],
        "databases": {"signalcartel": {"status": "ok", "size": 2048}},
        "tags_seen": ["x", "y"],
    }
    return document(
        "show",
        id=B1,
        kind="basebackup",
        source="main",
        time="2026-12-03T17:48:07.734362+00:00",
        host="vm",
        tags=[],
        tree=None,
        streams={"base.tar": {"size": 48_166_912, "chunks": 300}},
        stats={"bytes_in": 48_166_912, "chunks": 300},
        meta=meta,
    )


def test_show_lays_out_the_meta_key_by_key():
    doc = _show_doc()
    assert validate(doc, SHOW) == []
    lines = show_text(doc).splitlines()
    assert lines[:6] == [
        f"id           {B1}",
        "kind         base backup",
        "source       main",
        "time         2026-12-03 17:48:07.734362 UTC",
        "host         vm",
        "tags         -",
    ]
    text = "\n".join(lines)
    assert "  base.tar  45.9 MiB in 300 chunks" in text and "  bytes_in  45.9 MiB" in text
    # a multi-line value indented under its key, each line on its own
    assert "  backup_label\n    START WAL LOCATION: 0/2000028\n    LABEL: qfbackup main\n" in text
    assert "  bytes_raw        45.9 MiB" in text and "  duration_s       2 min 05 s" in text
    assert "  throughput_mb_s  28.9 MiB/s" in text and "  end_time         2026-12-03 17:48:07.293873 UTC" in text
    assert "  from_standby     no" in text and "  failed           none" in text and "  tags_seen        x, y" in text
    # a list of mappings: a dash before the first key, the others aligned under it
    assert "  wal_ranges (1)\n    - timeline   1\n      start_lsn  0/2000028\n      end_lsn    0/2000100" in text
    assert "  databases\n    signalcartel\n      status  ok\n      size    2.00 KiB" in text
    assert not any(c in text for c in "{}[]'") and "+00:00" not in text and "True" not in text
