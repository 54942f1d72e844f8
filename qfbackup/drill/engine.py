"""The container engines under restore drills: podman and docker, each invoked the same way for one job.

An ``Engine`` turns a ``ContainerSpec`` (``drill/container.py``) into the engine's command line, runs it to
completion under supervision (``drill/supervise.py``: a timeout, an exception or a signal removes the container
before anything propagates), removes containers and cleans up after dead drills. Which engine works on this host,
and the private configuration podman gets, is ``drill/detect.py``'s job.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from qfbackup.drill.container import LABEL, OWNER_LABEL, ContainerResult, ContainerSpec, ulimits
from qfbackup.drill.supervise import SignalsDeferred, TerminationUnwinds, finish_client, owner_alive, owner_token
from qfbackup.errors import Failed, UsageError

if TYPE_CHECKING:
    from qfbackup.drill.manifest import ImageRef

COMMAND_TIMEOUT_S = 120.0
"""For engine housekeeping commands (rm, ps, inspect); a hung engine must not hang the drill forever."""


@dataclass
class Engine:
    """A working container engine (podman or docker) and the environment each of its calls needs."""

    binary: str
    cache_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    started: set[str] = field(default_factory=set, repr=False)
    kind: ClassVar[str] = "engine"

    # -- subclass hooks -----------------------------------------------------------------------------------------

    def image_args(self, image: ImageRef) -> list[str]:
        raise NotImplementedError

    def run_flags(self, spec: ContainerSpec) -> list[str]:
        return []

    def list_containers(self) -> list[dict[str, Any]]:
        """Drill containers (running or not): [{"name": ..., "labels": {...}}]."""
        raise NotImplementedError

    def prepare(self, image: ImageRef) -> None:
        """Do any one-time work ``image`` needs before a run (docker imports our rootfs, ~10-20 s the first time),
        so a drill can do it before its RTO clock starts. podman runs the rootfs directly: nothing to do."""

    def _rm_flags(self) -> list[str]:
        return []

    # -- running ------------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.kind

    def command(self, *args: str, timeout: float = COMMAND_TIMEOUT_S, check: bool = True) -> str:
        """Run an engine subcommand (not a container) and return its stdout."""
        argv = [self.binary, *args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failed(f"`{self.kind} {' '.join(args)}` did not finish within {timeout:.0f} s") from None
        if check and proc.returncode != 0:
            raise Failed(f"`{self.kind} {' '.join(args)}` failed (exit {proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def run_argv(self, spec: ContainerSpec, env_file: Path | None = None) -> list[str]:
        """The full engine command line for ``spec`` (exposed so tests and --verbose can show it)."""
        nofile, nproc = ulimits()
        argv = [
            self.binary, "run", "--rm", "--name", spec.name, "--pull", "never",
            "--network", "none", "--hostname", "qfbackup-drill",
            "--label", f"{LABEL}=1", "--label", f"{OWNER_LABEL}={owner_token()}",
            "--memory", f"{spec.memory_mib}m", "--memory-swap", f"{spec.memory_mib}m",
            "--cpus", f"{spec.cpus:g}", "--pids-limit", str(spec.pids_limit),
            "--ulimit", f"nofile={nofile}:{nofile}", "--ulimit", f"nproc={nproc}:{nproc}",
            "--user", spec.user, "--workdir", spec.workdir,
        ]  # fmt: skip
        assert "--network" in argv and argv[argv.index("--network") + 1] == "none"
        for key, value in spec.labels.items():
            argv += ["--label", f"{key}={value}"]
        if spec.drop_capabilities:
            argv += ["--cap-drop", "all", "--security-opt", "no-new-privileges"]
        if spec.read_only:
            argv.append("--read-only")
        if spec.input is not None:
            argv.append("--interactive")
        if env_file is not None:
            argv += ["--env-file", str(env_file)]
        for mount in spec.mounts:
            argv += mount.argv()
        argv += self.run_flags(spec)
        argv += self.image_args(spec.image)
        command = list(spec.command)
        if spec.image.manifest is not None:
            # Backstop for a qfbackup killed by SIGKILL (no chance to remove anything): the container ends itself
            # a minute after the deadline and --rm removes it. Only our images are known to have GNU timeout.
            command = ["timeout", "--kill-after=10", f"{int(spec.timeout_s) + 60}", *command]
        return [*argv, *command]

    def run(self, spec: ContainerSpec) -> ContainerResult:
        """Run ``spec`` to completion and return its exit code and output.

        A timeout kills and removes the container (the result says timed_out); any exception while it runs,
        KeyboardInterrupt included, removes it before propagating. The engine client runs in its own session, so
        a Ctrl-C reaches only us and the removal happens in order rather than racing the client's own handling.
        SIGTERM and SIGHUP, where nobody handles them yet, unwind the same way while the container runs.
        """
        env_file = self._env_file(spec) if spec.env else None
        started = time.monotonic()
        timed_out = False
        self.started.add(spec.name)
        with TerminationUnwinds():
            try:
                proc = subprocess.Popen(
                    self.run_argv(spec, env_file),
                    stdin=subprocess.PIPE if spec.input is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=self.env,
                    start_new_session=True,
                )
                try:
                    try:
                        out, err = proc.communicate(spec.input, timeout=spec.timeout_s)
                    except subprocess.TimeoutExpired:
                        timed_out = True
                        with SignalsDeferred():
                            self.remove(spec.name)
                            out, err = finish_client(proc)
                except BaseException:
                    with SignalsDeferred():
                        self.remove(spec.name)
                        finish_client(proc)
                        self.remove(spec.name)  # in case the client was still creating it
                    raise
            finally:
                if env_file is not None:
                    env_file.unlink(missing_ok=True)
        if not timed_out:
            self.started.discard(spec.name)
        return ContainerResult(
            name=spec.name,
            engine=self.kind,
            exit_code=proc.returncode if not timed_out else -signal.SIGKILL,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace"),
            seconds=time.monotonic() - started,
            timed_out=timed_out,
        )

    def remove(self, name: str) -> None:
        """Kill and remove one container by name; no error if it is already gone."""
        self.command("rm", "--force", *self._rm_flags(), name, check=False)
        self.started.discard(name)

    def cleanup(self, *, all_owners: bool = False) -> list[str]:
        """Remove drill containers left behind by interrupted or killed drills.

        By default only those whose owning process is gone (or that this Engine started and still lists), so
        a drill another process runs right now survives; ``all_owners`` removes every drill container.
        """
        removed = []
        for container in self.list_containers():
            owner = container["labels"].get(OWNER_LABEL, "")
            if all_owners or container["name"] in self.started or not owner_alive(owner):
                self.remove(container["name"])
                removed.append(container["name"])
        return removed

    def __enter__(self) -> Engine:
        """Entering removes stale drill containers; leaving removes any this Engine started that still exist."""
        self.cleanup()
        return self

    def __exit__(self, *exc: object) -> None:
        with SignalsDeferred():
            for name in list(self.started):
                self.remove(name)

    def user_ids(self, image: ImageRef, user: str = "postgres") -> tuple[int, int]:
        """uid and gid of ``user`` inside ``image``: compare with the host's before bind-mounting its files."""
        spec = ContainerSpec(
            image=image, command=("sh", "-c", f"id -u {user} && id -g {user}"), user="0:0", timeout_s=120
        )
        result = self.run(spec).check(f"looking up {user} in {image.name}")
        uid, gid = result.stdout.split()[:2]
        return int(uid), int(gid)

    def _env_file(self, spec: ContainerSpec) -> Path:
        tmp = self.cache_dir / "tmp"
        tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = tmp / f"{spec.name}.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in spec.env.items())
        return path


@dataclass
class PodmanEngine(Engine):
    """podman with private containers.conf/storage.conf; our rootfs runs directly (``--rootfs DIR:O``)."""

    kind: ClassVar[str] = "podman"

    def image_args(self, image: ImageRef) -> list[str]:
        if image.rootfs is not None:
            if ":" in str(image.rootfs):
                raise UsageError(f"rootfs path {image.rootfs} contains ':', which podman cannot express")
            # :O = an overlay on top: the container's writes (if any) go to a throwaway layer, the cache stays pristine
            return ["--rootfs", f"{image.rootfs}:O"]
        return [image.name]

    def run_flags(self, spec: ContainerSpec) -> list[str]:
        return ["--log-driver", "k8s-file"]

    def _rm_flags(self) -> list[str]:
        return ["--ignore", "--time", "0"]

    def list_containers(self) -> list[dict[str, Any]]:
        out = self.command("ps", "--all", "--filter", f"label={LABEL}=1", "--format", "json")
        rows = json.loads(out or "[]") or []
        return [{"name": (r.get("Names") or ["?"])[0], "labels": r.get("Labels") or {}} for r in rows]


@dataclass
class DockerEngine(Engine):
    """docker (a running dockerd): our rootfs is imported once as an image tagged from its manifest."""

    kind: ClassVar[str] = "docker"
    _imported: set[str] = field(default_factory=set, repr=False)

    def image_args(self, image: ImageRef) -> list[str]:
        if image.rootfs is not None:
            self.ensure_imported(image)
        return [image.name]

    def run_flags(self, spec: ContainerSpec) -> list[str]:
        # docker's --read-only adds no tmpfs of its own; podman's does (/tmp, /var/tmp, /run)
        if not spec.read_only:
            return []
        flags = []
        for path in ("/tmp", "/var/tmp", "/run"):
            flags += ["--tmpfs", f"{path}:rw,nosuid,nodev,exec,mode=1777"]
        return flags

    def prepare(self, image: ImageRef) -> None:
        if image.rootfs is not None:
            self.ensure_imported(image)

    def ensure_imported(self, image: ImageRef) -> None:
        """``docker import`` the rootfs under the manifest's tag unless that tag exists (it changes per build)."""
        if image.name in self._imported:
            return
        probe = subprocess.run(
            [self.binary, "image", "inspect", image.name], capture_output=True, env=self.env, timeout=60
        )
        if probe.returncode != 0:
            assert image.rootfs is not None
            tar = subprocess.Popen(["tar", "-C", str(image.rootfs), "-c", "."], stdout=subprocess.PIPE)
            try:
                imp = subprocess.run(
                    [self.binary, "import", "-", image.name],
                    stdin=tar.stdout,
                    capture_output=True,
                    env=self.env,
                    timeout=1800,
                )
            finally:
                if tar.stdout:
                    tar.stdout.close()
                tar.wait()
            if imp.returncode != 0 or tar.returncode != 0:
                raise Failed(f"docker import of {image.rootfs} failed: {imp.stderr.decode(errors='replace').strip()}")
        self._imported.add(image.name)

    def list_containers(self) -> list[dict[str, Any]]:
        out = self.command("ps", "--all", "--filter", f"label={LABEL}=1", "--format", "{{json .}}")
        rows = []
        for line in out.splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            labels = dict(kv.split("=", 1) for kv in (row.get("Labels") or "").split(",") if "=" in kv)
            rows.append({"name": row.get("Names", "?").split(",")[0], "labels": labels})
        return rows
