"""Seeded randomness for tests, so a failure that depends on a random choice can be replayed.

One seed per test process: ``QFBACKUP_TEST_SEED`` if set, else drawn once. Each ``rng(name)`` derives its own
stream from that seed and the name (independent streams, none shared by accident) and prints the seed, which
pytest shows with the captured output of a failing test.
"""

from __future__ import annotations

import os
import random

ENV = "QFBACKUP_TEST_SEED"
RUN_SEED = int(os.environ.get(ENV) or random.SystemRandom().randrange(2**32))


def rng(name: str) -> random.Random:
    """A Random for the choices called ``name``; ``QFBACKUP_TEST_SEED=<printed seed>`` repeats them."""
    print(f"seed {name}={RUN_SEED} ({ENV}={RUN_SEED} repeats it)")
    return random.Random(f"{RUN_SEED}:{name}")  # a str seed hashes the same in every process
