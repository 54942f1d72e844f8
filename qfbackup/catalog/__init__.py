"""The catalogue: what the repository holds for each cluster, read from its snapshots, and what it can restore.

One place answers "which base backups, which WAL, which restore points, and which points in time are
restorable on which timeline": ingest, ``list``, ``restore``, ``wal status`` and drills all read it, so they can
never disagree about the restorable window. Reads snapshots (``repo``) and applies PostgreSQL's rules (``pg``);
no I/O of its own except reading history-file streams through the repository.
"""
