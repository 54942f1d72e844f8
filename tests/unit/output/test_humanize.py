from datetime import datetime, timedelta, timezone

import pytest

from qfbackup.output import humanize


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.00 KiB"), (1536, "1.50 KiB"), (10 * 1024**2, "10.0 MiB"),
     (123 * 1024**3, "123 GiB"), (5 * 1024**4, "5.00 TiB"), (None, "unknown")],
)  # fmt: skip
def test_size_one_unit_system(n, text):
    assert humanize.size(n) == text


def test_when_is_utc_with_zone_and_never_for_none():
    assert humanize.when("2026-12-03T18:29:50+01:00") == "2026-12-03 17:29:50 UTC"
    assert humanize.when("2026-12-03T17:29:50.250000Z") == "2026-12-03 17:29:50.25 UTC"
    assert humanize.when(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))) == (
        "2026-01-02 08:04:05 UTC"
    )
    assert humanize.when(None) == "never"
    with pytest.raises(ValueError, match="without a zone"):
        humanize.when("2026-12-03T17:29:50")


@pytest.mark.parametrize(
    ("s", "text"),
    [(0.4, "0.4 s"), (59.94, "59.9 s"), (245, "4 min 05 s"), (7380, "2 h 03 min"), (273600, "3 d 04 h"),
     (None, "unknown")],
)  # fmt: skip
def test_duration(s, text):
    assert humanize.duration(s) == text


def test_rate_and_count():
    assert humanize.rate(3 * 1024**2, 2.0) == "1.50 MiB/s"
    assert humanize.rate(10, 0) == "-"
    assert humanize.count(1, "base backup") == "1 base backup"
    assert humanize.count(16, "WAL batch", "WAL batches") == "16 WAL batches"


def test_kinds_are_named_apart():
    from qfbackup.catalog import kinds
    from qfbackup.output.words import KIND_WORDS, kind_counts, kind_word

    assert set(KIND_WORDS) == kinds.CLUSTER_KINDS | {kinds.FILES}  # every kind has its words, spelled once
    assert (
        kind_counts({"wal": 16, "basebackup": 1, "files": 2}) == "1 base backup, 16 WAL batches, 2 file-set snapshots"
    )
    assert kind_word("dump", 3) == "dumps"
    assert kind_word("future", 2) == "future snapshots"
