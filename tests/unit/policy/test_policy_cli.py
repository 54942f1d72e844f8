"""``qfbackup policy check`` through the real entry point: exit codes, stdout/stderr discipline, --json."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

from qfbackup.cli.main import main


def test_check_shipped_policy(shipped: Path, capsys) -> None:
    assert main(["--policy", str(shipped), "policy", "check"]) == 0
    out, err = capsys.readouterr()
    assert "is valid" in out
    assert "[clusters.signalcartel]" in out
    tomllib.loads(out)  # the human rendering is TOML too
    assert "error" not in err


def test_check_takes_the_file_as_argument(shipped: Path, capsys) -> None:
    assert main(["policy", "check", str(shipped)]) == 0
    assert "[hosts.vms]" in capsys.readouterr().out


def test_check_reads_qfbackup_policy_env(shipped: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("QFBACKUP_POLICY", str(shipped))
    assert main(["policy", "check"]) == 0
    assert "[hosts.vms]" in capsys.readouterr().out


def test_json_output_is_only_json(shipped: Path, capsys) -> None:
    assert main(["--json", "--policy", str(shipped), "policy", "check"]) == 0
    out, _ = capsys.readouterr()
    data = json.loads(out)
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
