"""The shapes in which library code reports progress, so every job takes the same callbacks and the CLI binds
one terminal display (qfbackup/output/progress.py) to them.

``Progress`` advances a display by a number of bytes. A job that learns its total only as it works (the archive
listing, the server's database sizes) takes a ``ProgressFactory`` instead and opens the display once it knows.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

Progress = Callable[[int], None]

#: Opens a progress display for a total (bytes; None when it cannot be estimated), yielding its ``Progress``.
ProgressFactory = Callable[[int | None], AbstractContextManager[Progress]]


def no_progress(total: int | None) -> AbstractContextManager[Progress]:
    """The ProgressFactory that shows nothing (library callers and tests)."""
    return nullcontext(lambda nbytes: None)
