"""The entry point's error reporting: exit codes, the text, the JSON object under --json, and -v as click reads it."""

from __future__ import annotations

import json
import logging

import pytest

from qfbackup import errors
from qfbackup.cli import context
from qfbackup.cli.context import CliContext
from qfbackup.cli.main import main
from qfbackup.output.contract import check
from tests.unit.test_exit_codes_doc import DOC, _tables


@pytest.fixture(autouse=True)
def no_host_config(tmp_path, monkeypatch):
    """No policy or credential of the machine running the tests leaks in; the root logger is restored after."""
    monkeypatch.setattr(context, "DEFAULT_POLICY", str(tmp_path / "no-policy.toml"))
    for name in ("QFBACKUP_POLICY", "QFBACKUP_REPO", "QFBACKUP_KEY_FILE", "QFBACKUP_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("QFBACKUP_PASSPHRASE", "correct horse")
    root = logging.getLogger()
    saved = root.level, root.handlers[:]
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]


@pytest.fixture
def missing(tmp_path) -> list[str]:
    """Global options naming a repository that does not exist."""
    return ["--repo", str(tmp_path / "nothing-here")]


def _raising(exc: BaseException):
    def open_repo(self, *, cache: bool = True):
        raise exc

    return open_repo


def _json_error(err: str) -> dict:
    """The JSON object: the last line of stderr, only that line parses as one, and it is what docs/json.md says."""
    lines = err.rstrip("\n").splitlines()
    doc = json.loads(lines[-1])
    assert not any(line.startswith("{") for line in lines[:-1]), err
    assert list(doc) == ["version", "command", "error"]
    assert check(doc, stream="stderr") == []
    return doc["error"]


def test_missing_repository_under_json(missing, capsys):
    assert main(["--json", *missing, "snapshot", "list"]) == errors.RepositoryNotFound.exit_code == 6
    out, err = capsys.readouterr()
    assert out == ""  # stdout is for results only
    assert err.startswith(f"qfbackup: error: No repository at {missing[1]}\n  fix: ")
    assert _json_error(err) == {
        "code": 6,
        "kind": "RepositoryNotFound",
        "severity": "error",
        "message": f"No repository at {missing[1]}",
        "fix": "check the path, or create one with `qfbackup repo init`",
    }


def test_json_object_has_the_documented_fields(missing, capsys):
    main(["--json", *missing, "snapshot", "list"])
    documented = [row[0].strip("`") for row in _tables(DOC.read_text(encoding="utf-8"))[("field", "type", "meaning")]]
    assert list(_json_error(capsys.readouterr().err)) == documented


def test_no_json_object_without_json(missing, capsys):
    assert main([*missing, "snapshot", "list"]) == 6
    err = capsys.readouterr().err
    assert "{" not in err and err.count("\n") == 2  # the sentence and its fix


def test_usage_error_under_json(capsys):
    assert main(["--json", "restore", "--no-such-option"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "No such option '--no-such-option'" in err and "Usage: qfbackup restore" in err  # click's own text
    e = _json_error(err)
    assert (e["code"], e["kind"], e["severity"]) == (2, "UsageError", "error")
    assert "--no-such-option" in e["message"] and e["fix"] == "see `qfbackup restore --help`"


def test_hint_less_error_has_null_fix(monkeypatch, capsys):
    monkeypatch.setattr(CliContext, "open_repo", _raising(errors.StorageError("disk on fire")))
    assert main(["--json", "snapshot", "list"]) == 8
    assert _json_error(capsys.readouterr().err)["fix"] is None


def test_warning_is_reported_as_one(monkeypatch, capsys):
    monkeypatch.setattr(CliContext, "open_repo", _raising(errors.WalGapOpen("gap after 0000000100000000000000A1")))
    assert main(["--json", "snapshot", "list"]) == 20
    err = capsys.readouterr().err
    assert err.startswith("qfbackup: warning: gap after 0000000100000000000000A1\n")
    e = _json_error(err)
    assert (e["code"], e["kind"], e["severity"]) == (20, "WalGapOpen", "warning")


@pytest.mark.parametrize("flags", [["-v"], ["-qv"], ["-vq"], ["--verbose"], ["-q", "-v"]])
def test_v_in_any_form_shows_the_traceback_and_wins_over_q(flags, missing, capsys):
    assert main([*flags, *missing, "snapshot", "list"]) == 6
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RepositoryNotFound" in err
    assert err.rstrip().endswith("create one with `qfbackup repo init`")  # the sentence still comes last
    assert logging.getLogger().level == logging.INFO  # -qv logs like -v, not like -q


def test_q_alone_shows_no_traceback(missing, capsys):
    assert main(["-q", *missing, "snapshot", "list"]) == 6
    assert "Traceback" not in capsys.readouterr().err
    assert logging.getLogger().level == logging.ERROR


def test_a_bug_is_an_internal_error_not_a_failure(monkeypatch, capsys):
    monkeypatch.setattr(CliContext, "open_repo", _raising(TypeError("unsupported operand")))
    assert main(["--json", "snapshot", "list"]) == errors.EXIT_INTERNAL == 70
    err = capsys.readouterr().err
    assert err.startswith("qfbackup: internal error: TypeError: unsupported operand\n  fix: run with -v")
    assert "Traceback" not in err
    assert _json_error(err)["kind"] == "InternalError"


def test_a_bug_with_qv_prints_its_traceback_and_still_exits_70(monkeypatch, capsys):
    monkeypatch.setattr(CliContext, "open_repo", _raising(AttributeError("no attribute 'enc_key'")))
    assert main(["-qv", "snapshot", "list"]) == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "AttributeError: no attribute 'enc_key'" in err


def test_interrupt_exits_130(monkeypatch, capsys):
    monkeypatch.setattr(CliContext, "open_repo", _raising(KeyboardInterrupt()))
    assert main(["--json", "snapshot", "list"]) == 130
    err = capsys.readouterr().err
    # click ends the interrupted line first (a newline), as on a terminal
    assert err.startswith("\nqfbackup: interrupted; the repository stays consistent")
    assert _json_error(err) | {"message": None} == {
        "code": 130,
        "kind": "Interrupted",
        "severity": "error",
        "message": None,
        "fix": None,
    }


def test_help_and_version_exit_0_without_error_object(capsys):
    assert main(["--json", "--help"]) == 0
    assert main(["--json", "--version"]) == 0
    assert '{"error"' not in capsys.readouterr().err


def test_qferror_keeps_its_template_and_hint():
    e = errors.HistoryMissing(3, "00000003.history", "its path is unknown", hint="archive it")
    assert (e.message, e.hint, e.exit_code) == (
        "Timeline 3 has no history file 00000003.history in the repository: its path is unknown",
        "archive it",
        15,
    )
