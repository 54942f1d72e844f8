"""What a failed S3 call means for qfbackup: a missing object, a refusal, or a failure worth another try.

Transient (``StoreUnavailable``, retried by ``store_retry``): HTTP 5xx, InternalError, SlowDown, throttling,
timeouts and dropped or refused connections; SeaweedFS, for one, answers InternalError for a moment after a
restart. Errors that retrying cannot fix (403, a missing bucket) are plain ``StorageError`` and fail at once.
Messages name the bucket and what to do; server messages are kept except for auth failures (they carry nothing
useful). botocore never puts the secret key in an error, and neither does this module.
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from qfbackup.errors import ObjectMissing, QfError, StorageError, StoreUnavailable, UsageError

#: What a call to boto3 may raise that ``translate`` turns into a qfbackup error.
S3_FAILURES = (ClientError, BotoCoreError, ConnectionError, TimeoutError)

TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "ServiceUnavailable",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestTimeout",
        "RequestTimeoutException",
        "OperationAborted",
        "500",
        "502",
        "503",
        "504",
    }
)
MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "Forbidden",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
    }
)


def error_code(e: BaseException) -> str:
    if isinstance(e, ClientError):
        return str(e.response.get("Error", {}).get("Code", "")) or str(
            e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")
        )
    return ""


def http_status(e: ClientError) -> int:
    return int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def is_transient(e: BaseException) -> bool:
    """Whether sending the same request later may succeed."""
    if isinstance(e, ClientError):
        return error_code(e) in TRANSIENT_CODES or http_status(e) >= 500
    return isinstance(e, HTTPClientError | BotoConnectionError | IncompleteReadError | ConnectionError | TimeoutError)


def translate(e: BaseException, op: str, name: str, *, url: str, where: str, access_key: str | None) -> QfError:
    """The qfbackup error for a failed S3 call on object ``name`` (empty: the bucket or prefix at ``url``)."""
    err = _describe(e, op, name or url, missing=name, where=where, access_key=access_key)
    return StoreUnavailable(err.message) if is_transient(e) and type(err) is StorageError else err


def _describe(e: BaseException, op: str, what: str, *, missing: str, where: str, access_key: str | None) -> QfError:
    if isinstance(e, ClientError):
        code = error_code(e)
        message = str(e.response.get("Error", {}).get("Message", "") or "")
        if code in MISSING_CODES and missing:
            return ObjectMissing(missing)
        if code == "NoSuchBucket" or (code in MISSING_CODES and not missing):
            return StorageError(f"S3 {where} does not exist; create it first (qfbackup does not create buckets)")
        if code in AUTH_CODES:
            return StorageError(
                f"S3 refused to {op} {what} in {where} ({code}): check the access key "
                f"{access_key!r}, its secret key and the bucket permissions"
            )
        detail = f"{code}: {message}" if message else code
        return StorageError(f"cannot {op} {what} in {where}: {detail}")
    if isinstance(e, NoCredentialsError):
        return UsageError("no S3 credentials")
    if isinstance(e, BotoCoreError):
        return StorageError(f"cannot {op} {what} in {where}: {e}")
    return StorageError(f"cannot {op} {what} in {where}: {type(e).__name__}: {e}")
