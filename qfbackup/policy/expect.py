"""The small expression language of drill checks: what a check's single SQL value must satisfy.

A drill is only worth something if it can fail, so each ``[[drill.checks]]`` pairs a query returning one value with an
``expect`` condition. The language is deliberately tiny, parsed when the policy loads (a typo is a policy error on
Monday, not a failed drill on Sunday night), and compares numbers exactly (``Decimal``) so ``numeric`` sums of money
never trip over float rounding. Grammar (case-insensitive, documented in docs/policy.md):

    == N | != N | < N | <= N | > N | >= N       N an integer or decimal, e.g. "== 0", ">= 1", "< 0.5"
    between A B   (also "between A and B")       A <= value <= B, inclusive
    is null | is not null
    is true | is false
    within DURATION before target                a timestamp t with target - DURATION <= t <= target,
                                                 DURATION like 30s, 15m, 2h, 1d
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from qfbackup.errors import ExpectSyntaxError

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_COMPARE = re.compile(rf"^(==|!=|<=|>=|<|>)\s*({_NUMBER})$")
_BETWEEN = re.compile(rf"^between\s+({_NUMBER})\s+(?:and\s+)?({_NUMBER})$", re.IGNORECASE)
_WITHIN = re.compile(r"^within\s+(\d+)\s*(s|sec|m|min|h|d)\s+before\s+target$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_KEYWORDS = {"is null", "is not null", "is true", "is false"}

EXPECT_SYNTAX = (
    'use one of "== N", "!= N", "< N", "<= N", "> N", ">= N", "between A B", "is null", "is not null", '
    '"is true", "is false", "within 15m before target"'
)


@dataclass(frozen=True)
class Expectation:
    """A parsed ``expect`` condition. ``text`` is kept verbatim so reports quote what the operator wrote."""

    text: str
    op: str
    operands: tuple[Decimal, ...] = ()
    window: timedelta | None = None

    def check(self, value: object, *, target_time: datetime | None = None) -> str | None:
        """None when ``value`` satisfies the condition, else a sentence saying why not (for the drill report)."""
        if self.op == "is null":
            return None if value is None else f"expected NULL, got {value!r}"
        if self.op == "is not null":
            return None if value is not None else "expected a value, got NULL"
        if self.op in ("is true", "is false"):
            want = self.op == "is true"
            if not isinstance(value, bool):
                return f"expected a boolean, got {value!r}"
            return None if value is want else f"expected {str(want).lower()}, got {str(value).lower()}"
        if self.op == "within":
            return self._check_within(value, target_time)
        number = _as_decimal(value)
        if number is None or number.is_nan():
            return f"expected a number, got {value!r}"
        if self.op == "between":
            low, high = self.operands
            ok = low <= number <= high
        else:
            ok = _compare(self.op, number, self.operands[0])
        return None if ok else f"value {number} does not satisfy {self.text!r}"

    def _check_within(self, value: object, target_time: datetime | None) -> str | None:
        assert self.window is not None
        if target_time is None:
            return f"{self.text!r} needs the drill's target time, which this run does not have"
        if not isinstance(value, datetime):
            return f"expected a timestamp, got {value!r}"
        value, target = _aware(value), _aware(target_time)
        if value > target:
            return f"newest timestamp {value.isoformat()} is after the target {target.isoformat()}"
        if target - value > self.window:
            return f"newest timestamp {value.isoformat()} is more than {self.window} before the target"
        return None


def parse_expectation(text: str) -> Expectation:
    """Parse an ``expect`` string; raise ExpectSyntaxError naming the accepted forms when it is not one of them."""
    normalized = " ".join(text.split())
    lowered = normalized.lower()
    if lowered in _KEYWORDS:
        return Expectation(text=normalized, op=lowered)
    if m := _COMPARE.match(normalized):
        return Expectation(text=normalized, op=m.group(1), operands=(Decimal(m.group(2)),))
    if m := _BETWEEN.match(normalized):
        low, high = Decimal(m.group(1)), Decimal(m.group(2))
        if low > high:
            raise ExpectSyntaxError(f'"between {low} {high}" has its bounds reversed; write "between {high} {low}"')
        return Expectation(text=normalized, op="between", operands=(low, high))
    if m := _WITHIN.match(normalized):
        seconds = int(m.group(1)) * _UNITS[m.group(2).lower()]
        if seconds <= 0:
            raise ExpectSyntaxError('"within" needs a duration greater than zero, e.g. "within 15m before target"')
        return Expectation(text=normalized, op="within", window=timedelta(seconds=seconds))
    raise ExpectSyntaxError(f"{text!r} is not a condition qfbackup understands; {EXPECT_SYNTAX}")


def _as_decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | float):
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None
    return None


def _compare(op: str, left: Decimal, right: Decimal) -> bool:
    return {
        "==": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[op]


def _aware(moment: datetime) -> datetime:
    """Naive timestamps (``timestamp without time zone``) are taken as UTC, as the platform stores them."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
