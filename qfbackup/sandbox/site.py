"""A policy file pointing qfbackup at sandbox services: the "database host" of the tests and the quickstart."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pg import PgCluster
    from .sshd import SshServer


def write_passphrase(path: Path) -> Path:
    """A random repository passphrase in a 0600 file (qfbackup refuses a passphrase file others can read)."""
    path.write_text(secrets.token_urlsafe(24) + "\n")
    path.chmod(0o600)
    return path


def sandbox_policy(
    directory: Path,
    *,
    sshd: SshServer,
    clusters: dict[str, PgCluster],
    databases: dict[str, list[str]] | None = None,
    standbys: dict[str, str] | None = None,
    extra: str = "",
    cache_dir: Path | None = None,
) -> Path:
    """Write ``directory/policy.toml``: host ``vms`` = the sandbox sshd; each PgCluster as a cluster on it.

    ``standbys`` maps a standby cluster name to its primary's; the primary then takes base backups from it only
    when a test asks for ``--from-standby``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    passfile = write_passphrase(directory / "passphrase")
    lines = [
        "[repository]",
        f'path = "{directory / "repo"}"',
        f'passphrase_file = "{passfile}"',
        f'cache_dir = "{cache_dir or directory / "cache"}"',
        "",
        "[hosts.vms]",
        f'address = "{sshd.host}"',
        f"port = {sshd.port}",
        f'user = "{sshd.user}"',
        f'key_file = "{sshd.client_key_path}"',
        f'known_hosts = "{sshd.known_hosts_path}"',
        "connect_timeout = 5",
        "keepalive = 2",
    ]
    standbys = standbys or {}
    for name, pg in clusters.items():
        lines += [
            "",
            f"[clusters.{name}]",
            'host = "vms"',
            f"port = {pg.port}",
            f'socket_dir = "{pg.socket_dir}"',
            f'pg_bin_dir = "{pg.bin_dir}"',
            f'data_dir = "{pg.data_dir}"',
        ]
        if name in standbys:
            lines += ['role = "standby"', f'standby_of = "{standbys[name]}"']
        else:
            lines += [f'wal_archive_dir = "{pg.archive_dir}"', f"databases = {list((databases or {}).get(name, []))!r}"]
    path = directory / "policy.toml"
    path.write_text("\n".join(lines).replace("'", '"') + "\n" + extra)
    return path
