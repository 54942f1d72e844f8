"""Owner labels of drill containers: cleanup removes a container only when the process that started it is gone,
and a reused pid (same number, another start time) does not count as that process."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from qfbackup.common.process import start_ticks
from qfbackup.drill.supervise import owner_alive, owner_token


def test_this_process_owns_its_token():
    token = owner_token()
    assert token == f"{socket.gethostname()}/{os.getpid()}/{start_ticks(os.getpid())}"
    assert owner_alive(token)


def test_a_finished_process_owns_nothing():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        token = owner_token(proc.pid)
        assert owner_alive(token)
    finally:
        proc.kill()
        proc.wait()
    assert not owner_alive(token)


def test_a_reused_pid_is_not_the_owner():
    host, pid, start = owner_token().split("/")
    assert not owner_alive(f"{host}/{pid}/{int(start) + 1}")


def test_another_hosts_containers_are_left_alone():
    assert owner_alive(f"not-{socket.gethostname()}/1/1")


@pytest.mark.parametrize("token", ["", "garbage", "a/b", f"{socket.gethostname()}/x/1", "HOST/1/?", "h/1/2/3"])
def test_malformed_or_unprovable_tokens_have_no_owner(token):
    token = token.replace("HOST", socket.gethostname())
    assert not owner_alive(token)
