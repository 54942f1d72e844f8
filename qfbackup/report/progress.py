"""Terminal progress (bytes, rate, ETA) on stderr, only when a human is watching.

Library code takes a plain ``progress(nbytes)`` callback; this module supplies one backed by rich when stderr is
a TTY, and a no-op otherwise, so cron output stays empty and --json stdout stays clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


@contextmanager
def progress_bar(enabled: bool, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn()]
    columns.append(TimeRemainingColumn() if total else TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
