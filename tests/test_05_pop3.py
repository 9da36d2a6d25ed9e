"""Steps 5 and 6: Y asks B over POP3 whether mail has come (B never announces it) and
takes it home, byte for byte, Japanese subject and body included."""

import re

import pytest

from lab.config import PROVIDER_B, X, Y
from tests.harness import make_message, submit, wait_until
from tests.rawsession import pop3, pop3_login

POP_B = PROVIDER_B.pop
SUBJECT = "メールのしくみ: POP で受け取る"
BODY = "Y さんへ\nプロバイダ B のメールボックスに届きました。\n"
# B's trace and verdicts, and A's signature (all that providers add in front)
TRACE_HEADERS = ("Return-Path:", "Delivered-To:", "Received:", "Authentication-Results:", "Received-SPF:",
                 "DKIM-Signature:", "\t", " ")


@pytest.fixture
def y_login(settings) -> list[str]:
    return pop3_login(Y, settings.password(Y))


@pytest.fixture
def one_message_for_y(client_x, empty_y_mailbox, settings):
    """Y's mailbox holds exactly one message, from X, with Japanese text."""
    message = make_message(X, Y, subject=SUBJECT, body=BODY)
    submit(client_x, X, settings.password(X), Y, message)
    wait_until(lambda: empty_y_mailbox.messages_with(Y, message["Message-ID"]), "the message in Y's Maildir")
    return message.as_bytes()


def test_empty_mailbox_is_a_normal_answer(client_y, empty_y_mailbox, y_login):
    replies = pop3(client_y, POP_B, [*y_login, "STAT", "LIST", "QUIT"])
    assert replies[-3].reply == "+OK 0 0"
    listing = replies[-2]
    assert listing.ok and listing.data == b""


def test_y_retrieves_the_message_byte_exact(client_y, one_message_for_y, y_login):
    sent = one_message_for_y
    greeting, stls, user, password, stat, listing, uidl, top, retr, dele, quit_ = pop3(
        client_y, POP_B, [*y_login, "STAT", "LIST", "UIDL", "TOP 1 0", "RETR 1", "DELE 1", "QUIT"]
    )
    assert greeting.reply.startswith("+OK")
    assert stls.ok and user.ok and password.reply.startswith("+OK Logged in")

    # The octet count B announces is the exact size of what RETR delivers: every line
    # ends in CRLF, none in a bare LF (raw bytes, only the dot-stuffing undone).
    size = len(retr.data)
    assert stat.reply == f"+OK 1 {size}"
    assert listing.data == f"1 {size}\r\n".encode()
    assert retr.reply == f"+OK {size} octets"
    assert re.fullmatch(rb"1 \S+\r\n", uidl.data)
    assert b"\n" not in retr.data.replace(b"\r\n", b"")

    # What B added in front of the message is only its trace (Return-Path, Received...).
    assert retr.data.endswith(sent)
    added = retr.data[: -len(sent)].decode()
    assert all(line.startswith(TRACE_HEADERS) for line in added.splitlines()), added
    assert "=?utf-8?" in retr.data.decode().lower()  # the subject travels MIME-encoded
    assert BODY.replace("\n", "\r\n").encode() in retr.data  # the body as 8-bit UTF-8

    headers = retr.data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert top.data == headers

    assert dele.ok and quit_.ok


def test_deleted_mail_is_gone_in_the_next_session(client_y, one_message_for_y, y_login):
    *_, stat, dele, quit_ = pop3(client_y, POP_B, [*y_login, "STAT", "DELE 1", "QUIT"])
    assert stat.reply.startswith("+OK 1 ") and dele.ok and quit_.ok
    assert pop3(client_y, POP_B, [*y_login, "STAT", "QUIT"])[-2].reply == "+OK 0 0"


def test_pop3s_on_995(client_y, y_login):
    replies = pop3(client_y, POP_B, [*y_login, "STAT", "QUIT"], tls="pop3s")
    assert replies[-3].reply.startswith("+OK Logged in")
    assert replies[-2].reply.startswith("+OK ")


def test_no_login_before_stls(client_y, y_login):
    _greeting, user, *_ = pop3(client_y, POP_B, [*y_login, "QUIT"], tls="none")
    assert user.reply == (
        "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
    )
