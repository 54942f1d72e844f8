"""A typed walk over parsed TOML that collects every problem with its key path, instead of stopping at the first.

Operators fix a policy in one edit when they see all its problems at once, each as "key: what is wrong" plus the
fix. ``Table`` hands out typed values and remembers which keys it handed out, so ``finish()`` can report the keys
nobody asked for: unknown keys (with "did you mean"), or secret values written inline, which a policy must never hold.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from croniter import croniter

from qfbackup.policy.redact import is_secret_key, url_has_credentials

T = TypeVar("T")

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
"""Host, cluster, file set, check and tag names: they end up in remote commands, file names and object names."""
NAME_RULE = "lowercase letters, digits, '-' and '_', starting with a letter, at most 63 characters"
PG_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
"""Database and role names: plain PostgreSQL identifiers, safe on any command line without quoting games."""
PG_IDENT_RULE = "letters, digits and '_', not starting with a digit, at most 63 characters"
SSH_USER_RE = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")
SSH_USER_RULE = "a login name: lowercase letters, digits, '_', '.', '-'"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class _Missing:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Missing()
"""Default marker for keys that must be present."""


@dataclass(frozen=True)
class Problem:
    key: str
    what: str
    fix: str


@dataclass
class Problems:
    """Everything wrong with one policy file, in the order found."""

    items: list[Problem] = field(default_factory=list)

    def add(self, key: str, what: str, fix: str) -> None:
        self.items.append(Problem(key, what, fix))

    def __bool__(self) -> bool:
        return bool(self.items)


def describe(value: Any) -> str:
    """How a TOML value reads in a message: type and (short) value, so "got text '5432'" explains itself."""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


class Table:
    """One TOML table at a key path (``clusters.signalcartel``), read through typed getters."""

    def __init__(self, data: dict[str, Any], path: str, problems: Problems, secret_fix: str = "") -> None:
        self.data = data
        self.path = path
        self.problems = problems
        self.secret_fix = secret_fix
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return name in self.data

    def problem(self, name: str, what: str, fix: str) -> None:
        self.problems.add(self.key(name), what, fix)

    def _get(self, name: str, default: Any, example: str) -> Any:
        self._seen.add(name)
        if name in self.data:
            return self.data[name]
        if default is REQUIRED:
            where = f"[{self.path}]" if self.path else "the top level"
            self.problem(name, "is missing.", f"add `{name} = {example}` to {where}")
        return default

    def value(self, name: str, default: Any, check: Callable[[Any], T | None], expected: str, example: str) -> Any:
        """Generic getter: ``check`` returns the converted value or None when the raw value is not acceptable."""
        raw = self._get(name, default, example)
        if raw is default:
            return None if raw is REQUIRED else raw
        before = len(self.problems.items)
        converted = check(raw)
        if converted is None and len(self.problems.items) == before:
            self.problem(name, f"expected {expected}, got {describe(raw)}.", f"write it as `{name} = {example}`")
        return converted

    def str(self, name: str, default: Any = REQUIRED, *, example: str = '"..."') -> Any:
        def check(v: Any) -> str | None:
            if not isinstance(v, str):
                return None
            if url_has_credentials(v):
                self.problem(
                    name,
                    "holds a URL with a password in it; a policy never holds secret values.",
                    "remove the password from the URL and give credentials through a 0600 file",
                )
                return None
            if _CONTROL_RE.search(v):
                return None
            return v

        return self.value(name, default, check, "text without control characters", example)

    def choice(self, name: str, choices: tuple[str, ...], default: Any = REQUIRED) -> Any:
        options = " or ".join(f'"{c}"' for c in choices)
        return self.value(name, default, lambda v: v if v in choices else None, f"one of {options}", f'"{choices[0]}"')

    def int(self, name: str, default: Any = REQUIRED, *, low: int = 0, high: int = 2**31, example: str = "") -> Any:
        def check(v: Any) -> int | None:
            return v if isinstance(v, int) and not isinstance(v, bool) and low <= v <= high else None

        return self.value(name, default, check, f"a whole number from {low} to {high}", example or str(max(low, 1)))

    def float(self, name: str, default: Any = REQUIRED, *, low: float = 0.0, high: float = 1e9) -> Any:
        def check(v: Any) -> float | None:
            ok = isinstance(v, int | float) and not isinstance(v, bool) and low <= v <= high
            return float(v) if ok else None

        return self.value(name, default, check, f"a number from {low:g} to {high:g}", "2.0")

    def bool(self, name: str, default: Any = REQUIRED) -> Any:
        return self.value(
            name, default, lambda v: v if isinstance(v, bool) else None, "true or false (no quotes)", "true"
        )

    def matching(self, name: str, pattern: re.Pattern[str], rule: str, default: Any = REQUIRED) -> Any:
        """Text that must match ``pattern`` (names that end up in remote commands)."""
        value = self.str(name, default)
        if isinstance(value, str) and value is not default and not pattern.match(value):
            self.problem(
                name, f"{value!r} is not allowed here: use {rule}.", "rename it (and what it refers to) accordingly"
            )
            return None
        return value

    def local_path(self, name: str, default: Any = REQUIRED) -> Any:
        """An absolute path on the backup VM."""
        value = self._path(name, default)
        return Path(value) if isinstance(value, str) else value

    def remote_path(self, name: str, default: Any = REQUIRED) -> Any:
        """An absolute path on a remote host."""
        value = self._path(name, default)
        return PurePosixPath(value) if isinstance(value, str) else value

    def _path(self, name: str, default: Any) -> Any:
        value = self.str(name, default, example='"/absolute/path"')
        if isinstance(value, str) and value is not default and not value.startswith("/"):
            self.problem(name, f"{value!r} is not an absolute path.", f'write the full path, e.g. "/{value}"')
            return None
        return value

    def cron(self, name: str, default: Any = None) -> Any:
        """A 5-field cron expression (or an ``@daily``-style shortcut), checked with croniter."""
        expr = self.str(name, default, example='"0 2 * * *"')
        if not isinstance(expr, str) or expr is default:
            return expr
        if not (expr.startswith("@") or len(expr.split()) == 5) or not croniter.is_valid(expr):
            self.problem(
                name,
                f"{expr!r} is not a valid 5-field cron expression.",
                'write minute hour day-of-month month day-of-week, e.g. "*/5 * * * *" or "0 2 * * *"',
            )
            return None
        return expr

    def str_list(
        self, name: str, default: Any = (), *, item: Callable[[str], str | None] | None = None, rule: str = ""
    ) -> Any:
        """A list of strings; ``item`` validates each element and returns an error text or None."""
        raw = self._get(name, default, '["..."]')
        if raw is default:
            return None if raw is REQUIRED else tuple(raw)
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            self.problem(name, f"expected a list of text, got {describe(raw)}.", f'write it as `{name} = ["..."]`')
            return None
        for i, v in enumerate(raw, 1):
            error = item(v) if item else (("contains control characters") if _CONTROL_RE.search(v) else None)
            if error:
                self.problems.add(f"{self.key(name)}[{i}]", f"{v!r} {error}.", rule or "correct that entry")
        if len(set(raw)) != len(raw):
            self.problem(name, "lists the same entry twice.", "remove the duplicate")
        return tuple(raw)

    def table(self, name: str, *, required: bool = False, secret_fix: str = "") -> Table | None:
        """A sub-table (``[repository]``); None when absent and optional, or when it is not a table."""
        self._seen.add(name)
        raw = self.data.get(name)
        if raw is None:
            if required:
                self.problem(name, "is missing.", f"add a [{self.key(name)}] section (see policies/quantum-forge.toml)")
            return None
        if not isinstance(raw, dict):
            self.problem(
                name,
                f"expected a [{self.key(name)}] table, got {describe(raw)}.",
                f"write it as a section: [{self.key(name)}]",
            )
            return None
        return Table(raw, self.key(name), self.problems, secret_fix)

    def named_tables(self, name: str, *, secret_fix: str = "") -> Iterator[tuple[str, Table]]:
        """``[hosts.NAME]``-style tables: yields (name, table) for each validly named entry."""
        sub = self.table(name)
        if sub is None:
            return
        sub.finish_all_used()
        for entry, raw in sub.data.items():
            key = sub.key(entry)
            if not NAME_RE.match(entry):
                self.problems.add(key, f"{entry!r} is not a valid name: use {NAME_RULE}.", "rename the section")
                continue
            if not isinstance(raw, dict):
                self.problems.add(key, f"expected a [{key}] table, got {describe(raw)}.", f"write it as [{key}]")
                continue
            yield entry, Table(raw, key, self.problems, secret_fix)

    def array_of_tables(self, name: str) -> Iterator[tuple[int, Table]]:
        """``[[drill.checks]]``: yields (1-based index, table)."""
        raw = self._get(name, [], "")
        if not isinstance(raw, list) or not all(isinstance(v, dict) for v in raw):
            self.problem(
                name,
                f"expected an array of tables, got {describe(raw)}.",
                f"write each entry as a [[{self.key(name)}]] section",
            )
            return
        for i, item in enumerate(raw, 1):
            yield i, Table(item, f"{self.key(name)}[{i}]", self.problems, self.secret_fix)

    def finish_all_used(self) -> None:
        """Mark every key as used: the caller validates the entries itself (tables keyed by name)."""
        self._seen.update(self.data)

    def finish(self) -> None:
        """Report keys nobody read: secret values written inline first, then unknown keys with a suggestion."""
        known = sorted(self._seen)
        for name in self.data:
            if name in self._seen:
                continue
            if is_secret_key(name):
                fix = self.secret_fix or "put the secret in a file readable only by root (chmod 600) and point to it"
                self.problem(
                    name, "looks like a secret value written into the policy; policies never hold secrets.", fix
                )
                continue
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f"did you mean `{close[0]}`?" if close else f"remove it; keys allowed here: {', '.join(known)}"
            where = f"[{self.path}]" if self.path else "the top level"
            self.problem(name, f"is not a known key in {where}.", hint)


def _name_item(value: str) -> str | None:
    return None if NAME_RE.match(value) else f"is not a valid name: use {NAME_RULE}"


def _pg_ident_item(value: str) -> str | None:
    return None if PG_IDENT_RE.match(value) else f"is not a plain PostgreSQL identifier: use {PG_IDENT_RULE}"


def _abs_item(value: str) -> str | None:
    if not value.startswith("/"):
        return "is not an absolute path"
    if _CONTROL_RE.search(value):
        return "contains control characters"
    return None


def _glob_item(value: str) -> str | None:
    if not value or _CONTROL_RE.search(value):
        return "is empty or contains control characters"
    return None


LIST_ITEMS: dict[str, Callable[[str], str | None] | None] = {
    "": None,
    "name": _name_item,
    "pg_ident": _pg_ident_item,
    "abs_path": _abs_item,
    "glob": _glob_item,
}
"""Validators for list entries by name (``KeySpec.item``): each returns why an entry is wrong, or None."""


def valid_address(value: str) -> str | None:
    """None when ``value`` is a host name or IP address, else why not."""
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    return None if HOSTNAME_RE.match(value) else "is not a host name or IP address"
