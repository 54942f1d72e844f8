"""common/retry.py: the one retry mechanism. Waits never exceed their cap, attempts are counted exactly, only
what the caller calls transient is tried again, and the last error is the one raised."""

from __future__ import annotations

import logging
import random

import pytest

from qfbackup.common.retry import RetryPolicy, retry, retryable
from qfbackup.errors import (
    ConnectError,
    ConnectionLost,
    HostKeyChanged,
    ObjectMissing,
    RemoteTimeout,
    StorageError,
    StoreUnavailable,
    UsageError,
)


class Transient(Exception):
    pass


class Permanent(Exception):
    pass


def is_transient(e: BaseException) -> bool:
    return isinstance(e, Transient)


def failing(errors: list[BaseException], result: str = "ok"):
    """A callable raising ``errors`` one per call, then returning ``result``; ``calls`` counts the calls."""
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result

    return fn, calls


def test_waits_never_exceed_the_cap_nor_fall_below_the_jitter_floor() -> None:
    seed = random.randrange(2**32)
    print(f"seed={seed}")
    rng = random.Random(seed)
    for jitter in (0.0, 0.2, 0.5, 1.0):
        policy = RetryPolicy(attempts=40, initial_delay=0.3, max_delay=5.0, jitter=jitter, rng=rng.random)
        for failed in range(1, 40):
            ceiling = min(5.0, 0.3 * 2 ** (failed - 1))
            wait = policy.delay(failed)
            assert ceiling * (1 - jitter) <= wait <= ceiling <= 5.0, (seed, jitter, failed, wait)


def test_backoff_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=3.0, rng=lambda: 0.0)  # no jitter drawn: the ceilings
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    top = RetryPolicy(initial_delay=0.5, max_delay=3.0, jitter=0.5, rng=lambda: 0.999999)
    assert 1.5 < top.delay(10) <= 1.5 + 1e-5  # the largest jitter halves the wait, never more
    assert RetryPolicy(initial_delay=1.0, max_delay=30.0).delay(5000) <= 30.0  # no overflow for absurd counts


@pytest.mark.parametrize("attempts", [1, 2, 5])
def test_exact_attempts_and_the_last_error_raised(attempts: int) -> None:
    errors: list[BaseException] = [Transient(f"try {i}") for i in range(1, attempts + 1)]
    fn, calls = failing(errors)
    sleeps: list[float] = []
    retried: list[tuple[int, BaseException, float]] = []
    policy = RetryPolicy(attempts=attempts, initial_delay=0.1, max_delay=0.15, sleep=sleeps.append)
    with pytest.raises(Transient) as e:
        retry(fn, policy, transient=is_transient, what="test", on_retry=lambda *a: retried.append(a))
    assert e.value is errors[-1]
    assert len(calls) == attempts and len(sleeps) == attempts - 1
    assert all(0.0 <= s <= 0.15 for s in sleeps)
    assert retried == list(zip(range(1, attempts), errors[:-1], sleeps, strict=True))


def test_success_after_transient_failures_returns_the_value() -> None:
    fn, calls = failing([Transient("a"), Transient("b")], result="done")
    sleeps: list[float] = []
    assert retry(fn, RetryPolicy(attempts=3, sleep=sleeps.append), transient=is_transient, what="t") == "done"
    assert len(calls) == 3 and len(sleeps) == 2


def test_a_non_transient_error_is_raised_at_once() -> None:
    fn, calls = failing([Transient("a"), Permanent("needs a person")])
    sleeps: list[float] = []
    with pytest.raises(Permanent, match="needs a person"):
        retry(fn, RetryPolicy(attempts=5, sleep=sleeps.append), transient=is_transient, what="t")
    assert len(calls) == 2 and len(sleeps) == 1


def test_an_interrupt_is_never_retried() -> None:
    fn, calls = failing([KeyboardInterrupt()])
    with pytest.raises(KeyboardInterrupt):
        retry(fn, RetryPolicy(attempts=5, sleep=lambda s: None), transient=lambda e: True, what="t")
    assert len(calls) == 1


def test_each_retry_is_logged_as_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    fn, _ = failing([Transient("link down")] * 2)
    with caplog.at_level(logging.WARNING, logger="qfbackup.retry"):
        retry(fn, RetryPolicy(attempts=3, sleep=lambda s: None), transient=is_transient, what="s3://b/p")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("s3://b/p: attempt 1/3 failed (link down); retrying in ")


def test_qfbackup_errors_say_whether_they_are_retryable() -> None:
    for e in (
        ConnectError("h:22", "refused"),
        ConnectionLost("h", "reset"),
        RemoteTimeout("cmd"),
        StoreUnavailable("x"),
    ):
        assert retryable(e), type(e).__name__
    for e in (HostKeyChanged("changed"), StorageError("403"), ObjectMissing("x"), UsageError("bad"), OSError("x")):
        assert not retryable(e), type(e).__name__


@pytest.mark.parametrize(
    "kw", [{"attempts": 0}, {"initial_delay": -1.0}, {"max_delay": -0.1}, {"jitter": 1.5}, {"jitter": -0.1}]
)
def test_nonsense_policies_are_refused(kw: dict) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kw)


def test_a_report_callback_gets_the_one_warning_instead_of_the_log(caplog: pytest.LogCaptureFixture) -> None:
    fn, _ = failing([Transient("link down")])
    reported: list[str] = []
    with caplog.at_level(logging.WARNING, logger="qfbackup.retry"):
        policy = RetryPolicy(attempts=3, sleep=lambda s: None)
        retry(fn, policy, transient=is_transient, what="w", report=reported.append)
    assert caplog.records == [] and len(reported) == 1 and reported[0].startswith("w: attempt 1/3 failed (link down)")
