"""The units qfbackup measures in, so every figure it records or prints means the same thing everywhere:
timestamps are UTC ISO 8601 with their offset, throughput is MB/s of 10^6 bytes (as the benchmarks and the env
notes quote it)."""

from __future__ import annotations

from datetime import UTC, datetime

MB = 1_000_000


def utc_now(timespec: str = "seconds") -> str:
    """Now, in UTC, ISO 8601 with the +00:00 offset."""
    return datetime.now(UTC).isoformat(timespec=timespec)


def mb_per_s(nbytes: int, seconds: float) -> float:
    """Throughput in MB/s, one decimal; 0.0 when no time passed."""
    return round(nbytes / MB / seconds, 1) if seconds > 0 else 0.0
