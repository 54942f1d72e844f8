"""The drill's phases on a terminal (output/progress.phase_display), drawn into a rich Console that is told it
is a terminal; and nothing at all when progress is off (not a TTY, or -q)."""

from __future__ import annotations

import io
import re

from rich.console import Console

from qfbackup.output.progress import phase_display

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=100), out


def frames(out: io.StringIO) -> list[str]:
    """What the terminal showed, one drawn line per entry, escape sequences removed."""
    text = ESCAPES.sub("", out.getvalue()).replace("\r", "\n")
    return [ln.rstrip() for ln in text.splitlines() if ln.strip()]


def test_each_phase_shows_as_it_starts_with_its_elapsed_time_and_a_bar_where_the_total_is_known():
    console, out = terminal()
    with phase_display(True, console) as start:
        start("prepare")
        assert any(re.fullmatch(r"prepare\s+\d+\.\d s", ln) for ln in frames(out)), frames(out)
        advance = start("restore", 1000)
        advance(500)
        start("replay and checks")
        shown = frames(out)
    assert any(re.fullmatch(r"restore\s+━+\s+0% \d+\.\d s", ln) for ln in shown), shown  # drawn on entering it
    assert any(re.fullmatch(r"restore\s+[━╺]+\s+50% \d+\.\d s", ln) for ln in shown), shown
    # no bar or percentage for a phase without a total: its name and elapsed time alone
    assert any(re.fullmatch(r"replay and checks\s+\d+\.\d s", ln) for ln in shown), shown


def test_nothing_is_drawn_when_progress_is_off():
    console, out = terminal()
    with phase_display(False, console) as start:
        advance = start("restore", 1000)
        advance(1000)
        start("replay and checks")
    assert out.getvalue() == ""
