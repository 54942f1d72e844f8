"""Every outcome qfbackup reports, with the exit code it maps to: the one exception hierarchy of the package.

Each class carries its message template (the first docstring line) and inherits its exit code; a class that is an
outcome of its own declares ``exit_code`` and ``meaning``, and no two of them share a code, so cron can tell "a gap
opened" from "qfbackup crashed". ``OUTCOMES`` lists them; ``EXIT_CODES`` and docs/exit-codes.md are made from it and
a test keeps the three in step. Messages say what went wrong and, where there is one, the fix (``hint``).

Codes 20-29 are warnings (``QfWarning``): the command did its job, its result is stored and printed, but a person
must act. Everything else non-zero means the job was not done.
"""

from __future__ import annotations

EXIT_OK = 0


class QfError(Exception):
    """{}"""

    exit_code = 1
    meaning = "the operation failed (see the message)"
    severity = "error"

    def __init__(self, *args: object, hint: str | None = None) -> None:
        template = (self.__doc__ or "{}").strip().splitlines()[0]
        try:
            message = template.format(*args)
        except (IndexError, KeyError):
            message = " ".join(str(a) for a in args) or template
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class QfWarning(QfError):
    """{}"""

    # Not an outcome of its own: the base of the 20-29 codes, printed as "warning:" rather than "error:".
    severity = "warning"


# --- 1: the operation failed ------------------------------------------------------------------------------------


class Failed(QfError):
    """{}"""


class InvalidWalName(QfError):
    """Not a WAL file name: {}"""


# --- 2: usage, policy, configuration ----------------------------------------------------------------------------


class UsageError(QfError):
    """{}"""

    exit_code = 2
    meaning = "usage or policy/configuration error"


class PolicyError(UsageError):
    """{}"""


class ExpectSyntaxError(PolicyError):
    """{}"""

    # A drill check's ``expect`` outside the language of policy/expect.py; the policy reader records it as one of
    # the policy's problems, so it reaches the command line inside the PolicyError that lists them all.


class UnsupportedPgVersion(UsageError):
    """PostgreSQL {} is not supported (known major versions: {})"""


class InvalidLsn(UsageError):
    """Not a WAL position (LSN): {!r}; expected the form 0/3000148"""


class SshKeyError(UsageError):
    """SSH key file {}: {}"""


# --- 3..12 ------------------------------------------------------------------------------------------------------


class RepositoryLocked(QfError):
    """Repository is locked: {}"""

    exit_code = 3
    meaning = "repository locked by another qfbackup process"


class IntegrityError(QfError):
    """Integrity check failed: {}"""

    exit_code = 4
    meaning = "verification failed: data missing, corrupt or inconsistent"


class AuthenticationFailed(IntegrityError):
    """{}"""

    # An AEAD tag does not verify: wrong key, or the bytes were changed. Callers turn it into a sentence.


class CorruptObject(IntegrityError):
    """{}"""

    # A stored object or blob fails authentication, decompression or its id check. Callers name the object.


class InvalidWalSegment(IntegrityError):
    """Integrity check failed: WAL segment {}: {}"""


class InvalidHistoryFile(IntegrityError):
    """Integrity check failed: timeline history file {}: {}"""


class InvalidCarry(IntegrityError):
    """Integrity check failed: restore point scanner carry: {}"""


class BadBackupMetadata(IntegrityError):
    """Integrity check failed: base backup {}: {}"""


class TarFormatError(IntegrityError):
    """Integrity check failed: tar stream: {}"""


class KeyRefused(QfError):
    """{}"""

    exit_code = 5
    meaning = "key refused: wrong passphrase or key file"


class NotFound(QfError):
    """{}"""

    exit_code = 6
    meaning = "not found: repository, snapshot or object does not exist"


class RepositoryNotFound(NotFound):
    """No repository at {}"""


class ObjectMissing(NotFound):
    """Object {} is missing from the repository"""


class RepositoryExists(QfError):
    """A repository already exists at {}"""

    exit_code = 7
    meaning = "repository already exists"


class StorageError(QfError):
    """{}"""

    exit_code = 8
    meaning = "storage backend error (disk, S3)"


class StoreUnavailable(StorageError):
    """{}"""

    # A backend failure worth another try (S3: a 5xx, throttling, a dropped or refused connection); what
    # repo/store_retry.RetryingStore retries. Still exit code 8 when the tries run out.
    retryable = True


class RemoteError(QfError):
    """Remote host error: {}"""

    exit_code = 9
    meaning = "remote host error (SSH, remote command)"


class ConnectError(RemoteError):
    """Cannot connect to {}: {}"""

    retryable = True


class HostKeyRefused(RemoteError):
    """{}"""


class HostKeyUnknown(HostKeyRefused):
    """{}"""


class HostKeyChanged(HostKeyRefused):
    """{}"""


class AuthenticationRefused(RemoteError):
    """{} refused the SSH key {}: {}"""


class RemoteCommandFailed(RemoteError):
    """Remote command failed: {}"""

    def __init__(self, command: str, detail: str, *, exit_status: int | None, stderr: str, bytes_read: int = 0):
        tail = f"\n--- remote stderr (last {len(stderr)} chars) ---\n{stderr.rstrip()}" if stderr.strip() else ""
        super().__init__(f"{command}: {detail}{tail}")
        self.command = command
        self.exit_status = exit_status
        self.stderr = stderr
        self.bytes_read = bytes_read


class ConnectionLost(RemoteError):
    """Connection to {} lost: {}"""

    retryable = True


class RemoteTimeout(RemoteError):
    """Remote command timed out: {}"""

    retryable = True


class StreamClosed(RemoteError):
    """Remote stream already closed: {}"""


class UnsupportedFormat(QfError):
    """{}"""

    exit_code = 10
    meaning = "unsupported repository format version"


class DrillUnavailable(QfError):
    """No container engine can run the restore drill: {}"""

    exit_code = 11
    meaning = "restore drill cannot run: no working container engine (podman or docker)"


class DrillFailed(QfError):
    """Restore drill FAILED: {}"""

    exit_code = 12
    meaning = "restore drill failed: target not proven reached, or a check failed"


class Unprovable(DrillFailed):
    """{}"""

    # Never leaves the drill as such: it becomes one of the drill's failures (exit 12 for the drill as a whole).


# --- 13..19: restore, catalogue, database host, WAL protection --------------------------------------------------


class TargetUnreachable(QfError):
    """{}"""

    exit_code = 13
    meaning = "restore refused: the target is not reachable from the stored base backups and WAL"


class RestoreDegraded(QfError):
    """{}"""

    exit_code = 14
    meaning = "restore --latest refused: it would reach only an earlier point than the repository holds"


class HistoryMissing(QfError):
    """Timeline {} has no history file {} in the repository: {}"""

    exit_code = 15
    meaning = "a timeline's history file is not in the repository, so nothing on that timeline can be restored"


class UnknownRestorePoint(NotFound):
    """{}"""

    exit_code = 16
    meaning = "no restore point of that name in the stored WAL"


class ServerQueryFailed(RemoteError):
    """Cannot query PostgreSQL cluster {} on {}: {}"""

    exit_code = 17
    meaning = "the PostgreSQL server could not be queried (psql over SSH failed or answered nonsense)"


class BaseBackupFailed(RemoteError):
    """Base backup of cluster {} failed: {}"""

    exit_code = 18
    meaning = "base backup failed (pg_basebackup or its stream); nothing was committed"


class WalUnprotected(QfError):
    """{}"""

    exit_code = 19
    meaning = "wal status found a problem: gap, quarantined file, lag, archiving failing or primary unreachable"


# --- 20..29: warnings: the job was done, a person must act ------------------------------------------------------


class WalGapOpen(QfWarning):
    """{}"""

    exit_code = 20
    meaning = "warning: WAL pulled and stored, but a gap after the newest base backup is open"


class WalQuarantined(QfWarning):
    """{}"""

    exit_code = 21
    meaning = "warning: WAL pulled and stored, but at least one file was quarantined"


# --- not raised by commands: what cli/main.py reports for a bug or an interruption -------------------------------


class InternalError(QfError):
    """internal error: {}"""

    exit_code = 70  # EX_SOFTWARE in sysexits.h
    meaning = "internal error (a bug in qfbackup): run again with -v and report the traceback"


class Interrupted(QfError):
    """interrupted; the repository stays consistent (run again to resume)"""

    exit_code = 130  # 128 + SIGINT, as shells report it
    meaning = "interrupted (SIGINT/SIGTERM); the repository stays consistent"


#: Every outcome with a code of its own, in code order (a test checks every class declaring ``exit_code`` is here).
OUTCOMES: tuple[type[QfError], ...] = (
    QfError,
    UsageError,
    RepositoryLocked,
    IntegrityError,
    KeyRefused,
    NotFound,
    RepositoryExists,
    StorageError,
    RemoteError,
    UnsupportedFormat,
    DrillUnavailable,
    DrillFailed,
    TargetUnreachable,
    RestoreDegraded,
    HistoryMissing,
    UnknownRestorePoint,
    ServerQueryFailed,
    BaseBackupFailed,
    WalUnprotected,
    WalGapOpen,
    WalQuarantined,
    InternalError,
    Interrupted,
)

EXIT_INTERNAL = InternalError.exit_code
EXIT_INTERRUPTED = Interrupted.exit_code
EXIT_CODES: dict[int, str] = {EXIT_OK: "success", **{c.exit_code: c.meaning for c in OUTCOMES}}
