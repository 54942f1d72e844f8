"""Where backups go: the primary repository and the off-site copy, as typed, frozen policy sections.

Each key is declared once on its field (``keys.key``); sections.py parses these sections and docs.py documents them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qfbackup.policy.keys import key

DEFAULT_CACHE_DIR = Path("/var/cache/qfbackup")
S3_ONLY = "only when `path` is `s3://`"
ENV_KEYS = "`$AWS_ACCESS_KEY_ID` / `$AWS_SECRET_ACCESS_KEY`"


@dataclass(frozen=True)
class Repository:
    """The primary repository on the backup VM (or in S3): where every backup lands first."""

    path: str = key(
        kind="text", example='"/var/lib/qfbackup/repo"', meaning="absolute local directory, or `s3://bucket/prefix`"
    )
    passphrase_file: Path | None = key(
        None,
        kind="local_path",
        meaning="file (0600) holding the passphrase that unwraps the repository key. Not set: the passphrase comes "
        "from `$QFBACKUP_PASSPHRASE`, else an interactive prompt",
    )
    key_file: Path | None = key(
        None,
        kind="local_path",
        meaning="a key file (0600) that unwraps the repository key, as an alternative or in addition to the passphrase",
    )
    cache_dir: Path = key(
        DEFAULT_CACHE_DIR,
        kind="local_path",
        meaning="local state: encrypted copies of index files and snapshots (`<repository id>/`), per-job locks "
        "(`locks/`), the drill image, workspaces and history (`drill/`)",
    )
    pack_size_mib: int = key(
        16,
        kind="int",
        low=1,
        high=64,  # writer, verify and copy hold ~3 packs
        meaning="target size of pack objects; small chunks are packed so S3 holds few, large objects (memory: ~3 "
        "packs held at once)",
    )
    chunk_avg_kib: int = key(
        64,
        kind="int",
        low=16,
        high=4096,
        type="power of two, 16-4096",
        meaning="average content-defined chunk size; changing it on an existing repository costs deduplication "
        "against earlier backups",
    )
    compression_level: int = key(3, kind="int", low=1, high=22, meaning="zstd level")
    workers: int = key(2, kind="int", low=1, high=64, meaning="compress + encrypt threads")
    endpoint: str | None = key(
        None, kind="text", type="http(s) URL", example='"https://s3.example.com"', meaning=f"S3 endpoint, {S3_ONLY}"
    )
    region: str = key("us-east-1", kind="text", meaning=f"S3 region, {S3_ONLY}")
    credentials_file: Path | None = key(None, kind="local_path", meaning=f"S3 keys (0600), {S3_ONLY}; else {ENV_KEYS}")

    @property
    def is_s3(self) -> bool:
        return self.path.startswith("s3://")

    def s3_options(self) -> dict[str, Any]:
        """Keyword arguments for ``S3Store.from_url`` when the repository itself lives in S3."""
        return _s3_options(self.endpoint, self.region, self.credentials_file)


@dataclass(frozen=True)
class Offsite:
    """The off-site copy (S3-compatible): with the key alone it must be enough to restore everything."""

    url: str = key(
        kind="text",
        type="`s3://bucket/prefix`",
        example='"s3://bucket/prefix"',
        meaning="where the copy lives; must not overlap the repository path",
    )
    endpoint: str | None = key(
        None,
        kind="text",
        type="http(s) URL",
        example='"https://s3.example.com"',
        shown_default="not set (AWS)",
        meaning="S3-compatible server, e.g. `https://s3.example.com` (no path, no credentials)",
    )
    region: str = key("us-east-1", kind="text", meaning="S3 region")
    credentials_file: Path | None = key(None, kind="local_path", meaning=f"S3 keys (0600); else {ENV_KEYS}")
    object_lock_days: int = key(
        0,
        kind="int",
        low=0,
        high=36500,
        meaning="S3 Object Lock retention for copied objects; 0 = off (the bucket must have Object Lock enabled)",
    )

    def s3_options(self) -> dict[str, Any]:
        """Keyword arguments for ``S3Store.from_url(url, **opts)``; the store reads AWS_* env vars itself."""
        return _s3_options(self.endpoint, self.region, self.credentials_file)


def _s3_options(endpoint: str | None, region: str, credentials_file: Path | None) -> dict[str, Any]:
    return {
        "endpoint": endpoint,
        "region": region,
        "credentials_file": str(credentials_file) if credentials_file else None,
    }
