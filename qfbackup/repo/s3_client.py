"""Where an S3 repository is and how to reach it: the URL, the credentials and the boto3 client.

Credentials, in this order: explicit ``access_key``/``secret_key``; a credentials file; the environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, optional ``AWS_SESSION_TOKEN``). There is deliberately no
silent fallback to ~/.aws or instance metadata: a backup job must use the credentials its operator configured.

Credentials file format (one ``key=value`` per line; blank lines and ``#`` comments allowed)::

    access_key=AKIA...
    secret_key=...

The file must not be accessible by group or others (``chmod 600 FILE``); otherwise it is refused.

The client sends every request once (botocore's own retries off): the tries are ``store_retry``'s to count, and
two layers of retries multiply (5 configured there and 6 in botocore made 30 requests for one ``stat``).
"""

from __future__ import annotations

import logging
import os
import stat as statmod
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from qfbackup.errors import UsageError
from qfbackup.repo.store import validate_name

log = logging.getLogger("qfbackup.repo.s3")

#: Connections the client may pool: s3transfer's parallel parts, and the repository's own threads beside them.
MAX_POOL_CONNECTIONS = 10
#: One HTTP request per call: the retry policy above (store_retry) is the only one.
SINGLE_ATTEMPT = {"mode": "standard", "total_max_attempts": 1}


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix/``); the prefix is empty or ends with '/'."""
    if not url.startswith("s3://"):
        raise UsageError(f"not an S3 URL: {url!r} (expected s3://BUCKET/PREFIX)")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not bucket:
        raise UsageError(f"no bucket in S3 URL {url!r} (expected s3://BUCKET/PREFIX)")
    prefix = prefix.strip("/")
    if prefix:
        try:
            validate_name(prefix)
        except UsageError:
            raise UsageError(f"invalid prefix in S3 URL {url!r} (empty, '.' or '..' path parts)") from None
        prefix += "/"
    return bucket, prefix


def read_credentials_file(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(access_key, secret_key) from a ``key=value`` file that only its owner can read (see module docstring)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"S3 credentials file {path} does not exist") from None
    except OSError as e:
        raise UsageError(f"cannot read S3 credentials file {path}: {e.strerror}") from None
    if st.st_mode & 0o077:
        mode = statmod.S_IMODE(st.st_mode)
        raise UsageError(
            f"S3 credentials file {path} is accessible by group or others (mode {mode:04o}); "
            f"restrict it with: chmod 600 {path}"
        )
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise UsageError(f"cannot read S3 credentials file {path}: {e.strerror}") from None
    values: dict[str, str] = {}
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or key not in ("access_key", "secret_key"):
            # the line itself is not quoted: it may hold the secret
            raise UsageError(f"{path}:{lineno}: expected 'access_key=...' or 'secret_key=...'")
        values[key] = value.strip()
    missing = [k for k in ("access_key", "secret_key") if not values.get(k)]
    if missing:
        raise UsageError(f"S3 credentials file {path} has no {' and no '.join(missing)} line")
    return values["access_key"], values["secret_key"]


def resolve_credentials(
    access_key: str | None, secret_key: str | None, credentials_file: str | os.PathLike[str] | None
) -> tuple[str, str, str | None, str]:
    """(access_key, secret_key, session_token, where they came from) following the documented order."""
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise UsageError("give both the S3 access key and the secret key, not only one")
        return access_key, secret_key, None, "arguments"
    if credentials_file:
        ak, sk = read_credentials_file(credentials_file)
        return ak, sk, None, f"file {os.fspath(credentials_file)}"
    ak = os.environ.get("AWS_ACCESS_KEY_ID")
    sk = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if ak and sk:
        return ak, sk, os.environ.get("AWS_SESSION_TOKEN") or None, "environment"
    raise UsageError(
        "no S3 credentials: give an access key and secret key, a credentials file, "
        "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )


@dataclass(frozen=True)
class S3Client:
    """A ready boto3 client and what it points at. ``access_key`` is an identifier shown in messages; the
    secret is only inside ``client`` (never in a repr, a message or a log line)."""

    bucket: str
    prefix: str
    endpoint: str | None
    access_key: str
    client: Any = field(repr=False)


def make_client(
    url: str,
    *,
    endpoint: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    credentials_file: str | os.PathLike[str] | None = None,
    connect_timeout: float = 10,
    read_timeout: float = 60,
) -> S3Client:
    """The client for ``s3://bucket/prefix``. ``endpoint`` is for S3-compatible servers (path-style addressing is
    then used, as IP endpoints require); without it AWS_ENDPOINT_URL_S3/AWS_ENDPOINT_URL or AWS itself."""
    bucket, prefix = parse_s3_url(url)
    ak, sk, token, source = resolve_credentials(access_key, secret_key, credentials_file)
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    config = Config(
        region_name=region,
        signature_version="s3v4",
        retries=SINGLE_ATTEMPT,  # type: ignore[arg-type]
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=MAX_POOL_CONNECTIONS,
        s3={"addressing_style": "path" if endpoint else "auto"},
    )
    try:
        # a private session: the default one is shared, not thread-safe, and may carry other credentials
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=ak,
            aws_secret_access_key=sk,
            aws_session_token=token,
            config=config,
        )
    except ValueError as e:  # e.g. a malformed endpoint URL
        raise UsageError(f"invalid S3 endpoint {endpoint!r}: {e}") from None
    log.debug("S3 store %s at %s, credentials from %s", url, endpoint or "AWS", source)
    return S3Client(bucket, prefix, endpoint, ak, client)
