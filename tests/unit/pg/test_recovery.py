import pytest

from qfbackup.errors import UsageError
from qfbackup.pg.recovery import Target, recovery_settings


def test_time_target_settings():
    text = recovery_settings(Target("time", "2026-11-26T03:14:00Z"), restore_command="cp /s/%f %p", action="promote")
    assert "recovery_target_time = '2026-11-26T03:14:00+00:00'" in text
    assert "recovery_target_inclusive = on" in text and "recovery_target_action = 'promote'" in text
    assert "restore_command = 'cp /s/%f %p'" in text and "archive_mode = 'off'" in text


def test_exclusive_xid_and_quoting():
    text = recovery_settings(Target("xid", "1234", inclusive=False), restore_command="x 'y' %f")
    assert "recovery_target_xid = '1234'" in text and "recovery_target_inclusive = off" in text
    assert "restore_command = 'x ''y'' %f'" in text


def test_latest_has_no_target_and_follows_latest_timeline():
    text = recovery_settings(Target("latest"), restore_command="c")
    assert "recovery_target_" not in text.replace("recovery_target_timeline", "")
    assert "recovery_target_timeline = 'latest'" in text


@pytest.mark.parametrize(
    "kind,value",
    [("time", "2026-11-26 03:14"), ("time", "yesterday"), ("lsn", "nonsense"), ("xid", "12a"), ("name", "it's")],
)
def test_bad_targets_refused(kind, value):
    with pytest.raises(UsageError):
        Target(kind, value)
