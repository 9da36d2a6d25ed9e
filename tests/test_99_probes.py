"""The suite's own probes: where they cannot see, they say so instead of reporting
"nothing" (a mailbox, a log, a server that does not answer). Every negative check in
the other files relies on this."""

from __future__ import annotations

import pytest

from lab.compose import LabError
from lab.config import PROVIDER_A, Y
from lab.mailbox import count_mailbox, read_mailbox
from tests.harness import Container
from tests.rawsession import raw_session


def test_a_mailbox_that_cannot_be_read_is_an_error_not_empty(lab, provider_b):
    with pytest.raises(LabError, match="User doesn't exist"):
        read_mailbox(provider_b.id, "nobody@provider-b.test")
    with pytest.raises(LabError, match="doveadm: not found"):
        count_mailbox(lab.container("client-y"), Y)  # not where mailboxes are
    assert isinstance(count_mailbox(provider_b.id, Y), int)  # where they are, it works


def test_the_log_of_a_container_that_is_gone_is_an_error():
    with pytest.raises(AssertionError, match="cannot read gone's log"):
        Container("gone", "no-such-container-0000").log()


def test_a_server_that_hangs_up_is_told_apart_from_one_that_answers(client_x):
    # POP3 hangs up after a line past its buffer: "closed", and no reply to our QUIT.
    hung_up = raw_session(client_x, PROVIDER_A.pop, 110, [b"USER " + b"a" * 5000 + b"\r\n"], protocol="pop3")
    assert hung_up.closed and hung_up.quit is None
    served = raw_session(client_x, PROVIDER_A.pop, 110, [b"CAPA\r\n"], protocol="pop3")
    assert not served.closed and served.quit == "+OK Logging out\r\n"


def test_a_silent_server_fails_the_probe(client_x):
    """A listener that accepts and never speaks is neither "closed" nor "no reply"."""
    client_x.run("sh", "-c", "nohup nc -l -p 2525 >/dev/null 2>&1 &")
    with pytest.raises(AssertionError, match="did not answer in time"):
        raw_session(client_x, "127.0.0.1", 2525, [b"EHLO x\r\n"])
