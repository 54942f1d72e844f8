"""Run qfbackup with a terminal on stderr (a real pseudo-terminal), to see what a person at a console sees:
progress bars appear only there."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from dataclasses import dataclass

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SIZE = r"\d+(?:\.\d+)? (?:B|KiB|MiB|GiB|TiB|PiB)"
#: the bar's byte column, ``1.50 MiB/12.0 MiB`` (``?`` without a total), and its time-remaining column after it
_DONE_OF_TOTAL = re.compile(rf"({_SIZE})/({_SIZE}|\?)")
_WITH_ETA = re.compile(rf"({_SIZE})/({_SIZE}|\?) .*?(\d+:\d\d:\d\d|-:--:--)")


def plain(terminal: str) -> str:
    """The terminal's text without escape sequences."""
    return ANSI.sub("", terminal)


def bar_totals(terminal: str, description: str, *, with_eta: bool = False) -> set[str]:
    """The totals (``12.0 MiB``, as humanize.size writes them) the progress bars showed; ``description`` must
    have been shown. ``with_eta``: only bars whose line also has a time-remaining column."""
    text = plain(terminal)
    assert description in text, text[-2000:]
    return {m.group(2) for m in (_WITH_ETA if with_eta else _DONE_OF_TOTAL).finditer(text)}


def to_bytes(shown: str) -> float:
    """``12.0 MiB`` back to bytes (to 3 significant figures, as shown)."""
    value, unit = shown.split()
    return float(value) * 1024 ** ["B", "KiB", "MiB", "GiB", "TiB", "PiB"].index(unit)


@dataclass
class TtyRun:
    returncode: int
    stdout: str  # a pipe, as under cron or `| jq`
    terminal: str  # everything written to the terminal (stderr), escape sequences included


def run_with_terminal(args: list[str], env: dict[str, str], timeout: float = 300) -> TtyRun:
    """``python -m qfbackup ARGS`` with stderr on a pty (80x24, TERM=xterm) and stdout on a pipe. The terminal
    is drained while the command runs, so a chatty bar never blocks it."""
    master, slave = os.openpty()
    env = {**env, "TERM": "xterm", "COLUMNS": "100", "LINES": "24"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qfbackup", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
        env=env,
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"qfbackup {' '.join(args)} did not finish in {timeout} s")
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        returncode = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.stdout:
            proc.stdout.close()
    return TtyRun(returncode, stdout, b"".join(chunks).decode(errors="replace"))
