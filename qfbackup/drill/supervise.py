"""Keeping a running container accounted for: who owns it, and signals that must not strand it.

Why owner labels: a drill can be interrupted (SIGINT, SIGTERM from a timer, the process killed). Every container is
labelled with the process that started it (host, pid and the pid's start time, so a reused pid cannot pose as the
owner), and ``Engine.cleanup()`` later removes containers whose owner is gone without touching a drill another
process is running right now.

Why signal handling: SIGTERM and SIGHUP kill a Python process outright by default, and a second Ctrl-C could
abandon a removal half-way; either would leave a container running with a plaintext copy of the database.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
from typing import Any

from qfbackup.common.process import ProcessIdentity, is_alive, start_ticks


def owner_token(pid: int | None = None) -> str:
    """``host/pid/starttime`` for the owner label (``?`` when /proc cannot tell the start time)."""
    pid = os.getpid() if pid is None else pid
    ticks = start_ticks(pid)
    return f"{socket.gethostname()}/{pid}/{'?' if ticks is None else ticks}"


def owner_alive(token: str) -> bool:
    """Whether the process named by an owner label still runs here. Another host's containers (a shared docker
    daemon) count as alive: we cannot tell, so we leave them. A token without a start time proves no owner."""
    try:
        host, pid, start = token.split("/")
    except ValueError:
        return False
    if host != socket.gethostname():
        return True
    if not (pid.isdigit() and start.isdigit()):
        return False
    return is_alive(ProcessIdentity(int(pid), int(start), None))


class TerminationUnwinds:
    """SIGTERM (systemd, a CI timeout) and SIGHUP (a closed terminal) kill a Python process outright by default,
    which would leave the container running; while one runs they raise KeyboardInterrupt instead, so run()
    removes it. Handlers someone else installed (the CLI has its own) are left alone; main thread only."""

    def __enter__(self) -> None:
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                if signal.getsignal(sig) is signal.SIG_DFL:
                    self.previous[sig] = signal.signal(sig, _raise_interrupt)

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class SignalsDeferred:
    """While removing a container, a second Ctrl-C/SIGTERM must not abandon the removal half-way: it is held
    until the block ends, then raised as KeyboardInterrupt unless an exception is already propagating. Only the
    main thread can change handlers; elsewhere this does nothing."""

    def __enter__(self) -> None:
        self.caught = False
        self.previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._hold)

    def _hold(self, signum: int, frame: object) -> None:
        self.caught = True

    def __exit__(self, exc_type: object, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        if self.caught and exc_type is None:
            raise KeyboardInterrupt


def finish_client(proc: subprocess.Popen[bytes], grace: float = 30.0) -> tuple[bytes, bytes]:
    """Collect the engine client's output after its container was removed; kill the client if it lingers."""
    try:
        return proc.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()
    except ValueError:  # communicate() was interrupted mid-read; the pipes are in an unknown state
        proc.kill()
        proc.wait()
        return b"", b""
