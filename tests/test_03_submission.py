"""Step 2: X hands a message to A's SMTP server: port 587, STARTTLS first, then AUTH; or
port 465, TLS from the first byte (RFC 8314), then AUTH."""

import time

import pytest

from lab.config import PROVIDER_A, X, Y
from tests.harness import (
    SUBMISSION_TLS,
    client_in_log,
    make_message,
    new_helo,
    refusals,
    submit,
    swaks,
    wait_until,
)
from tests.rawsession import raw_session

SMTP_A = PROVIDER_A.smtp
PORTS = pytest.mark.parametrize("port", sorted(SUBMISSION_TLS))


@PORTS
def test_x_submits_with_tls_and_auth(client_x, provider_b, settings, port):
    message = make_message(X, Y, subject=f"submitted on {port} with TLS and AUTH")
    session = submit(client_x, X, settings.password(X), Y, message, port=port)
    assert session.reply("AUTH").startswith("235 2.7.0")
    assert session.reply("MAIL").startswith("250 ")
    assert session.reply("RCPT").startswith("250 ")
    assert session.data_reply.startswith("250 2.0.0 Ok: queued as ")
    # It arrives; then it is taken away again, so that no other test counts it.
    mid = message["Message-ID"]
    wait_until(lambda: provider_b.messages_with(Y, mid), f"{mid} in Y's mailbox")
    provider_b.delete_message(Y, mid)
    assert provider_b.messages_with(Y, mid) == []


@PORTS
def test_certificate_verifies_against_the_lab_ca(client_x, port):
    starttls = ["-starttls", "smtp"] if port == 587 else []
    done = client_x.run(
        "openssl", "s_client", *starttls, "-connect", f"{SMTP_A}:{port}",
        "-verify_hostname", SMTP_A, "-verify_return_error", "-brief", input=b"QUIT\r\n",
    )
    out = done.stdout.decode() + done.stderr.decode()
    assert "Verification: OK" in out, out


def test_no_auth_offered_before_starttls(client_x):
    session = swaks(client_x, "--server", SMTP_A, "--port", "587", "--quit-after", "EHLO")
    ehlo = session.ehlo_lines(0)
    assert "STARTTLS" in ehlo
    assert "AUTH" not in ehlo, ehlo


def test_auth_offered_after_starttls(client_x):
    session = swaks(client_x, "--server", SMTP_A, "--port", "587", "--tls", "--quit-after", "EHLO")
    assert "250-AUTH PLAIN LOGIN" in session.ehlo_lines(1)


def test_465_is_tls_from_the_first_byte(client_x):
    """Inside TLS at once: the greeting, then AUTH offered and no STARTTLS (nothing to
    upgrade). A client that speaks in clear gets no greeting at all."""
    session = raw_session(client_x, SMTP_A, 465, [b"EHLO client-x\r\n"], tls="implicit")
    assert session.greeting.startswith("220 ")
    assert "250-AUTH PLAIN LOGIN" in session.replies[0] and "STARTTLS" not in session.replies[0]
    listen = ("import socket, sys; s = socket.create_connection((sys.argv[1], 465), 5); s.settimeout(3); "
              "s.recv(100)")
    clear = client_x.run("python3", "-c", listen, SMTP_A, check=False)
    assert b"timed out" in clear.stderr, clear  # the server waits for a TLS hello


def test_mail_before_starttls_is_refused(client_x):
    session = swaks(client_x, "--server", SMTP_A, "--port", "587", "--from", X, "--to", Y,
                    "--quit-after", "MAIL")
    assert session.reply("MAIL").startswith("530 5.7.0 Must issue a STARTTLS command first")


@PORTS
def test_relay_without_auth_is_refused(client_x, provider_a, settings, port):
    message, helo, started = make_message(X, Y), new_helo("no-auth"), time.time()
    session = swaks(client_x, "--server", SMTP_A, "--port", str(port), SUBMISSION_TLS[port],
                    "--from", X, "--to", Y, message=message.as_bytes(), helo=helo)
    assert session.reply("RCPT") == f"554 5.7.1 <{Y}>: Relay access denied"
    assert "DATA" not in [sent for sent, _ in session.exchanges]  # swaks gave up: nothing to send
    # A's own account of this session: refused at RCPT, and the message never reached it.
    [refused] = refusals(provider_a, helo, started)
    assert f"reject: RCPT from {client_in_log(settings, 'client-x')}:" in refused
    assert "554 5.7.1" in refused and f"to=<{Y}>" in refused
    assert message["Message-ID"] not in provider_a.log(since=started - 1)


@PORTS
def test_wrong_password_gets_535(client_x, port):
    session = swaks(client_x, "--server", SMTP_A, "--port", str(port), SUBMISSION_TLS[port],
                    "--auth", "PLAIN", "--auth-user", X, "--auth-password", "not-the-password",
                    "--quit-after", "AUTH")
    assert session.reply("AUTH").startswith("535 5.7.8 Error: authentication failed")
