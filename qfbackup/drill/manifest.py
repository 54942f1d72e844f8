"""What a drill image is: the manifest a finished build writes, and the reference a drill container runs.

Why a manifest: the build (``drill/image_build.py``) writes it last, so its presence marks a complete image, and it
records what a cached image must match to be reused (``drill/image.py``): the format, the PostgreSQL major and the
host's postgres uid/gid it was built for, its locales. Its digest names the image where an engine needs a tag.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qfbackup.pg.versions import debian_bin_dir

IMAGE_FORMAT = 1
"""Bumped when the image content changes in a way old cache entries lack; they are then rebuilt."""
SUITE = "bookworm"


def image_name(pg_major: int) -> str:
    return f"pg{pg_major}-{SUITE}"


@dataclass(frozen=True)
class ImageManifest:
    """What a cached image contains; written last, so its presence marks a complete build."""

    format: int
    name: str
    suite: str
    pg_major: int
    pg_version: str
    postgres_uid: int
    postgres_gid: int
    locales: tuple[str, ...]
    mirror: str
    built_at: str
    build_seconds: float
    size_bytes: int

    @property
    def tag(self) -> str:
        """The image name for engines that need an imported image (docker): changes whenever the content does."""
        digest = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]
        return f"localhost/qfbackup-drill-{self.name}:{digest}"

    @property
    def pg_bin_dir(self) -> str:
        return str(debian_bin_dir(self.pg_major))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "locales": list(self.locales), "tag": self.tag}

    @classmethod
    def load(cls, path: Path) -> ImageManifest:
        data = json.loads(path.read_text())
        data.pop("tag", None)
        data["locales"] = tuple(data.get("locales", ()))
        return cls(**data)


@dataclass(frozen=True)
class ImageRef:
    """An image a drill container runs: our cached rootfs (``rootfs`` + ``manifest``), or a name from the policy.

    ``cached`` and ``seconds`` describe how this call got it (reused or built, and how long that took).
    """

    name: str
    rootfs: Path | None = None
    manifest: ImageManifest | None = None
    cached: bool = field(default=False, compare=False)
    seconds: float = field(default=0.0, compare=False)

    @classmethod
    def named(cls, name: str) -> ImageRef:
        """An existing image (policy ``drill.image``), used as is: its postgres uid is the caller's to check."""
        return cls(name=name, cached=True)

    @property
    def pg_bin_dir(self) -> str | None:
        """Where the server binaries are inside the image (not on the container's PATH); None if unknown."""
        return self.manifest.pg_bin_dir if self.manifest else None

    @property
    def size_bytes(self) -> int | None:
        return self.manifest.size_bytes if self.manifest else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rootfs": str(self.rootfs) if self.rootfs else None,
            "cached": self.cached,
            "seconds": round(self.seconds, 3),
            "manifest": self.manifest.to_dict() if self.manifest else None,
        }
