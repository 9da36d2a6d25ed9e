"""Bad input gets a protocol error (or, after too many errors, a clean disconnect),
nothing partial is delivered, and the next well-behaved client is served normally.

Each case is one connection: steps sent one at a time, a regex for the last reply the
server gave, and whether the server hangs up. Every message body sent carries a
Message-ID (MARKER) that must never arrive; a message refused for bare LF ends the
transaction, not the session, and a well-formed message sent next on the same session
(CONTROL) does arrive: the proof that "never arrived" was looked for where it would be.
A client that vanishes mid-DATA is found in the server's log by its own port."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest

from lab.config import PROVIDER_A, PROVIDER_B, X, Y
from tests.harness import client_in_log, new_message_id, settle, wait_until
from tests.rawsession import STARTTLS, auth_plain, raw_session

SMTP_A, MX_A, POP_A, IMAP_A = PROVIDER_A.smtp, PROVIDER_A.mx, PROVIDER_A.pop, PROVIDER_A.imap
EHLO = b"EHLO client.example\r\n"
MARKER = new_message_id("bad-input")  # in every bad message body sent here: none may arrive
CONTROL = new_message_id("well-formed")  # a good message after a refused one: it arrives


def envelope(rcpt: str = X) -> list[bytes]:
    return [EHLO, b"MAIL FROM:<someone@nowhere.example>\r\n", f"RCPT TO:<{rcpt}>\r\n".encode()]


def body(text: bytes, message_id: str = MARKER) -> bytes:
    return b"Message-ID: " + message_id.encode() + b"\r\nSubject: bad input\r\n\r\n" + text


def well_formed(rcpt: str, sender: str = "x@provider-a.test") -> list[bytes]:
    """A complete, correct transaction with the CONTROL Message-ID. (On port 25 X's
    machine is a stranger: x@provider-a.test from its address would fail SPF.)"""
    return [f"MAIL FROM:<{sender}>\r\n".encode(), f"RCPT TO:<{rcpt}>\r\n".encode(), b"DATA\r\n",
            body(b"a proper line\r\n", CONTROL) + b"\r\n.\r\n"]


@dataclass
class Case:
    port: int
    steps: list[bytes | str]
    expect: str  # regex for the last reply (or the greeting, if no step is answered)
    closed: bool = False  # the server must hang up
    pregreet: bool = False
    hangup: bytes | None = None
    login: bool = False  # 587: STARTTLS and AUTH as X first


BARE_LF = r"550 5\.5\.2 mx\.provider-a\.test Error: bare <LF> received\r\n"
TOO_MANY_ERRORS = r"(.*\r\n)?421 4\.7\.0 mx\.provider-a\.test Error: too many errors\r\n"
SMTP_CASES = {
    "bare LF ending a command": Case(25, [b"EHLO client.example\n"], BARE_LF, closed=True),
    "bare LF inside DATA": Case(25, [*envelope(), b"DATA\r\n",
                                     body(b"line one\nline two\n.\n") + b"\r\n.\r\n"], BARE_LF),
    "bare LF inside DATA, then a good message": Case(
        25, [*envelope(), b"DATA\r\n", body(b"line one\nline two\n.\n") + b"\r\n.\r\n",
             *well_formed(X, "someone@nowhere.example")],
        r"250 2\.0\.0 Ok: queued as [0-9A-F]+\r\n"),
    "NUL in an address": Case(25, [EHLO, b"MAIL FROM:<some\x00one@nowhere.example>\r\n"],
                              r"501 5\.1\.7 Bad sender address syntax\r\n"),
    "command line of 3000 octets": Case(25, [EHLO, b"X" * 3000 + b"\r\n"],
                                        r"500 5\.5\.2 Error: command not recognized\r\n"),
    "address of 3000 octets": Case(25, [EHLO, b"MAIL FROM:<" + b"a" * 3000 + b"@nowhere.example>\r\n"],
                                   r"501 5\.1\.7 Bad sender address syntax\r\n"),
    "unknown command": Case(25, [EHLO, b"MAKE MONEY FAST\r\n"],
                            r"500 5\.5\.2 Error: command not recognized\r\n"),
    "DATA before MAIL": Case(25, [EHLO, b"DATA\r\n"], r"503 5\.5\.1 Error: need RCPT command\r\n"),
    "DATA before RCPT": Case(25, [EHLO, b"MAIL FROM:<someone@nowhere.example>\r\n", b"DATA\r\n"],
                             r"554 5\.5\.1 Error: no valid recipients\r\n"),
    "RCPT before MAIL": Case(25, [EHLO, b"RCPT TO:<x@provider-a.test>\r\n"],
                             r"503 5\.5\.1 Error: need MAIL command\r\n"),
    "talking before the greeting": Case(25, [EHLO + b"MAIL FROM:<someone@nowhere.example>\r\n"],
                                        r"554 5\.5\.0 Error: SMTP protocol synchronization\r\n",
                                        closed=True, pregreet=True),
    "sender without closing bracket": Case(25, [EHLO, b"MAIL FROM:<someone@nowhere.example\r\n"],
                                           r"501 5\.1\.7 Bad sender address syntax\r\n"),
    "recipient with a space": Case(25, [EHLO, b"MAIL FROM:<someone@nowhere.example>\r\n",
                                        b"RCPT TO:<x y@provider-a.test>\r\n"],
                                   r"501 5\.1\.3 Bad recipient address syntax\r\n"),
    "non-ASCII address without SMTPUTF8": Case(
        25, [EHLO, "MAIL FROM:<送信者@nowhere.example>\r\n".encode()],
        r"553 5\.6\.7 Must declare SMTPUTF8 to send unicode address\r\n"),
    "a flood of bad commands": Case(25, [EHLO, *[b"GIMME\r\n"] * 12],
                                    TOO_MANY_ERRORS, closed=True),
    "hanging up in the middle of DATA": Case(25, [*envelope(), b"DATA\r\n"], r"354 .*\r\n",
                                             hangup=body(b"half a mess")),
    # Submission: the same rules, before and after STARTTLS + AUTH.
    "587: bare LF ending a command": Case(587, [b"EHLO client.example\n"], BARE_LF, closed=True),
    "587: unknown command": Case(587, [EHLO, b"MAKE MONEY FAST\r\n"],
                                 r"500 5\.5\.2 Error: command not recognized\r\n"),
    "587: MAIL before STARTTLS": Case(587, [EHLO, b"MAIL FROM:<x@provider-a.test>\r\n"],
                                      r"530 5\.7\.0 Must issue a STARTTLS command first\r\n"),
    "587: talking before the greeting": Case(587, [EHLO + b"STARTTLS\r\n"],
                                             r"554 5\.5\.0 Error: SMTP protocol synchronization\r\n",
                                             closed=True, pregreet=True),
    "587: NUL in an address": Case(587, [b"MAIL FROM:<x\x00@provider-a.test>\r\n"],
                                   r"501 5\.1\.7 Bad sender address syntax\r\n", login=True),
    "587: DATA before RCPT": Case(587, [b"MAIL FROM:<x@provider-a.test>\r\n", b"DATA\r\n"],
                                  r"554 5\.5\.1 Error: no valid recipients\r\n", login=True),
    "587: RCPT before MAIL": Case(587, [b"RCPT TO:<y@provider-b.test>\r\n"],
                                  r"503 5\.5\.1 Error: need MAIL command\r\n", login=True),
    "587: recipient with a space": Case(587, [b"MAIL FROM:<x@provider-a.test>\r\n",
                                              b"RCPT TO:<y y@provider-b.test>\r\n"],
                                        r"501 5\.1\.3 Bad recipient address syntax\r\n", login=True),
    "587: non-ASCII address without SMTPUTF8": Case(
        587, [b"MAIL FROM:<x@provider-a.test>\r\n", "RCPT TO:<受信者@provider-b.test>\r\n".encode()],
        r"553 5\.6\.7 Must declare SMTPUTF8 to send unicode address\r\n", login=True),
    "587: bare LF inside DATA": Case(587, [b"MAIL FROM:<x@provider-a.test>\r\n",
                                           b"RCPT TO:<y@provider-b.test>\r\n", b"DATA\r\n",
                                           body(b"line one\n.\n") + b"\r\n.\r\n"], BARE_LF,
                                     login=True),
    "587: bare LF inside DATA, then a good message": Case(
        587, [b"MAIL FROM:<x@provider-a.test>\r\n", b"RCPT TO:<y@provider-b.test>\r\n", b"DATA\r\n",
              body(b"line one\n.\n") + b"\r\n.\r\n", *well_formed(Y)],
        r"250 2\.0\.0 Ok: queued as [0-9A-F]+\r\n", login=True),
    "587: hanging up in the middle of DATA": Case(587, [b"MAIL FROM:<x@provider-a.test>\r\n",
                                                        b"RCPT TO:<y@provider-b.test>\r\n", b"DATA\r\n"],
                                                  r"354 .*\r\n", hangup=body(b"half a mess"), login=True),
    "587: a flood of bad commands": Case(587, [EHLO, *[b"GIMME\r\n"] * 12],
                                         TOO_MANY_ERRORS,
                                         closed=True),
}

POP3_CASES = {
    "unknown command": Case(110, [b"MAKE MONEY FAST\r\n"], r"-ERR Unknown command\.\r\n"),
    "NUL in a command": Case(110, [b"\x00USER x\r\n"], r"-ERR Unknown command\.\r\n"),
    "line of 5000 octets": Case(110, [b"USER " + b"a" * 5000 + b"\r\n"],
                                r"-ERR Input buffer full, aborting\r\n", closed=True),
    "RETR before logging in": Case(110, [b"RETR 1\r\n"], r"-ERR Unknown command\.\r\n"),
    "DELE before logging in": Case(110, [b"DELE 1\r\n"], r"-ERR Unknown command\.\r\n"),
    "PASS before USER": Case(110, [b"STLS\r\n", STARTTLS, b"PASS secret\r\n"],
                             r"-ERR No username given\.\r\n"),
    "a flood of bad commands": Case(110, [b"GIMME\r\n"] * 12,
                                    r"(.*\r\n)?-ERR Too many invalid bad commands\.\r\n", closed=True),
    # Dovecot takes a bare LF as a line end (RFC 1939 says CRLF): it is not an error in
    # POP3, where nothing is relayed, so nothing can be smuggled.
    "bare LF ending a command": Case(110, [b"NOOP\n"], r"-ERR Unknown command\.\r\n"),
}

IMAP_BAD = r"a1 BAD Error in IMAP command received by server\.\r\n"  # before login, one answer to all
IMAP_CASES = {
    "unknown command": Case(143, [b"a1 MAKE MONEY FAST\r\n"], IMAP_BAD),
    "SELECT before logging in": Case(143, [b"a1 SELECT INBOX\r\n"], IMAP_BAD),
    "NUL in a command": Case(143, [b"a1 NO\x00OP\r\n"], IMAP_BAD),
    # The server takes the 5 bytes announced, whatever they are ("ab", CRLF and "a" of the
    # next command), and the rest of that line as more arguments: one bad command.
    "a literal that says more than it brings": Case(
        143, [b"a0 STARTTLS\r\n", STARTTLS, b"a1 LOGIN {5}\r\n", b"ab\r\na2 NOOP\r\n"], IMAP_BAD),
    "a literal of a gigabyte": Case(143, [b"a1 LOGIN {1000000000}\r\n"], r"\* BYE Literal size too large\r\n",
                                    closed=True),
    "line of 9000 octets": Case(143, [b"a1 LOGIN " + b"a" * 9000 + b"\r\n"],
                                r"\* BYE Input buffer full, aborting\r\n", closed=True),
    "a flood of bad commands": Case(143, [b"a1 GIMME\r\n"] * 25,
                                    r"(.*\r\n)?\* BYE Too many invalid IMAP commands\.\r\n", closed=True),
}
PROTOCOL = {25: "smtp", 587: "smtp", 110: "pop3", 143: "imap"}


def run_case(case: Case, client, settings):
    host = {25: MX_A, 587: SMTP_A, 110: POP_A, 143: IMAP_A}[case.port]
    steps = case.steps
    if case.login:
        steps = [EHLO, b"STARTTLS\r\n", STARTTLS, EHLO, auth_plain(X, settings.password(X)), *steps]
    return raw_session(client, host, case.port, steps, pregreet=case.pregreet, hangup=case.hangup,
                       protocol=PROTOCOL[case.port])


def assert_still_serving(client, port: int) -> None:
    host = {25: MX_A, 587: SMTP_A, 110: POP_A, 143: IMAP_A}[port]
    if port == 143:
        session = raw_session(client, host, port, [b"a1 CAPABILITY\r\n"], protocol="imap")
        assert session.greeting.startswith("* OK") and session.replies[0].endswith(
            "a1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n")
    elif port == 110:
        session = raw_session(client, host, port, [b"CAPA\r\n"], protocol="pop3")
        assert session.greeting.startswith("+OK") and session.replies[0].startswith("+OK")
    else:
        session = raw_session(client, host, port, [EHLO])
        assert session.greeting.startswith("220 ") and session.replies[0].startswith("250-")
    assert not session.closed and session.quit is not None


def recipient_mailbox(case: Case, container) -> tuple:
    """Where a message of this case would have gone: X's mailbox (25) or Y's (587)."""
    return (container(PROVIDER_A.service), X) if case.port == 25 else (container(PROVIDER_B.service), Y)


@pytest.mark.parametrize("name", [*SMTP_CASES, *(f"110: {n}" for n in POP3_CASES),
                                  *(f"143: {n}" for n in IMAP_CASES)])
def test_bad_input(name, client_x, settings, container):
    case = (SMTP_CASES.get(name) or POP3_CASES.get(name.removeprefix("110: "))
            or IMAP_CASES[name.removeprefix("143: ")])
    started = time.time()
    session = run_case(case, client_x, settings)
    assert re.fullmatch(case.expect, session.last, re.DOTALL), session.transcript[-600:]
    if case.hangup is None:
        assert session.closed == case.closed, session.transcript[-600:]
    else:  # the client dropped the line: the server noticed, for this very connection
        client = re.escape(client_in_log(settings, "client-x"))
        lost = re.compile(rf"lost connection after DATA \(\d+ bytes\) from {client}:"
                          rf"{session.local_port}$", re.MULTILINE)
        a = container(PROVIDER_A.service)
        wait_until(lambda: lost.search(a.log(since=started - 1)),
                   f"A noticing the lost connection ({session.local_port})")
    assert_still_serving(client_x, case.port)
    if case.port in (110, 143) or not any(isinstance(s, bytes) and MARKER.encode() in s
                                   for s in [*case.steps, case.hangup or b""]):
        return
    # A body was sent: nothing of it may arrive, once nothing is left on its way.
    provider, mailbox = recipient_mailbox(case, container)
    settle([container(PROVIDER_A.service), container(PROVIDER_B.service)], mailbox)
    assert provider.messages_with(mailbox, MARKER) == []
    if CONTROL.encode() in b"".join(s for s in case.steps if isinstance(s, bytes)):
        arrived = wait_until(lambda: provider.messages_with(mailbox, CONTROL), "the well-formed message")
        assert len(arrived) == 1
        provider.delete_message(mailbox, CONTROL)
