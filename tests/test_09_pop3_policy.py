"""POP3 gives nothing away: no login before TLS, one answer for every failed login, and
plain errors for messages that are not there."""

import pytest

from lab.config import PROVIDER_B, Y
from tests.rawsession import pop3, pop3_login

POP_B = PROVIDER_B.pop
NO_CLEARTEXT = "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."


def test_user_and_pass_before_stls_are_refused(client_y, settings):
    _greeting, user, password, quit_ = pop3(
        client_y, POP_B, [f"USER {Y}", f"PASS {settings.password(Y)}", "QUIT"], tls="none")
    assert user.reply == NO_CLEARTEXT
    assert password.reply == NO_CLEARTEXT
    assert quit_.ok


@pytest.mark.parametrize("user", [Y, "nobody@provider-b.test"])
def test_wrong_password_and_unknown_user_look_alike(client_y, user):
    *_, password, _quit = pop3(client_y, POP_B, [*pop3_login(user, "wrong-password"), "QUIT"])
    assert password.reply == "-ERR [AUTH] Authentication failed."


@pytest.mark.parametrize("command", ["RETR 99", "DELE 99", "TOP 99 0", "LIST 99"])
def test_a_message_that_does_not_exist(client_y, settings, command):
    *_, reply, stat, quit_ = pop3(client_y, POP_B, [*pop3_login(Y, settings.password(Y)), command,
                                                   "STAT", "QUIT"])
    assert reply.reply == "-ERR There's no message 99."
    assert stat.ok and quit_.ok  # the session goes on
