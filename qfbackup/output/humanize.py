"""Sizes, times and durations as text shows them: one unit system (IEC: KiB, MiB, GiB; 1 KiB = 1024 bytes),
times in UTC with their zone, ``never`` for a time that did not happen. JSON never goes through here: it carries
bytes, seconds and ISO 8601 times with an offset."""

from __future__ import annotations

from datetime import UTC, datetime

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(nbytes: int | None) -> str:
    """``1536`` -> ``1.5 KiB``; three significant figures, exact below 1 KiB."""
    if nbytes is None:
        return "unknown"
    value, unit = float(nbytes), 0
    while abs(value) >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    if unit == 0:
        return f"{int(value)} B"
    return f"{value:.{2 if abs(value) < 10 else 1 if abs(value) < 100 else 0}f} {_UNITS[unit]}"


def rate(nbytes: int, seconds: float) -> str:
    """Throughput in the same units, per second; ``-`` when no time passed."""
    return f"{size(int(nbytes / seconds))}/s" if seconds > 0 else "-"


def duration(seconds: float | None) -> str:
    """``0.4 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``, ``3 d 04 h``."""
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(round(seconds))
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600:02d} h"


def when(value: str | datetime | None) -> str:
    """An ISO 8601 time (or an aware datetime) as ``2026-12-03 17:29:50 UTC``; ``never`` for None. Sub-second
    digits are kept when the source has them, so two events a moment apart stay distinguishable."""
    if value is None:
        return "never"
    dt = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    if dt.tzinfo is None:
        raise ValueError(f"time without a zone: {value!r}")
    dt = dt.astimezone(UTC)
    text = dt.strftime("%Y-%m-%d %H:%M:%S")
    if dt.microsecond:
        text += f".{dt.microsecond:06d}".rstrip("0")
    return text + " UTC"


#: text names a snapshot by the first digits of its id, as the tool's messages do (any unique prefix is accepted back)
SHORT_ID = 12


def short_id(full_id: str) -> str:
    return full_id[:SHORT_ID]


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 base backup``, ``16 base backups``."""
    return f"{n} {singular if n == 1 else plural or singular + 's'}"
