"""The sandbox: real PostgreSQL 15, OpenSSH sshd and SeaweedFS S3 services for the tests, benchmarks and quickstart.

Plain classes, no pytest: ``with PgCluster() as pg: ...`` works in any script. Each service picks free ports,
keeps every file in its own marked temporary directory (``marker.py``) and, on ``stop()`` (or leaving the ``with``
block, or interpreter exit for anything left running), kills its processes and removes that directory. A leaked
postgres or sshd would hold ports and disk on a shared machine and make the next run flaky, so cleanup is not
optional. ``site.py`` writes a policy pointing qfbackup at the services.

Not used by the product: nothing in qfbackup imports this package (tests/unit/test_architecture.py). Shared
helpers live here: the ``Service`` base class (start/stop, context manager, registry for atexit cleanup), ``run``
(subprocess with errors that show stderr), ``as_user`` (run a command as ``postgres`` when we are root) and
``wait_for``.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import pwd
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from .pg import PgCluster
    from .seaweed import SeaweedS3
    from .sshd import NetnsSshServer, SshServer

__all__ = [
    "HarnessError",
    "NetnsSshServer",
    "PgCluster",
    "SeaweedS3",
    "Service",
    "SshServer",
    "as_user",
    "free_port",
    "live_services",
    "run",
    "stop_all",
    "wait_for",
]

_LAZY = {
    "PgCluster": ".pg",
    "SshServer": ".sshd",
    "NetnsSshServer": ".sshd",
    "SeaweedS3": ".seaweed",
    "free_port": ".ports",
}


def __getattr__(name: str) -> Any:
    """Import the service modules on first use (they import this module for the shared helpers)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class HarnessError(RuntimeError):
    """A sandbox service could not be set up, started or stopped (or a directory not its own was to be removed).

    Not a ``qfbackup.errors`` class on purpose: it never reaches the CLI, so it has no exit code."""


# ---------------------------------------------------------------------------------------------------------------
# Processes


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    input: bytes | str | None = None,
    timeout: float = 120,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command and capture its output; on failure raise HarnessError with the command and its stderr."""
    try:
        proc = subprocess.run(
            list(argv),
            input=input if input is None or isinstance(input, str) else input.decode(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=env,
            check=False,
        )
    except FileNotFoundError as e:
        raise HarnessError(f"command not found: {argv[0]}") from e
    except subprocess.TimeoutExpired as e:
        raise HarnessError(f"timed out after {timeout}s: {' '.join(argv)}") from e
    if check and proc.returncode != 0:
        raise HarnessError(
            f"command failed (exit {proc.returncode}): {' '.join(argv)}\n"
            f"stdout: {proc.stdout.strip()[-2000:]}\nstderr: {proc.stderr.strip()[-2000:]}"
        )
    return proc


def is_root() -> bool:
    return os.geteuid() == 0


def as_user(user: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run as ``user``: through runuser when we are root, unchanged when we already are that user.

    PostgreSQL refuses to run as root, so as root the server and its tools run as ``postgres``; a non-root
    developer runs them as themselves.
    """
    if is_root() and user != "root":
        return ["runuser", "-u", user, "--", *argv]
    return list(argv)


def user_ids(user: str) -> tuple[int, int]:
    """uid and gid of ``user``; HarnessError if there is no such account."""
    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        raise HarnessError(f"no user {user!r} on this machine (install postgresql-15 to create it)") from None
    return pw.pw_uid, pw.pw_gid


def chown(path: str | os.PathLike[str], user: str) -> None:
    """Give ``path`` to ``user`` when we are root (no-op otherwise: then we are the user that runs things)."""
    if is_root():
        uid, gid = user_ids(user)
        os.chown(path, uid, gid)


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` that makes the child get ``sig`` when the process that started it dies.

    This covers the case atexit cannot: the test runner killed with SIGKILL. Caveat: Linux sends the signal when
    the *thread* that forked exits, so start services from a thread that outlives them (the main thread).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1

    def _preexec() -> None:
        libc.prctl(pr_set_pdeathsig, sig, 0, 0, 0)
        os.setpgrp()  # its own process group: a Ctrl-C in the terminal goes to pytest, which then stops it

    return _preexec


def process_alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def children_map() -> dict[int, list[int]]:
    """ppid -> child pids, from /proc (no psutil dependency)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pid: int) -> list[int]:
    """All descendants of ``pid``, parents before children."""
    kids = children_map()
    out: list[int] = []
    todo = list(kids.get(pid, []))
    while todo:
        p = todo.pop(0)
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def proc_comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def kill_pids(pids: Sequence[int], sig: int = signal.SIGKILL) -> int:
    """Send ``sig`` to each pid that still exists; returns how many got it."""
    n = 0
    for pid in pids:
        try:
            os.kill(pid, sig)
            n += 1
        except ProcessLookupError:
            pass
    return n


def terminate(proc: subprocess.Popen[Any], *, timeout: float = 20.0, sig: int = signal.SIGTERM) -> None:
    """Stop a child politely (``sig``), then SIGKILL after ``timeout``; always reaps it."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        except ProcessLookupError:
            pass
    proc.wait()


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.1,
    what: str = "condition",
    on_timeout: Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; HarnessError naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except HarnessError:
            raise
        except Exception as e:  # the service may not answer yet; keep the last reason for the message
            last_exc = e
        if time.monotonic() >= deadline:
            detail = on_timeout() if on_timeout else ""
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise HarnessError(f"timed out after {timeout}s waiting for {what}{extra}\n{detail}".rstrip())
        time.sleep(interval)


def tail(path: str | os.PathLike[str], lines: int = 30) -> str:
    """Last lines of a log file, for error messages."""
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------------------------
# Services


_REGISTRY_LOCK = threading.Lock()
_LIVE: dict[int, Service] = {}


def live_services() -> list[Service]:
    """Services started and not yet stopped, oldest first."""
    with _REGISTRY_LOCK:
        return list(_LIVE.values())


def stop_all() -> list[str]:
    """Stop every live service, newest first (a standby before its primary); returns their descriptions."""
    stopped = []
    for svc in reversed(live_services()):
        stopped.append(repr(svc))
        try:
            svc.stop()
        except Exception:  # keep going: the next one must still be stopped
            pass
    return stopped


atexit.register(stop_all)


class Service:
    """Base of every harness service: start()/stop(), context manager, leak registry.

    ``start()`` either returns a running service or cleans up whatever it had created and raises; ``stop()`` is
    idempotent and always removes processes and files (unless the service was created with ``keep=True``).
    """

    kind = "service"

    def _register(self) -> None:
        with _REGISTRY_LOCK:
            _LIVE[id(self)] = self

    def _unregister(self) -> None:
        with _REGISTRY_LOCK:
            _LIVE.pop(id(self), None)

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
