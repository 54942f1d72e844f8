"""From the policy's ``[hosts.NAME]`` to an SSH session: one place that decides how qfbackup reaches a host."""

from __future__ import annotations

from qfbackup.remote.ssh import SshSession, SshTarget, connect_with_retry


def ssh_target(host) -> SshTarget:
    """``host`` is a policy Host (address, port, user, key_file, known_hosts, timeouts)."""
    return SshTarget(
        host=host.address,
        port=host.port,
        user=host.user,
        key_file=str(host.key_file),
        known_hosts=str(host.known_hosts),
        connect_timeout=host.connect_timeout,
        keepalive=host.keepalive,
    )


def open_session(policy, host_name: str) -> SshSession:
    return connect_with_retry(ssh_target(policy.host(host_name)))
