"""``wal status``: when the primary's archiver counts as failing, from pg_stat_archiver's times (null: never)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from qfbackup.ops.status.wal import Archiver

T = datetime(2026, 12, 3, 17, 29, 50, tzinfo=UTC)
SEG = "000000010000000000000003"


@pytest.mark.parametrize(
    ("archived", "failed", "failing"),
    [
        (None, None, False),  # a new cluster: nothing archived, nothing failed
        (T, None, False),  # archiving, never failed
        (T, T - timedelta(seconds=1), False),  # failed once, then archived again
        (T, T + timedelta(seconds=1), True),  # the newest attempt failed
        (None, T, True),  # never archived, and it fails
    ],
)
def test_failing_means_the_newest_attempt_failed(archived, failed, failing):
    archiver = Archiver(SEG if archived else None, archived, 1 if failed else 0, SEG if failed else None, failed)
    assert archiver.failing is failing
