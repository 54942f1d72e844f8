"""Every error qfbackup reports, with the exit code it maps to.

Each class carries its message template (the docstring) and exit code, so the CLI has one place that turns an
exception into a sentence for the operator and a number for cron. docs/exit-codes.md lists the same table and a
test keeps the two in step. Messages say what went wrong and, where there is one, the fix.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INTERRUPTED = 130


class QfError(Exception):
    """{}"""

    exit_code = 1

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


class Failed(QfError):
    """{}"""

    exit_code = 1


class UsageError(QfError):
    """{}"""

    exit_code = 2


class PolicyError(UsageError):
    """{}"""

    exit_code = 2


class RepositoryLocked(QfError):
    """Repository is locked: {}"""

    exit_code = 3


class IntegrityError(QfError):
    """Integrity check failed: {}"""

    exit_code = 4


class KeyRefused(QfError):
    """{}"""

    exit_code = 5


class NotFound(QfError):
    """{}"""

    exit_code = 6


class RepositoryNotFound(NotFound):
    """No repository at {}"""

    exit_code = 6


class RepositoryExists(QfError):
    """A repository already exists at {}"""

    exit_code = 7


class StorageError(QfError):
    """{}"""

    exit_code = 8


class RemoteError(QfError):
    """Remote host error: {}"""

    exit_code = 9


class UnsupportedFormat(QfError):
    """{}"""

    exit_code = 10


class DrillUnavailable(QfError):
    """No container engine can run the restore drill: {}"""

    exit_code = 11


class DrillFailed(QfError):
    """Restore drill FAILED: {}"""

    exit_code = 12


EXIT_CODES: dict[int, str] = {
    EXIT_OK: "success",
    1: "the operation failed (see the message)",
    2: "usage or policy/configuration error",
    3: "repository locked by another qfbackup process",
    4: "verification failed: data missing, corrupt or inconsistent",
    5: "key refused: wrong passphrase or key file",
    6: "not found: repository, snapshot or object does not exist",
    7: "repository already exists",
    8: "storage backend error (disk, S3)",
    9: "remote host error (SSH, remote command)",
    10: "unsupported repository format version",
    11: "restore drill cannot run: no working container engine (podman or docker)",
    12: "restore drill failed: target not proven reached, or a check failed",
    EXIT_INTERRUPTED: "interrupted (SIGINT/SIGTERM); the repository stays consistent",
}
