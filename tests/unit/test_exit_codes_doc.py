"""docs/exit-codes.md must say exactly what qfbackup.errors.EXIT_CODES and the exception classes do."""

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
def documented(tables) -> dict[int, str]:
    rows = tables[("code", "meaning")]
    assert all(len(r) == 2 for r in rows), rows
    codes = [int(code) for code, _ in rows]
    assert len(codes) == len(set(codes)), "a code is listed twice"
    assert codes == sorted(codes), "codes should be listed in ascending order"
    return {int(code): meaning for code, meaning in rows}


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub, *_all_subclasses(sub)}
    return out


def _import_package() -> None:
    """Import every qfbackup module, so subclasses defined outside errors.py are seen too."""
    for mod in pkgutil.walk_packages(qfbackup.__path__, "qfbackup."):
        if mod.name.endswith("__main__"):
            continue  # runs the CLI on import
        importlib.import_module(mod.name)


def test_table_equals_exit_codes(documented):
    assert documented == errors.EXIT_CODES


def test_every_error_class_has_a_documented_code(documented):
    _import_package()
    classes = {errors.QfError, *_all_subclasses(errors.QfError)}
    undocumented = {f"{c.__module__}.{c.__qualname__}": c.exit_code for c in classes if c.exit_code not in documented}
    assert not undocumented, f"exit codes missing from docs/exit-codes.md: {undocumented}"


def test_exception_table_matches_errors_module(tables):
    rows = tables[("exception", "code")]
    listed = {name.strip("`"): int(code) for name, code in rows}
    defined = {
        name: obj.exit_code
        for name, obj in vars(errors).items()
        if isinstance(obj, type) and issubclass(obj, errors.QfError) and obj.__module__ == errors.__name__
    }
    assert listed == defined
