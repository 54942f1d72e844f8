"""docs/cli.md is generated from the click commands, and each of its sections is what ``--help`` really prints."""

from __future__ import annotations

import re
import signal

from qfbackup.cli.main import main as entry_point
from qfbackup.cli.reference import DEFAULT_DOC, main, render_doc


def _sections(text: str) -> dict[str, str]:
    """``qfbackup wal pull`` -> the help text in its section."""
    return dict(re.findall(r"^### (qfbackup[^\n]*)\n\n```text\n(.*?)\n```$", text, flags=re.S | re.M))


def test_docs_cli_md_is_up_to_date():
    assert DEFAULT_DOC.read_text() == render_doc(), "docs/cli.md is out of date: run python -m qfbackup.cli.reference"


def test_every_section_is_what_help_prints(capsys, monkeypatch):
    """Through the entry point itself (``main()``, as the installed ``qfbackup`` runs it) on a wide terminal."""
    sections = _sections(render_doc())
    assert {"qfbackup", "qfbackup wal pull", "qfbackup restore dump", "qfbackup drill image build"} <= set(sections)
    monkeypatch.setenv("COLUMNS", "120")  # any terminal 80 columns or wider wraps --help at 78, as the reference
    sigterm = signal.getsignal(signal.SIGTERM)  # main() installs its own handler
    try:
        for path, text in sections.items():
            assert entry_point([*path.split()[1:], "--help"]) == 0, path
            out = capsys.readouterr()
            assert out.out == text + "\n" and out.err == "", f"the reference differs from `{path} --help`"
    finally:
        signal.signal(signal.SIGTERM, sigterm)


def test_check_reports_a_stale_file_and_leaves_it(tmp_path):
    stale = tmp_path / "cli.md"
    stale.write_text("# an old reference\n")
    assert main(["--check", str(stale)]) == 1
    assert stale.read_text() == "# an old reference\n"
    assert main([str(stale)]) == 0 and stale.read_text() == render_doc()
    assert main(["--check", str(stale)]) == 0
