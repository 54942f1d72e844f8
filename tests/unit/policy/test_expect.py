"""The drill-check condition language: parsing, exact numeric comparison, and the timestamp window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from qfbackup.errors import ExpectSyntaxError
from qfbackup.policy.expect import parse_expectation

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [
        ("== 0", 0, True),
        ("== 0", 1, False),
        ("!= 0", 3, True),
        (">= 1", 1, True),
        (">= 1", 0, False),
        ("> 1", 1, False),
        ("< 0.5", Decimal("0.49"), True),
        ("<= 0.1", 0.1, True),  # floats compare by their shortest repr, not binary noise
        ("== 100.00", Decimal("100"), True),
        ("between 1 100", 100, True),
        ("between 1 and 100", 0, False),
        ("BETWEEN -5 5", -5, True),
        ("is null", None, True),
        ("is null", 0, False),
        ("is not null", 0, True),
        ("is true", True, True),
        ("is false", True, False),
        ("== 1", True, False),  # a boolean is not the number 1
        ("== 1", "1", False),  # nor is text
        ("== 1", None, False),
        ("> 0", float("nan"), False),
    ],
)
def test_conditions(text: str, value: object, holds: bool) -> None:
    reason = parse_expectation(text).check(value)
    assert (reason is None) is holds, reason


def test_within_before_target() -> None:
    e = parse_expectation("within 15m before target")
    assert e.window == timedelta(minutes=15)
    assert e.check(T - timedelta(minutes=5), target_time=T) is None
    assert e.check(T, target_time=T) is None
    assert "after the target" in (e.check(T + timedelta(seconds=1), target_time=T) or "")
    assert "more than" in (e.check(T - timedelta(minutes=16), target_time=T) or "")
    assert e.check(T.replace(tzinfo=None), target_time=T) is None  # naive timestamps are UTC
    assert "target time" in (e.check(T) or "")
    assert "timestamp" in (e.check(5, target_time=T) or "")


@pytest.mark.parametrize(
    "text", ["", "= 0", "~ 3", "between 5 1", "within 0m before target", "within 5 before", "is maybe", ">= ten"]
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(ExpectSyntaxError):
        parse_expectation(text)


def test_text_is_kept_for_reports() -> None:
    assert parse_expectation("  >=   1 ").text == ">= 1"
