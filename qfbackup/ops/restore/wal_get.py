"""``wal-get``: PostgreSQL's restore_command. Serve a WAL file from the restore's spool, else the repository.

Exit codes follow what PostgreSQL expects: 0 = the file is at DEST; 1 = no such file (recovery ends there,
as at the end of any archive); 126 = something is wrong (repository unreadable, data corrupt), which makes
PostgreSQL abort recovery instead of silently stopping early. When it has to go to the repository, it also
fetches the next few segments into the spool in parallel, so replay is not bound by fetch latency.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from qfbackup.catalog.wal import WalCatalog
from qfbackup.common.atomic import write_atomic
from qfbackup.errors import QfError
from qfbackup.pg import wal

FOUND, MISSING, FATAL = 0, 1, 126


def _say(message: str) -> None:
    print(f"qfbackup wal-get: {message}", file=sys.stderr)  # lands in the PostgreSQL server log


def wal_get(name: str, dest: Path, *, cluster: str, spool: Path | None, open_repo, prefetch: int = 8) -> int:
    if spool is not None and (spool / name).exists():
        with open(spool / name, "rb") as f:
            write_atomic(dest, f, mode=0o600)
        return FOUND
    try:
        repo = open_repo()
        cat = WalCatalog.load(repo, cluster)
    except QfError as e:
        if spool is not None:  # the planned WAL is all in the spool: this is where recovery was meant to end
            _say(f"{name} is not in the spool and the repository is not readable here ({e.message})")
            return MISSING
        _say(f"cannot read the repository: {e.message}")
        return FATAL
    except Exception as e:  # anything unforeseen must abort recovery, never look like "end of WAL" (exit 1)
        _say(f"cannot read the repository: {type(e).__name__}: {e}")
        return FATAL
    stored = cat.files.get(name)
    if stored is None:
        return MISSING
    try:
        write_atomic(dest, repo.read_stream(stored.ref), mode=0o600)
    except Exception as e:
        _say(f"{name}: {getattr(e, 'message', None) or f'{type(e).__name__}: {e}'}")
        return FATAL
    if spool is not None and prefetch > 0:
        try:
            _prefetch(repo, cat, name, spool, prefetch)
        except Exception as e:  # a bad later segment is reported when (if) replay asks for it, not now
            _say(f"prefetch after {name} stopped: {getattr(e, 'message', None) or e}")
    return FOUND


def _prefetch(repo, cat: WalCatalog, name: str, spool: Path, count: int) -> None:
    later = [n for n in cat.segments() if wal.wal_sort_key(n) > wal.wal_sort_key(name)][:count]
    todo = [n for n in later if not (spool / n).exists()]
    with ThreadPoolExecutor(4, thread_name_prefix="qfbackup-prefetch") as pool:
        list(pool.map(lambda n: write_atomic(spool / n, repo.read_stream(cat.files[n].ref), mode=0o600), todo))
