"""Turn a Policy into plain data that is safe to print, log or hand to ``--json``.

The policy holds no secret values by construction (the loader refuses them), so this is a second line of defence:
a value under a secret-sounding key, or a URL carrying credentials or a query string (webhook tokens live there),
is replaced by ``<redacted>``. File paths are shown, because an operator debugging "permission denied" needs them;
file contents are never read.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qfbackup.policy.expect import Expectation

REDACTED = "<redacted>"
SECRET_KEY_RE = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api_?key|access_?key|private_?key|credential|auth", re.IGNORECASE
)
"""Key names that suggest a secret value. Keys naming a file or env var (``*_file``, ``*_env``) are exempt."""


def is_secret_key(key: str) -> bool:
    """True for key names that would hold a secret value inline (``password``, ``secret_key``...)."""
    lowered = key.lower()
    if lowered.endswith(("_file", "_env", "_dir")) or lowered == "secret":
        return False
    return bool(SECRET_KEY_RE.search(lowered))


def url_has_credentials(value: str) -> bool:
    """A URL with ``user:password@`` in it, e.g. ``postgresql://trading_user:secure_pass@db...``."""
    return bool(re.search(r"^[a-z][a-z0-9+.-]*://[^/@\s]*:[^/@\s]*@", value, re.IGNORECASE))


def redact(policy: Any) -> dict[str, Any]:
    """The plain-data form of a Policy (or any of its parts) with secret-ish values replaced."""
    data = to_plain(policy)
    return _scrub(data)


def to_plain(value: Any) -> Any:
    """Dataclasses, paths, tuples and mappings to dicts, strings and lists (JSON-able, TOML-like)."""
    if isinstance(value, Expectation):
        return value.text
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def _scrub(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, key) for v in value]
    if isinstance(value, str):
        if key and is_secret_key(key):
            return REDACTED
        return _scrub_url(value)
    return value


def _scrub_url(value: str) -> str:
    """Strip userinfo and query from URLs; leave everything else untouched."""
    if "://" not in value:
        return value
    try:
        parts = urlsplit(value)
    except ValueError:
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    query = REDACTED if parts.query else ""
    if netloc == parts.netloc and not parts.query:
        return value
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
