"""Step 2: X hands a message to A's SMTP server: port 587, STARTTLS first, then AUTH."""

import time

from lab.config import PROVIDER_A, X, Y
from tests.harness import client_in_log, make_message, new_helo, refusals, submit, swaks, wait_until

SMTP_A = PROVIDER_A.smtp


def test_x_submits_with_starttls_and_auth(client_x, provider_b, settings):
    message = make_message(X, Y, subject="submitted with STARTTLS and AUTH")
    session = submit(client_x, X, settings.password(X), Y, message)
    assert session.reply("AUTH").startswith("235 2.7.0")
    assert session.reply("MAIL").startswith("250 ")
    assert session.reply("RCPT").startswith("250 ")
    assert session.data_reply.startswith("250 2.0.0 Ok: queued as ")
    # It arrives; then it is taken away again, so that no other test counts it.
    mid = message["Message-ID"]
    wait_until(lambda: provider_b.messages_with(Y, mid), f"{mid} in Y's mailbox")
    provider_b.delete_message(Y, mid)
    assert provider_b.messages_with(Y, mid) == []


def test_certificate_verifies_against_the_lab_ca(client_x):
    done = client_x.run(
        "openssl", "s_client", "-starttls", "smtp", "-connect", f"{SMTP_A}:587",
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


def test_mail_before_starttls_is_refused(client_x):
    session = swaks(client_x, "--server", SMTP_A, "--port", "587", "--from", X, "--to", Y,
                    "--quit-after", "MAIL")
    assert session.reply("MAIL").startswith("530 5.7.0 Must issue a STARTTLS command first")


def test_relay_without_auth_is_refused(client_x, provider_a, settings):
    message, helo, started = make_message(X, Y), new_helo("no-auth"), time.time()
    session = swaks(client_x, "--server", SMTP_A, "--port", "587", "--tls",
                    "--from", X, "--to", Y, message=message.as_bytes(), helo=helo)
    assert session.reply("RCPT") == f"554 5.7.1 <{Y}>: Relay access denied"
    assert "DATA" not in [sent for sent, _ in session.exchanges]  # swaks gave up: nothing to send
    # A's own account of this session: refused at RCPT, and the message never reached it.
    [refused] = refusals(provider_a, helo, started)
    assert f"reject: RCPT from {client_in_log(settings, 'client-x')}:" in refused
    assert "554 5.7.1" in refused and f"to=<{Y}>" in refused
    assert message["Message-ID"] not in provider_a.log(since=started - 1)


def test_wrong_password_gets_535(client_x):
    session = swaks(client_x, "--server", SMTP_A, "--port", "587", "--tls", "--auth", "PLAIN",
                    "--auth-user", X, "--auth-password", "not-the-password", "--quit-after", "AUTH")
    assert session.reply("AUTH").startswith("535 5.7.8 Error: authentication failed")
