"""The drill commands' text, from hand-built documents that satisfy their contracts."""

from __future__ import annotations

import copy

import pytest

from qfbackup.output.contract import all_contracts, validate
from qfbackup.output.document import document
from qfbackup.output.text import drill as text

BACKUP = "f5d2e729af3f" + "0" * 52
DUMP = "9c01d2e3" + "1" * 56


def run_doc(**over) -> dict:
    """A passed point-in-time drill with a random time target, as ``drill run --json`` prints it."""
    data = {
        "id": "4c29164ce321",
        "kind": "pitr",
        "cluster": "signalcartel",
        "started_at": "2026-11-26T01:21:25+00:00",
        "passed": True,
        "target": {
            "spec": "random",
            "kind": "time",
            "time": "2026-11-26T02:21:12.402246+01:00",
            "lsn": None,
            "database": None,
        },
        "failures": [],
        "proofs": [
            {"message": "recovery stopping before commit of transaction 733 (replay LSN 0/40B1058)"},
            {"message": "amcheck: 162 B-tree index(es) of postgres verified"},
        ],
        "checks": [
            {
                "name": "trades-present",
                "database": "signalcartel",
                "value": "14000",
                "expect": ">= 1",
                "ok": True,
                "failure": None,
            },
        ],  # fmt: skip
        "phases": {"fetch": 0.31, "restore": 1.2, "replay": 2.2, "checks": 1.1},
        "rto_seconds": 4.81,
        "rpo_seconds": 14.0,
        "target_to_newest_wal_seconds": 5.0,
        "snapshot_id": BACKUP,
        "wal_files": 3,
        "engine": "podman",
        "kept": None,
    }
    data.update(over)
    return document("drill run", **data)


def conforms(doc: dict) -> dict:
    assert validate(doc, all_contracts()[doc["command"]]) == []
    return doc


def test_passed_drill_reads_verdict_first_with_figures_in_units():
    out = text.run(conforms(run_doc()))
    lines = out.splitlines()
    assert lines[0] == "drill 4c29164ce321 (pitr) of signalcartel: PASSED"
    assert "  target      time 2026-11-26 01:21:12.402246 UTC (random)" in lines  # UTC with its zone
    assert "  restored    base backup f5d2e729af3f, 3 WAL files staged" in lines
    assert "  RTO         4.8 s (fetch 0.3 s, restore 1.2 s, replay 2.2 s, checks 1.1 s)" in lines
    assert (
        "  RPO         14.0 s (the newest stored WAL was that old at drill time); the target lies 5.0 s before the "
        "newest stored WAL" in lines
    )
    assert "  proof       amcheck: 162 B-tree index(es) of postgres verified" in lines
    assert "  check       ok   trades-present (signalcartel): 14000 (expect >= 1)" in lines
    assert "FAILURE" not in out and "kept" not in out
    assert "{" not in out and "None" not in out  # no dict or Python value leaks into the text


def test_failed_check_and_multi_line_failure_are_indented_under_their_label():
    doc = run_doc(
        passed=False,
        failures=[{"message": "pg_restore failed: line one\nline two"}],
        checks=[
            {
                "name": "no-row",
                "database": "db",
                "value": None,
                "expect": "is not null",
                "ok": False,
                "failure": {"message": "expected a value, got NULL"},
            },
        ],  # fmt: skip
        kept="/var/cache/qfbackup/drill/work/4c29164ce321",
    )
    lines = text.run(conforms(doc)).splitlines()
    assert lines[0].endswith(": FAILED")
    assert "  check       FAIL no-row (db): NULL (expect is not null): expected a value, got NULL" in lines
    i = lines.index("  FAILURE     pg_restore failed: line one")
    assert lines[i + 1] == " " * 14 + "line two"
    assert lines[-1] == "  kept        /var/cache/qfbackup/drill/work/4c29164ce321"


def test_drill_that_failed_before_choosing_a_target_shows_dashes_not_zeros():
    doc = run_doc(
        passed=False,
        target={"spec": "latest", "kind": None, "time": None, "lsn": None, "database": None},
        failures=[{"message": "1 snapshot(s) in the repository cannot be read (abc: truncated)"}],
        proofs=[],
        checks=[],
        phases={},
        rto_seconds=None,
        rpo_seconds=None,
        target_to_newest_wal_seconds=None,
        snapshot_id=None,
        wal_files=0,
        engine=None,
    )
    lines = text.run(conforms(doc)).splitlines()
    assert "  target      latest (not chosen: the drill failed first)" in lines
    assert {"  restored    -", "  engine      -", "  RTO         -", "  RPO         -"} <= set(lines)


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ({"spec": "0/5015478", "kind": "lsn", "time": None, "lsn": "0/5015478", "database": None}, "LSN 0/5015478"),
        ({"spec": "latest", "kind": "latest", "time": None, "lsn": None, "database": None}, "the latest stored WAL"),
        (
            {"spec": "2026-11-26T01:00:00Z", "kind": "time", "time": "2026-11-26T01:00:00+00:00", "lsn": None,
             "database": None},
            "time 2026-11-26 01:00:00 UTC",
        ),
    ],
)  # fmt: skip
def test_each_target_kind_in_words(target, shown):
    assert f"  target      {shown}" in text.run(conforms(run_doc(target=target))).splitlines()


def test_latest_target_says_no_distance_to_the_newest_wal():
    latest = {"spec": "latest", "kind": "latest", "time": None, "lsn": None, "database": None}
    lines = text.run(conforms(run_doc(target=latest, target_to_newest_wal_seconds=0.0))).splitlines()
    assert "  RPO         14.0 s (the newest stored WAL was that old at drill time)" in lines


def test_dump_drill_names_the_dump_and_its_age():
    doc = run_doc(
        kind="dump",
        target={"spec": "dump", "kind": "dump", "time": "2026-11-26T00:00:00+00:00", "lsn": None,
                "database": "signalcartel"},
        phases={"fetch": 0.5, "restore": 3.0, "checks": 1.0},
        rto_seconds=4.5,
        rpo_seconds=4980.0,
        target_to_newest_wal_seconds=None,
        snapshot_id=DUMP,
        wal_files=0,
    )  # fmt: skip
    lines = text.run(conforms(doc)).splitlines()
    assert "  target      the newest dump of signalcartel, taken 2026-11-26 00:00:00 UTC" in lines
    assert "  restored    dump 9c01d2e31111" in lines
    assert "  RPO         1 h 23 min (the dump was that old at drill time)" in lines


def history_doc(drills: list[dict], trend: dict) -> dict:
    return conforms(document("drill history", drills=drills, trend=trend))


def past(i: str, passed: bool, rto: float | None, rpo: float | None, failures: tuple[str, ...] = ()) -> dict:
    return {"id": i, "kind": "pitr", "cluster": "signalcartel", "started_at": "2026-11-26T01:21:30+00:00",
            "passed": passed, "rto_seconds": rto, "rpo_seconds": rpo,
            "failures": [{"message": f} for f in failures]}  # fmt: skip


def test_history_lines_and_trend():
    doc = history_doc(
        [past("4c29164ce321", True, 4.82, 14.0), past("0badc0ffee00", False, None, None, ("target not reachable",)),
         past("aa00aa00aa00", True, 6.1, 20.0)],
        {"drills": 3, "passed": 2, "last_rto_seconds": 4.82, "recent_mean_rto_seconds": 4.8,
         "older_mean_rto_seconds": 6.1},
    )  # fmt: skip
    lines = text.history(doc).splitlines()
    assert lines[0] == "2026-11-26 01:21:30 UTC  4c29164ce321  signalcartel   pitr  PASSED  RTO 4.8 s  RPO 14.0 s"
    assert lines[1].endswith(" FAILED  RTO -  RPO -")  # measured neither: no 0 that reads as "nothing lost"
    assert lines[-1] == "2/3 passed; last RTO 4.8 s; mean RTO of the newer half 4.8 s, of the older half 6.1 s"


def test_history_without_enough_rtos_for_means_and_without_drills():
    doc = history_doc(
        [past("0badc0ffee00", False, None, None)],
        {"drills": 1, "passed": 0, "last_rto_seconds": None, "recent_mean_rto_seconds": None,
         "older_mean_rto_seconds": None},
    )  # fmt: skip
    assert text.history(doc).splitlines()[-1] == "0/1 passed; last RTO -"
    empty = {"drills": 0, "passed": 0, "last_rto_seconds": None, "recent_mean_rto_seconds": None,
             "older_mean_rto_seconds": None}  # fmt: skip
    assert text.history(history_doc([], empty)) == "no drills yet"


IMAGE = {
    "status": "cached",
    "name": "localhost/qfbackup-drill-pg15-bookworm:cec8f4c363b7",
    "path": "/var/cache/qfbackup/drill/images/pg15-bookworm/rootfs",
    "suite": "bookworm",
    "pg_major": 15,
    "pg_version": "15.20",
    "postgres_uid": 101,
    "postgres_gid": 104,
    "locales": ["en_US.UTF-8"],
    "size_bytes": 468635648,
    "built_at": "2026-12-03T07:20:37+00:00",
    "seconds": 0.004,
}


def test_image_build_reused_and_built():
    built = {**copy.deepcopy(IMAGE), "status": "built", "seconds": 51.0}
    out = text.image_build(conforms(document("drill image build", images=[IMAGE, built])))
    assert out.splitlines() == [
        "cached: PostgreSQL 15.20 on Debian bookworm at /var/cache/qfbackup/drill/images/pg15-bookworm/rootfs",
        "  reused the cached image in 0.0 s; 447 MiB, postgres uid:gid 101:104, locales en_US.UTF-8, built "
        "2026-12-03 07:20:37 UTC",
        "built: PostgreSQL 15.20 on Debian bookworm at /var/cache/qfbackup/drill/images/pg15-bookworm/rootfs",
        "  built in 51.0 s; 447 MiB, postgres uid:gid 101:104, locales en_US.UTF-8, built 2026-12-03 07:20:37 UTC",
    ]


def test_image_named_by_the_policy_is_used_as_is():
    entry = {k: None for k in IMAGE} | {"status": "policy", "name": "registry.local/pg:15"}
    out = text.image_build(conforms(document("drill image build", images=[entry])))
    assert out == "the policy names drill.image registry.local/pg:15: drills use it as is, nothing to build"
