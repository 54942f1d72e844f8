"""Drill fixtures: a real container engine and the drill image, built once per machine and reused.

The image build (debootstrap + postgresql-15) takes a minute or two, so it lives in a cache that outlives the test
run (``/var/cache/qfbackup-test`` or ``$QFBACKUP_TEST_DRILL_CACHE``): the first session on a machine builds it,
every later one gets a cache hit in milliseconds. Podman's storage for the tests lives in the same cache.
$QFBACKUP_TEST_DRILL_ENGINE=docker (with $DOCKER_HOST) runs the same tests against docker instead of podman.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from qfbackup.drill.detect import detect_engine
from qfbackup.drill.engine import Engine
from qfbackup.drill.image import build_image
from qfbackup.drill.manifest import ImageRef
from qfbackup.errors import DrillUnavailable

DRILL_CACHE = Path(os.environ.get("QFBACKUP_TEST_DRILL_CACHE", "/var/cache/qfbackup-test"))
ENGINE = os.environ.get("QFBACKUP_TEST_DRILL_ENGINE", "auto")
"""auto (podman here), or docker to run the same tests against a dockerd named by $DOCKER_HOST."""
REQUIRE = os.environ.get("QFBACKUP_TEST_REQUIRE") == "1"


def _unavailable(reason: str) -> None:
    """Skip, or fail under QFBACKUP_TEST_REQUIRE=1 (as tests/conftest.py does for the other services)."""
    if REQUIRE:
        pytest.fail(f"QFBACKUP_TEST_REQUIRE=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def _need_root() -> None:
    if os.geteuid() != 0:
        _unavailable("drill containers need root (bind-mounted postgres-owned files, debootstrap, chroot)")


@pytest.fixture(scope="session")
def drill_cache() -> Path:
    DRILL_CACHE.mkdir(parents=True, exist_ok=True)
    return DRILL_CACHE


@pytest.fixture(scope="session")
def drill_engine(drill_cache: Path) -> Iterator[Engine]:
    """The engine detect_engine picks here (podman after scripts/install-deps); stale drill containers are
    removed on entry and anything the session started on exit."""
    _need_root()
    try:
        engine = detect_engine(ENGINE, drill_cache)
    except DrillUnavailable as e:
        _unavailable(f"{e.message} ({e.hint})")
    with engine:
        yield engine


@pytest.fixture(scope="session")
def drill_image(drill_cache: Path) -> ImageRef:
    """The pg15 drill image: built on the first session of a machine (~1-2 min), a cache hit afterwards."""
    _need_root()
    if shutil.which("debootstrap", path="/usr/sbin:/usr/bin:/sbin:/bin") is None:
        _unavailable("debootstrap missing: run scripts/install-deps")
    return build_image(drill_cache, 15)
