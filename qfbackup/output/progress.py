"""Terminal progress (bytes, rate, ETA) on stderr, only when a human is watching.

Library code takes a plain ``progress(nbytes)`` callback; this module supplies one backed by rich when stderr is
a TTY, and a no-op otherwise, so cron output stays empty and --json stdout stays clean.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from qfbackup.output.humanize import duration, size


@contextmanager
def progress_bar(enabled: bool, description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    if not enabled:
        yield lambda n: None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), _Bytes(), _Speed()]
    columns.append(TimeRemainingColumn() if total else TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


class _Bytes(ProgressColumn):
    """``1.50 MiB/12.0 MiB`` (``?`` for an unknown total), in the units every size in text uses."""

    def render(self, task: Task) -> Text:
        total = size(int(task.total)) if task.total is not None else "?"
        return Text(f"{size(int(task.completed))}/{total}", style="progress.download")


class _Speed(ProgressColumn):
    """Bytes per second, in the same units."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{size(int(speed))}/s" if speed else "-", style="progress.data.speed")


class _KnownBar(BarColumn):
    """A bar only for a phase whose total is known; nothing (not rich's pulsing bar) for the others."""

    def render(self, task: Task) -> RenderableType:
        return super().render(task) if task.total is not None else Text("")


class _Elapsed(ProgressColumn):
    """How long the phase has run (or ran, once over), as every duration in text reads (humanize.duration)."""

    def render(self, task: Task) -> Text:
        return Text(duration(task.elapsed or 0.0), style="progress.elapsed")


@contextmanager
def phase_display(enabled: bool, console: Console | None = None) -> Iterator[Callable[..., Callable[[int], None]]]:
    """Phases of a long job (a drill's prepare, restore, replay...) on stderr as they happen: one line per phase
    with its name and elapsed time, and a bar with a percentage when the phase knows how many bytes it reads.
    Yields ``start(name, total=None)``, which ends the current phase (its time stops) and returns the byte
    callback of the new one. Nothing is drawn when not ``enabled``; the lines go away when the job ends, its
    result saying the rest."""
    if not enabled:
        yield lambda name, total=None: lambda nbytes: None
        return
    columns = (TextColumn("{task.description}"), _KnownBar(), TaskProgressColumn(), _Elapsed())
    with Progress(*columns, console=console or Console(stderr=True), transient=True) as display:
        running: list[TaskID] = []

        def start(name: str, total: int | None = None) -> Callable[[int], None]:
            if running:
                display.stop_task(running[-1])
            task = display.add_task(name, total=total)
            running.append(task)
            display.refresh()  # a short phase still shows
            return lambda nbytes: display.advance(task, nbytes)

        yield start
