"""Reading a file that holds a secret (passphrase, key file, S3 credentials): it must be private to its owner.

A secret in a group- or world-readable file is as good as published on a shared backup VM, so such a file is
refused with the exact chmod that fixes it, rather than used.
"""

from __future__ import annotations

import stat
from pathlib import Path

from qfbackup.errors import UsageError


def read_secret_file(path: Path, what: str) -> str:
    try:
        st = path.stat()
        text = path.read_text()
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror}") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise UsageError(f"{what} {path} is readable by group or others", hint=f"chmod 600 {path}")
    return text
