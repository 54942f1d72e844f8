"""The one retry mechanism: capped exponential backoff with jitter, for the errors a caller calls transient.

SSH connects and S3 requests each had a loop of their own, with jitter that could push a wait past its cap and
layers that multiplied (botocore's retries inside qfbackup's: 30 HTTP requests for one stat with 5 configured).
Here a policy says how many tries an operation gets in all and how long the waits between them may be; the
caller says which errors are worth another try (``retryable``: the errors marked so in ``errors.py``). Every
retry is logged as a warning, so an operator sees a flaky link before it becomes a failure.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger("qfbackup.retry")

T = TypeVar("T")

#: Called before each wait with the attempt that failed (1-based), its error and the wait in seconds.
OnRetry = Callable[[int, BaseException, float], None]


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently one operation is tried. Wait ``n`` (after the ``n``-th failed try) is
    ``min(max_delay, initial_delay * 2**(n-1))`` scaled by a random factor in ``[1 - jitter, 1]``: never longer
    than ``max_delay``, and spread so that many workers failing together do not all come back at once."""

    attempts: int = 5  # tries in all, the first one included
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.5
    sleep: Callable[[float], None] = time.sleep  # injectable, like rng, so tests neither wait nor guess
    rng: Callable[[], float] = random.random  # uniform in [0, 1)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"a retry policy needs at least one attempt, not {self.attempts}")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("retry delays cannot be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"retry jitter must be within [0, 1], not {self.jitter}")

    def delay(self, failed: int) -> float:
        """The wait after the ``failed``-th try (1-based)."""
        ceiling = min(self.max_delay, self.initial_delay * 2.0 ** min(failed - 1, 64))
        return ceiling * (1.0 - self.jitter * self.rng())


def retryable(error: BaseException) -> bool:
    """The classification qfbackup's own errors carry: ``retryable = True`` on the network-shaped ones
    (ConnectError, ConnectionLost, RemoteTimeout, an unavailable store), never on trust or usage errors."""
    return getattr(error, "retryable", False) is True


def retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    transient: Callable[[BaseException], bool],
    what: str,
    on_retry: OnRetry | None = None,
    report: Callable[[str], None] | None = None,
) -> T:
    """Call ``fn`` until it returns, at most ``policy.attempts`` times, waiting ``policy.delay`` between tries.
    Only errors ``transient`` accepts are tried again; any other error, and the last one, propagate unchanged.
    ``fn`` must be safe to repeat; ``what`` names where it runs in the one warning given before each wait, which
    goes to ``report`` (a command's warn, shown even under -q) or else to the log. ``on_retry`` is for the
    caller's bookkeeping (counting, closing what broke), not for another message."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as e:
            if attempt == policy.attempts or not transient(e):
                raise
            wait = policy.delay(attempt)
            message = f"{what}: attempt {attempt}/{policy.attempts} failed ({e}); retrying in {wait:.2f} s"
            (report or log.warning)(message)
            if on_retry is not None:
                on_retry(attempt, e, wait)
            policy.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns or raises")
