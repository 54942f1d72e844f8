"""Recorded drill output (tests/unit/drill/data, see its README) and the policy checks those drills ran.

A plain module (not a conftest) so the tests import what they use by name.
"""

from __future__ import annotations

from pathlib import Path

from qfbackup.drill.script import Facts, parse
from qfbackup.policy.expect import parse_expectation
from qfbackup.policy.jobs import DrillCheck

DATA = Path(__file__).parent / "data"


def recorded_text(case: str, name: str) -> str:
    return (DATA / case / name).read_text()


def recorded_facts(case: str) -> Facts:
    return parse(recorded_text(case, "stdout.txt"))


def check(name: str, sql: str, expect: str, database: str = "signalcartel") -> DrillCheck:
    return DrillCheck(name=name, sql=sql, expect=parse_expectation(expect), cluster="main", database=database)


#: the checks of tests/integration/drill/test_drill.py, in the order the script numbered them (000, 001, 002)
SITE_CHECKS = (
    check("trades-present", "select count(*) from trades", ">= 1"),
    check("no-null-price", "select count(*) from trades where price is null", "== 0"),
    check("trades-reach-target", "select max(ts) from trades", "within 10m before target"),
)
