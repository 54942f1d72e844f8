"""Every top-level command, in the order ``qfbackup --help`` lists them."""

from qfbackup.cli.copy_cmd import copy
from qfbackup.cli.key_cmd import key
from qfbackup.cli.policy_cmd import policy
from qfbackup.cli.repo_cmd import repo
from qfbackup.cli.snapshot_cmd import snapshot
from qfbackup.cli.verify_cmd import verify
from qfbackup.cli.wal_cmd import wal

ALL = [repo, wal, snapshot, verify, copy, key, policy]
