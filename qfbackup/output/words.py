"""What text calls each kind of snapshot, in one place: base backups, dumps, WAL batches and file-set snapshots
are named apart everywhere, never all "snapshots". Keys are the kinds as the JSON carries them
(qfbackup/catalog/kinds.py)."""

from __future__ import annotations

KIND_WORDS: dict[str, tuple[str, str]] = {
    "basebackup": ("base backup", "base backups"),
    "dump": ("dump", "dumps"),
    "wal": ("WAL batch", "WAL batches"),
    "wal-quarantine": ("quarantined WAL batch", "quarantined WAL batches"),
    "files": ("file-set snapshot", "file-set snapshots"),
}


def kind_word(kind: str, n: int = 1) -> str:
    """``kind_word("wal")`` -> ``WAL batch``; unknown kinds (a newer version's) keep their own name."""
    singular, plural = KIND_WORDS.get(kind, (f"{kind} snapshot", f"{kind} snapshots"))
    return singular if n == 1 else plural


def kind_counts(counts: dict[str, int]) -> str:
    """``{"wal": 16, "basebackup": 1}`` -> ``1 base backup, 16 WAL batches`` (in KIND_WORDS order)."""
    order = list(KIND_WORDS)
    ranked = sorted(counts, key=lambda k: (order.index(k) if k in order else len(order), k))
    return ", ".join(f"{counts[k]} {kind_word(k, counts[k])}" for k in ranked)
