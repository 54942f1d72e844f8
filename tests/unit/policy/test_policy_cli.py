"""``qfbackup policy check`` through the real entry point: exit codes, stdout/stderr discipline, --json."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from qfbackup.cli.main import main
from qfbackup.output.contract import check
from qfbackup.policy import parse_policy
from qfbackup.policy.unimplemented import NOT_IMPLEMENTED


def test_check_shipped_policy(shipped: Path, capsys) -> None:
    assert main(["--policy", str(shipped), "policy", "check", "--show"]) == 0
    out, err = capsys.readouterr()
    assert "is valid" in out
    assert "[clusters.signalcartel]" in out
    tomllib.loads(out)  # the human rendering is TOML too
    assert "error" not in err


def test_check_takes_the_file_as_argument(shipped: Path, capsys) -> None:
    assert main(["policy", "check", "--show", str(shipped)]) == 0
    assert "[hosts.vms]" in capsys.readouterr().out


def test_check_reads_qfbackup_policy_env(shipped: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("QFBACKUP_POLICY", str(shipped))
    assert main(["policy", "check", "--show"]) == 0
    assert "[hosts.vms]" in capsys.readouterr().out


def test_json_output_is_only_json(shipped: Path, capsys) -> None:
    assert main(["--json", "--policy", str(shipped), "policy", "check", "--show"]) == 0
    out, _ = capsys.readouterr()
    data = json.loads(out)
    assert check(data) == []  # docs/json.md's "policy check", the effective policy under "policy"
    assert data["valid"] is True
    assert data["source"] == str(shipped)
    assert data["policy"]["clusters"]["signalcartel"]["port"] == 5432
    assert isinstance(data["warnings"], list)


def test_broken_policy_exits_2_naming_the_key(write_policy, minimal: str, capsys) -> None:
    path = write_policy(minimal.replace('host = "vms"', 'host = "vms"\nport = "5432"'))
    assert main(["--policy", str(path), "policy", "check"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{path}: clusters.main.port:" in err
    assert "fix:" in err
    assert "Traceback" not in err


def test_broken_policy_under_json_keeps_stdout_empty(write_policy, minimal: str, capsys) -> None:
    path = write_policy(minimal + '\n[schedule]\ndump = "every night"\n')
    assert main(["--json", "--policy", str(path), "policy", "check"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "schedule.dump" in err


def test_missing_policy_file_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["--policy", str(tmp_path / "none.toml"), "policy", "check"]) == 2
    assert "QFBACKUP_POLICY" in capsys.readouterr().err


def test_quiet_prints_nothing_on_success(write_policy, minimal: str, tmp_path: Path, capsys) -> None:
    text = (
        minimal
        + '\n[offsite]\nurl = "s3://bucket/qf"\n\n[[drill.checks]]\nname = "c"\nsql = "select 1"\nexpect = "== 1"\n'
    )
    text = text.replace(
        'user = "postgres"', f'user = "postgres"\nkey_file = "{tmp_path}/k"\nknown_hosts = "{tmp_path}/kh"'
    )
    (tmp_path / "k").write_text("key")
    (tmp_path / "k").chmod(0o600)
    (tmp_path / "kh").write_text("")
    path = write_policy(text)
    assert main(["-q", "--policy", str(path), "policy", "check"]) == 0
    assert capsys.readouterr() == ("", "")


# --- the verdict, the summary and the not-implemented warnings (--show for the policy itself) --------------------


def test_verdict_comes_first_and_the_policy_only_with_show(shipped: Path, capsys) -> None:
    assert main(["policy", "check", str(shipped)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"policy {shipped} is valid."
    assert "3 hosts, 3 clusters (2 primaries), 3 file sets, 5 drill checks, 8 scheduled jobs" in lines[1]
    assert "[hosts.vms]" not in out and "--show" in out
    assert "schedule: set, but no command runs the schedule yet" in err
    assert main(["policy", "check", "--show", str(shipped)]) == 0
    shown = capsys.readouterr().out
    assert shown.splitlines()[0] == f"# policy {shipped} is valid."
    assert "[hosts.vms]" in shown


def test_json_has_version_summary_and_coded_warnings(shipped: Path, capsys) -> None:
    assert main(["--json", "policy", "check", str(shipped)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert check(data) == []
    assert data["version"] == 1 and data["valid"] is True and "policy" not in data
    assert data["summary"]["clusters"] == 3 and data["summary"]["offsite"] is True
    assert data["summary"]["warnings"] == len(data["warnings"])
    pending = {w["key"] for w in data["warnings"] if w["code"] == "not-implemented"}
    assert pending == {
        "schedule",
        "retention",
        "filesets",
        "alerts.timeout_seconds",
        "offsite.object_lock_days",
        "clusters.signalcartel.extensions",
    }
    assert data["summary"]["not_implemented"] == len(pending)
    assert all(set(w) == {"code", "key", "message"} and w["message"].startswith(w["key"]) for w in data["warnings"])


NOT_IMPLEMENTED_EDITS = {
    "schedule": '\n[schedule]\ntimezone = "UTC"\n',
    "retention": "\n[retention]\nrecovery_window_days = 3\n",
    "filesets": '\n[filesets.cfg]\nhost = "vms"\npaths = ["/etc/x"]\n',
    "alerts.command": '\n[alerts]\ncommand = ["/usr/bin/true"]\n',
    "alerts.timeout_seconds": "\n[alerts]\ntimeout_seconds = 5\n",
    "offsite.object_lock_days": '\n[offsite]\nurl = "s3://bucket/qf"\nobject_lock_days = 3\n',
    "clusters.*.extensions": None,  # an edit inside [clusters.main], below
}


@pytest.mark.parametrize("pattern", [k for e in NOT_IMPLEMENTED for k in e.keys])
def test_each_not_implemented_key_warns_and_only_when_set(minimal: str, pattern: str) -> None:
    """Every entry of NOT_IMPLEMENTED is exercised: setting its key warns; the minimal policy, which sets none of
    them, gets no such warning. A feature that implements a key removes its entry, and this test's case with it."""
    assert pattern in NOT_IMPLEMENTED_EDITS, f"add a policy edit that sets {pattern}"
    assert not [n for n in parse_policy(minimal, "t").notices if n.code == "not-implemented"]
    edit = NOT_IMPLEMENTED_EDITS[pattern]
    text = (
        minimal + edit
        if edit
        else minimal.replace('databases = ["trading"]', 'databases = ["trading"]\nextensions = ["x"]')
    )
    key = pattern.replace("*", "main")
    notices = [n for n in parse_policy(text, "t").notices if n.code == "not-implemented"]
    assert [n.key for n in notices] == [key]
