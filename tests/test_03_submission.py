"""Step 2: X hands a message to A's SMTP server: port 587, STARTTLS first, then AUTH."""

from lab.config import PROVIDER_A, X, Y
from tests.harness import make_message, submit, swaks

SMTP_A = PROVIDER_A.smtp


def test_x_submits_with_starttls_and_auth(client_x, settings):
    session = submit(client_x, X, settings.password(X), Y)
    assert session.reply("AUTH").startswith("235 2.7.0")
    assert session.reply("MAIL").startswith("250 ")
    assert session.reply("RCPT").startswith("250 ")
    assert session.data_reply.startswith("250 2.0.0 Ok: queued as ")


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


def test_relay_without_auth_is_refused(client_x, provider_a):
    message = make_message(X, Y)
    session = swaks(client_x, "--server", SMTP_A, "--port", "587", "--tls",
                    "--from", X, "--to", Y, message=message.as_bytes())
    assert session.reply("RCPT") == f"554 5.7.1 <{Y}>: Relay access denied"
    assert message["Message-ID"] not in provider_a.log()


def test_wrong_password_gets_535(client_x):
    session = swaks(client_x, "--server", SMTP_A, "--port", "587", "--tls", "--auth", "PLAIN",
                    "--auth-user", X, "--auth-password", "not-the-password", "--quit-after", "AUTH")
    assert session.reply("AUTH").startswith("535 5.7.8 Error: authentication failed")
