"""What a drill container is: its mounts, its limits and isolation (the spec), and how it ended (the result).

Why a container at all: a drill restores production data and replays its WAL. On the backup VM's own PostgreSQL
(or with network access) a misconfigured restore_command or archive_command could touch production, and a failure
could leave a server running. So every drill runs in a container with no network but loopback (there is nowhere
to archive to or fetch from), resource limits, and removed afterwards. The spec refuses anything else, so no engine
(``drill/engine.py``) can be asked for it.

Why unique names and labels: a timeout or interrupt must remove exactly the container it started, and a later
clean-up must recognise drill containers (``LABEL``) and who started them (``OWNER_LABEL``, see
``drill/supervise.py``).
"""

from __future__ import annotations

import resource
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from qfbackup.errors import Failed, UsageError

if TYPE_CHECKING:
    from qfbackup.drill.manifest import ImageRef

LABEL = "qfbackup.drill"
"""Every drill container carries ``qfbackup.drill=1``; cleanup and tests filter on it."""
OWNER_LABEL = "qfbackup.drill.owner"
"""``host/pid/starttime`` of the qfbackup process that started the container (pid reuse cannot fool it)."""
NAME_PREFIX = "qfbackup-drill-"
NOFILE = 16384
NPROC = 32768
"""Wanted container ulimits (soft = hard), lowered to the host's hard limits when those are smaller."""


@dataclass(frozen=True)
class Mount:
    """A host path bind-mounted into the container."""

    host: Path
    container: str
    read_only: bool = False

    def __post_init__(self) -> None:
        for value in (str(self.host), self.container):
            if "," in value or ":" in value:
                raise UsageError(f"container mount path {value!r} contains ',' or ':', which engines cannot express")
        if not self.container.startswith("/"):
            raise UsageError(f"container mount point {self.container!r} is not absolute")

    def argv(self) -> list[str]:
        opts = f"type=bind,source={Path(self.host).resolve()},target={self.container}"
        return ["--mount", opts + (",readonly" if self.read_only else "")]


def new_container_name() -> str:
    return NAME_PREFIX + secrets.token_hex(6)


def ulimits() -> tuple[int, int]:
    """NOFILE/NPROC, or the host's hard limit when lower: runc cannot raise a container above it."""
    values = []
    for wanted, which in ((NOFILE, resource.RLIMIT_NOFILE), (NPROC, resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(which)[1]
        values.append(wanted if hard == resource.RLIM_INFINITY else min(wanted, hard))
    return values[0], values[1]


@dataclass(frozen=True)
class ContainerSpec:
    """One drill container. Network is always "none" (loopback only): the field exists so that is explicit.

    ``read_only`` makes the image read-only; writable places are the mounts and tmpfs on /tmp, /var/tmp and /run
    (so start PostgreSQL with ``-k /tmp``). ``input`` is fed to the command's stdin. The environment travels in a
    0600 file, not on the engine's command line, where any local user could read it in ``ps``.
    """

    image: ImageRef
    command: Sequence[str]
    mounts: Sequence[Mount] = ()
    user: str = "postgres"
    env: Mapping[str, str] = field(default_factory=dict)
    memory_mib: int = 2048
    cpus: float = 2.0
    pids_limit: int = 4096
    timeout_s: float = 3600.0
    name: str = field(default_factory=new_container_name)
    labels: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/tmp"
    read_only: bool = True
    drop_capabilities: bool = True
    input: bytes | None = None
    network: Literal["none"] = "none"

    def __post_init__(self) -> None:
        if self.network != "none":
            raise UsageError(f"drill containers never get a network (asked for {self.network!r})")
        if not self.command:
            raise UsageError("a drill container needs a command")
        if not self.name.startswith(NAME_PREFIX):
            raise UsageError(f"drill container names start with {NAME_PREFIX!r} (got {self.name!r})")
        if self.memory_mib < 64 or self.cpus <= 0 or self.pids_limit < 16 or self.timeout_s <= 0:
            raise UsageError(
                f"container limits out of range: memory {self.memory_mib} MiB, cpus {self.cpus}, "
                f"pids {self.pids_limit}, timeout {self.timeout_s} s"
            )
        for key, value in self.env.items():
            if "\n" in key or "\n" in value or "=" in key:
                raise UsageError(f"container environment variable {key!r}: no newlines, no '=' in the name")

    @classmethod
    def from_policy(cls, drill: Any, image: ImageRef, command: Sequence[str], **kwargs: Any) -> ContainerSpec:
        """Limits from the policy's ``[drill]`` section (memory_mib, cpus, timeout_minutes); kwargs override."""
        limits = {"memory_mib": drill.memory_mib, "cpus": drill.cpus, "timeout_s": drill.timeout_minutes * 60.0}
        return cls(image=image, command=tuple(command), **{**limits, **kwargs})


@dataclass(frozen=True)
class ContainerResult:
    """How a container ended. exit_code is the command's, or the engine's own 125 ("could not run it")."""

    name: str
    engine: str
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def engine_failed(self) -> bool:
        """The engine could not create or start the container (bad mount, missing image...), as opposed to the
        command failing inside it. podman and docker both use 125 for that."""
        return self.exit_code == 125 and not self.timed_out

    def check(self, what: str = "drill container") -> ContainerResult:
        """Raise Failed with the stderr tail unless the command succeeded."""
        if self.ok:
            return self
        tail = "\n  ".join(self.stderr.strip().splitlines()[-10:])
        if self.timed_out:
            reason = f"timed out after {self.seconds:.0f} s and was killed"
        elif self.engine_failed:
            reason = f"could not be started by {self.engine}"
        else:
            reason = f"exited with {self.exit_code}"
        raise Failed(f"{what} {self.name} {reason}" + (f":\n  {tail}" if tail else ""))
