"""Process identity: a pid plus the kernel's start time and boot id, so a reused pid is not mistaken for the
process that wrote a lock or owns a work directory.

Linux reuses pids (``pid_max`` is often 32768 or 4 million, and containers restart at 1). A lock that recorded
only a pid stays "alive" for as long as any unrelated process holds that number; the start time (field 22 of
``/proc/<pid>/stat``, in clock ticks since boot) and the boot id tell the original apart from a newcomer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    #: clock ticks after boot at which the process started; None where /proc cannot say (not Linux)
    start_ticks: int | None
    boot_id: str | None

    def to_dict(self) -> dict:
        return {"pid": self.pid, "start_ticks": self.start_ticks, "boot_id": self.boot_id}

    @classmethod
    def from_dict(cls, d: dict) -> ProcessIdentity:
        """Reads what ``to_dict`` wrote; a record from before start times were kept has the pid alone."""
        return cls(int(d["pid"]), d.get("start_ticks"), d.get("boot_id"))


def boot_id() -> str | None:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot, or None if there is no such process (or no /proc)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # "pid (comm) state ppid ...": comm may contain spaces and parentheses, so split after the last ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])  # field 22 overall; fields[0] is field 3 (state)


def current() -> ProcessIdentity:
    pid = os.getpid()
    return ProcessIdentity(pid, start_ticks(pid), boot_id())


def pid_exists(pid: int) -> bool:
    """Whether any process has this pid on this machine (another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_alive(identity: ProcessIdentity) -> bool:
    """Whether the process ``identity`` names still runs. A different boot, or the pid now held by a process
    that started at another time, means it is gone. Without a recorded start time only the pid can be checked."""
    if not pid_exists(identity.pid):
        return False
    if identity.boot_id is not None and boot_id() not in (None, identity.boot_id):
        return False
    if identity.start_ticks is None:
        return True
    now = start_ticks(identity.pid)
    return now is None or now == identity.start_ticks
