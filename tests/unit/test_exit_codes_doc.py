"""docs/exit-codes.md must say exactly what qfbackup.errors.EXIT_CODES and the exception classes do, and every
outcome must have a code of its own (cron tells "a gap opened" from "qfbackup crashed" by the code alone)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import qfbackup
from qfbackup import errors

DOC = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"


def _tables(text: str) -> dict[tuple[str, ...], list[list[str]]]:
    """Every Markdown table in ``text``, keyed by its header cells, as rows of stripped cell strings."""
    tables: dict[tuple[str, ...], list[list[str]]] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line.startswith("|") and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", nxt):
            header = tuple(c.strip() for c in line.strip("|").split("|"))
            rows = []
            i += 2
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            assert header not in tables, f"two tables with the header {header}"
            tables[header] = rows
            continue
        i += 1
    return tables


@pytest.fixture(scope="module")
def tables() -> dict[tuple[str, ...], list[list[str]]]:
    return _tables(DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def rows(tables) -> list[list[str]]:
    rows = tables[("code", "kind", "meaning")]
    assert all(len(r) == 3 for r in rows), rows
    return rows


@pytest.fixture(scope="module")
def documented(rows) -> dict[int, str]:
    return {int(code): meaning for code, _, meaning in rows}


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_all_subclasses(sub)}
    return out


@pytest.fixture(scope="module")
def every_error_class() -> set[type[errors.QfError]]:
    """Every QfError class of the package: every module imported, so classes defined outside errors.py count too."""
    for mod in pkgutil.walk_packages(qfbackup.__path__, "qfbackup."):
        if mod.name.endswith("__main__"):
            continue  # runs the CLI on import
        importlib.import_module(mod.name)
    return {errors.QfError, *_all_subclasses(errors.QfError)}


def test_table_equals_exit_codes(documented):
    assert documented == errors.EXIT_CODES


def test_no_two_listed_outcomes_share_a_code(rows):
    codes = [int(code) for code, _, _ in rows]
    assert len(codes) == len(set(codes)), f"a code is listed twice: {sorted(c for c in codes if codes.count(c) > 1)}"
    assert codes == sorted(codes), "codes should be listed in ascending order"
    kinds = [kind.strip("`") for _, kind, _ in rows if kind]
    assert len(kinds) == len(set(kinds)), "an outcome is listed twice"
    outcome_codes = [c.exit_code for c in errors.OUTCOMES]
    assert len(outcome_codes) == len(set(outcome_codes)), f"two outcomes share a code: {outcome_codes}"


def test_kind_column_names_each_codes_class(rows):
    by_code = {c.exit_code: c.__name__ for c in errors.OUTCOMES}
    assert {int(code): kind.strip("`") for code, kind, _ in rows if int(code)} == by_code
    assert [r[1] for r in rows if int(r[0]) == errors.EXIT_OK] == [""]


def test_every_class_declaring_a_code_is_a_listed_outcome(every_error_class):
    """A class may set ``exit_code`` only to become an outcome of its own, listed once; the rest inherit theirs."""
    declaring = {c for c in every_error_class if "exit_code" in vars(c)}
    assert declaring == set(errors.OUTCOMES)
    assert all("meaning" in vars(c) for c in declaring)


def test_every_error_class_has_a_documented_code(every_error_class, documented):
    undocumented = {
        f"{c.__module__}.{c.__qualname__}": c.exit_code for c in every_error_class if c.exit_code not in documented
    }
    assert not undocumented, f"exit codes missing from docs/exit-codes.md: {undocumented}"


def test_every_error_class_is_defined_in_errors_module(every_error_class):
    """One hierarchy in one file: raising code imports its exceptions from qfbackup.errors."""
    elsewhere = sorted(f"{c.__module__}.{c.__qualname__}" for c in every_error_class if c.__module__ != errors.__name__)
    assert not elsewhere, f"define these in qfbackup/errors.py: {elsewhere}"


def test_warnings_are_codes_20_to_29():
    for c in errors.OUTCOMES:
        assert issubclass(c, errors.QfWarning) == (20 <= c.exit_code <= 29), c
        assert c.severity == ("warning" if issubclass(c, errors.QfWarning) else "error")
        assert c.meaning.startswith("warning: ") == issubclass(c, errors.QfWarning), c


def test_exception_table_matches_errors_module(tables):
    rows = tables[("exception", "code")]
    listed = {name.strip("`"): int(code) for name, code in rows}
    assert len(listed) == len(rows), "an exception is listed twice"
    defined = {
        name: obj.exit_code
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.QfError) and obj.__module__ == errors.__name__
    }
    assert listed == defined
