"""The import rules of docs/architecture.md, enforced: a layer may import only the layers listed for it.

Every ``import``/``from ... import`` in the package is read with ``ast`` (including those inside functions), so a
late import cannot hide a dependency that the module map says must not exist.
"""

from __future__ import annotations

import ast
from pathlib import Path

import qfbackup

PACKAGE = Path(qfbackup.__file__).parent

#: layer -> the layers it may import (itself is always allowed). Mirrors the table in docs/architecture.md.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "common": {"errors"},
    "repo": {"errors", "common"},
    "pg": {"errors", "common"},
    "remote": {"errors", "common"},
    "policy": {"errors", "common", "pg"},
    "catalog": {"errors", "common", "repo", "pg"},
    "ops": {"errors", "common", "repo", "pg", "remote", "policy", "catalog"},
    "drill": {"errors", "common", "repo", "pg", "policy", "catalog", "ops"},
    "output": {"errors", "common"},
    "sandbox": {"errors", "common", "pg"},
    "cli": {"errors", "common", "repo", "pg", "remote", "policy", "catalog", "ops", "drill", "output"},
    "__main__": {"cli"},
    "__init__": set(),
}

#: ops/ jobs import ops' shared modules and themselves, never another job: a job needing another's code means
#: that code belongs one layer down (catalog/, pg/, repo/).
OPS_SHARED = {"access", "runlock"}


def _layer(path: Path) -> tuple[str, str | None]:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    sub = parts[1] if parts[0] == "ops" and len(parts) > 2 else None
    return parts[0], sub


def _imports(path: Path) -> list[tuple[int, list[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qfbackup":
            names = node.module.split(".")[1:]
            found.append((node.lineno, names or [node.names[0].name]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1:]) for a in node.names if a.name.startswith("qfbackup.")]
    return found


def test_every_layer_imports_only_what_the_architecture_allows():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50, modules  # the walk really sees the package
    broken = []
    for path in modules:
        layer, sub = _layer(path)
        assert layer in ALLOWED, f"{path}: layer {layer!r} is not in the architecture table; add it there and here"
        for line, target in _imports(path):
            sub_layer = target[0]
            where = f"{path.relative_to(PACKAGE)}:{line} imports qfbackup.{'.'.join(target)}"
            if target[0] != layer and target[0] not in ALLOWED[layer]:
                broken.append(where)
            elif layer == sub_layer == "ops" and sub and len(target) > 1 and target[1] not in OPS_SHARED | {sub}:
                broken.append(where + " (another ops job)")
    assert not broken, "\n".join(broken)


def test_the_rules_catch_a_forbidden_import(tmp_path):
    """The checker itself can fail: a repo/ module importing policy/ is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from qfbackup.policy.schema import Policy\n")
    targets = [t[0] for _, t in _imports(bad)]
    assert targets == ["policy"] and "policy" not in ALLOWED["repo"]
