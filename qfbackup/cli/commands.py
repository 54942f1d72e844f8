"""Every top-level command and the module defining it, in the order ``qfbackup --help`` lists them.

Modules are imported only when their command runs: ``wal-get`` is PostgreSQL's restore_command, started once
per WAL segment during replay, and must not pay for importing paramiko and every other command first.
"""

COMMANDS: dict[str, tuple[str, str]] = {
    "repo": ("qfbackup.cli.repo_cmd", "repo"),
    "wal": ("qfbackup.cli.wal_cmd", "wal"),
    "backup": ("qfbackup.cli.backup_cmd", "backup"),
    "list": ("qfbackup.cli.catalog_cmd", "list_"),
    "show": ("qfbackup.cli.catalog_cmd", "show"),
    "restore": ("qfbackup.cli.restore_cmd", "restore"),
    "wal-get": ("qfbackup.cli.walget_cmd", "wal_get_cmd"),
    "snapshot": ("qfbackup.cli.snapshot_cmd", "snapshot"),
    "verify": ("qfbackup.cli.verify_cmd", "verify"),
    "copy": ("qfbackup.cli.copy_cmd", "copy"),
    "key": ("qfbackup.cli.key_cmd", "key"),
    "policy": ("qfbackup.cli.policy_cmd", "policy"),
    "drill": ("qfbackup.cli.drill_cmd", "drill"),
}
