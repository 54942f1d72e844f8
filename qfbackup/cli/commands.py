"""Every top-level command, in the order ``qfbackup --help`` lists them."""

from qfbackup.cli.backup_cmd import backup
from qfbackup.cli.catalog_cmd import list_, show
from qfbackup.cli.copy_cmd import copy
from qfbackup.cli.drill_cmd import drill
from qfbackup.cli.key_cmd import key
from qfbackup.cli.policy_cmd import policy
from qfbackup.cli.repo_cmd import repo
from qfbackup.cli.restore_cmd import restore
from qfbackup.cli.snapshot_cmd import snapshot
from qfbackup.cli.verify_cmd import verify
from qfbackup.cli.wal_cmd import wal
from qfbackup.cli.walget_cmd import wal_get_cmd

ALL = [repo, wal, backup, list_, show, restore, wal_get_cmd, snapshot, verify, copy, key, policy, drill]
