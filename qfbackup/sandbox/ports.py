"""Free TCP ports on the loopback interface for the test services.

Several test sessions (and benchmark runs) share this machine, so fixed ports would collide. A port is chosen at
random outside the kernel's ephemeral range (outgoing connections take ports from that range and could grab ours
between the check and the server's bind), checked by binding it, and remembered so this process never hands the
same port out twice before the service that got it has bound it. The remaining race with another process is
small; services that lose it fail to start with "address in use" and say so.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Sequence

__all__ = ["free_port", "port_is_free"]

_LOCK = threading.Lock()
_HANDED_OUT: set[int] = set()
_LOWEST = 10000


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections, which we avoid."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``host:port`` can be bound right now (no listener, no lingering socket on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(*, offsets: Sequence[int] = (), host: str = "127.0.0.1", attempts: int = 500) -> int:
    """A port P such that P and P+o for every o in ``offsets`` are free on ``host``.

    ``offsets`` exists for SeaweedFS, whose services also listen for gRPC on their HTTP port + 10000.
    """
    eph_lo, eph_hi = _ephemeral_range()
    top = 65535 - max(offsets, default=0)
    candidates = [p for p in range(_LOWEST, top + 1) if all(not (eph_lo <= p + o <= eph_hi) for o in (0, *offsets))]
    if not candidates:  # an unusual ephemeral range: accept overlapping it rather than fail
        candidates = list(range(_LOWEST, top + 1))
    rng = random.SystemRandom()
    with _LOCK:
        for _ in range(attempts):
            port = rng.choice(candidates)
            wanted = [port + o for o in (0, *offsets)]
            if any(p in _HANDED_OUT for p in wanted):
                continue
            if all(port_is_free(p, host) for p in wanted):
                _HANDED_OUT.update(wanted)
                return port
    raise RuntimeError(f"no free port found on {host} after {attempts} attempts")
