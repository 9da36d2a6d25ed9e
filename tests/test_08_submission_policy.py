"""The submission ports (587, and 465 with the same rules) serve customers only: TLS,
then AUTH; a customer may send only as themselves, to a limited number of recipients,
messages of limited size."""

from __future__ import annotations

import time

import pytest

from lab.config import PROVIDER_A, X2, X, Y
from tests.harness import SUBMISSION_TLS, make_message, new_helo, refusals, submit, swaks, wait_until
from tests.rawsession import STARTTLS, auth_plain, raw_session

SMTP_A = PROVIDER_A.smtp
EHLO = b"EHLO client.example\r\n"


def login_steps(user: str, password: str) -> list[bytes | str]:
    return [EHLO, b"STARTTLS\r\n", STARTTLS, EHLO, auth_plain(user, password)]


def test_auth_before_starttls_is_not_accepted(client_x, settings):
    session = raw_session(client_x, SMTP_A, 587, [EHLO, auth_plain(X, settings.password(X))])
    assert "250-STARTTLS" in session.replies[0] and "AUTH" not in session.replies[0]
    assert session.replies[1] == "530 5.7.0 Must issue a STARTTLS command first\r\n"


@pytest.mark.parametrize("user", [X, "nobody@provider-a.test"])
def test_wrong_password_and_unknown_user_look_alike(client_x, user):
    """Same 535 reply either way: a guesser learns nothing about which accounts exist."""
    session = raw_session(client_x, SMTP_A, 587, login_steps(user, "wrong-password"))
    assert session.replies[-1] == "535 5.7.8 Error: authentication failed: (reason unavailable)\r\n"


@pytest.mark.parametrize("port", sorted(SUBMISSION_TLS))
@pytest.mark.parametrize("sender", [Y, X2, "postmaster@provider-a.test"])
def test_x_may_send_only_as_x(client_x, provider_a, settings, sender, port):
    message, helo, started = make_message(sender, Y), new_helo("forged-sender"), time.time()
    session = swaks(client_x, "--server", SMTP_A, "--port", str(port), SUBMISSION_TLS[port],
                    "--auth", "PLAIN", "--auth-user", X, "--auth-password", settings.password(X),
                    "--from", sender, "--to", Y, message=message.as_bytes(), helo=helo)
    assert session.reply("RCPT") == (
        f"553 5.7.1 <{sender}>: Sender address rejected: not owned by user {X}"
    )
    [refused] = refusals(provider_a, helo, started)  # A's log: this session, refused at RCPT
    assert f"from=<{sender}> to=<{Y}>" in refused and "not owned by user" in refused
    assert message["Message-ID"] not in provider_a.log(since=started - 1)


def test_recipients_per_message_are_capped(client_x, settings):
    cap = settings.max_recipients
    rcpts = [f"RCPT TO:<y+{i}@provider-b.test>\r\n".encode() for i in range(cap + 1)]
    session = raw_session(client_x, SMTP_A, 587, [
        *login_steps(X, settings.password(X)), b"MAIL FROM:<x@provider-a.test>\r\n", *rcpts,
        b"RSET\r\n", b"QUIT\r\n",
    ])
    first = 5  # replies before the first RCPT: EHLO, STARTTLS, EHLO, AUTH, MAIL
    rcpt_replies = session.replies[first:first + cap + 1]
    assert all(r.startswith("250 2.1.5") for r in rcpt_replies[:cap])
    assert rcpt_replies[cap] == "452 4.5.3 Error: too many recipients\r\n"


def test_recipients_per_client_and_minute_are_capped(outsider, settings, provider_a):
    """Past MAX_RECIPIENTS_PER_MINUTE, a logged-in client is told to wait. Run from the
    outsider (a customer may log in from anywhere) so that X's address stays unthrottled,
    after a Postfix reload: the rate is counted per client and minute by anvil, which the
    reload restarts, so no earlier session from that address counts against this one."""
    provider_a.run("postfix", "reload")
    wait_until(lambda: "reload -- version" in provider_a.log(tail=5), "A's reload")
    per_minute, per_message = settings.max_recipients_per_minute, settings.max_recipients
    transaction = [b"MAIL FROM:<x2@provider-a.test>\r\n",
                   *[b"RCPT TO:<y@provider-b.test>\r\n"] * per_message, b"RSET\r\n"]
    rounds = per_minute // per_message + 1
    session = raw_session(outsider, SMTP_A, 587,
                          [*login_steps(X2, settings.password(X2)), *transaction * rounds, b"QUIT\r\n"])
    refused = [r for r in session.answered if r.startswith("450 ")]
    assert refused, session.replies[-5:]
    assert refused[0] == (
        f"450 4.7.1 Error: too many recipients from {settings.address('outsider')}\r\n"
    )
    accepted = sum(r.startswith("250 2.1.5") for r in session.answered)
    assert accepted == per_minute


def test_declared_oversize_is_refused_at_mail(client_x, settings):
    too_big = settings.max_message_bytes + 1
    session = raw_session(client_x, SMTP_A, 587, [
        *login_steps(X, settings.password(X)), f"MAIL FROM:<{X}> SIZE={too_big}\r\n".encode(),
    ])
    assert session.replies[-1] == "552 5.3.4 Message size exceeds fixed limit\r\n"


def test_oversize_message_is_refused_after_data(client_x, provider_a, provider_b, settings):
    message = make_message(X, Y, subject="too big", body="x" * 76 + "\n")
    padding = ("y" * 76 + "\n") * (settings.max_message_bytes // 77 + 1)
    message.set_content(padding, charset="utf-8", cte="8bit")
    session = submit(client_x, X, settings.password(X), Y, message)
    assert session.data_reply == "552 5.3.4 Error: message file too big"
    assert provider_a.queue() == []
    assert provider_b.messages_with(Y, message["Message-ID"]) == []


def test_a_message_just_under_the_limit_goes_through(client_x, provider_b, settings):
    message = make_message(X, Y, subject="just under the limit")
    headers = len(message.as_bytes())
    lines = (settings.max_message_bytes - headers - 8192) // 78  # 76 + CRLF; 8 KB for Received:
    message.set_content(("z" * 76 + "\n") * lines, charset="utf-8", cte="8bit")
    assert settings.max_message_bytes - 16384 < len(message.as_bytes()) < settings.max_message_bytes
    session = submit(client_x, X, settings.password(X), Y, message)
    assert session.data_reply.startswith("250 2.0.0 Ok: queued as")
    wait_until(lambda: provider_b.messages_with(Y, message["Message-ID"]), "the large message at Y")
    provider_b.empty_mailbox(Y)
