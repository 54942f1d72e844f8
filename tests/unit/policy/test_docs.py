"""docs/policy.md's key tables are generated from the key declarations: the committed file must be up to date."""

from __future__ import annotations

from pathlib import Path

import pytest

from qfbackup.policy.docs import TABLES, key_table, main, render_doc

DOCS = Path(__file__).resolve().parents[3] / "docs" / "policy.md"


def test_committed_docs_match_the_declarations() -> None:
    text = DOCS.read_text()
    assert render_doc(text) == text, "docs/policy.md is out of date: run `python -m qfbackup.policy.docs`"


def test_check_mode_reports_a_stale_table(tmp_path: Path) -> None:
    stale = tmp_path / "policy.md"
    stale.write_text(DOCS.read_text().replace("| `port` | 1-65535 | `22` |", "| `port` | 1-65535 | `2222` |"))
    assert main(["--check", str(stale)]) == 1
    assert main([str(stale)]) == 0
    assert stale.read_text() == DOCS.read_text()


def test_table_shows_declared_type_default_and_range() -> None:
    hosts = key_table(TABLES["hosts"])
    assert "| `connect_timeout` | seconds, 1-600 | `10` |" in hosts
    assert "| `user` | login name | required |" in hosts
    assert '| `role` | `"primary"` or `"standby"` | `"primary"` |' in key_table(TABLES["clusters"])


def test_unknown_or_missing_marker_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown key table"):
        render_doc(DOCS.read_text() + "<!-- keys nope -->\n<!-- end keys -->\n")
    with pytest.raises(ValueError, match="no <!-- keys NAME --> marker for: alerts"):
        render_doc(DOCS.read_text().replace("<!-- keys alerts -->", "<!-- gone -->"))
