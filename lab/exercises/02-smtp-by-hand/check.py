"""Exercise 2: X speaks SMTP to A by hand (openssl s_client), then with swaks."""

import re

from lab import maillog
from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_A, X, Y


def auth_only_after_tls(ev: Evidence) -> Result:
    value = ev.postconf(PROVIDER_A.service, "smtpd_tls_auth_only")
    return passed("smtpd_tls_auth_only = yes") if value == "yes" else failed(
        f"smtpd_tls_auth_only = {value} on provider-a (expected yes)")


def tls_session_from_x(ev: Evidence) -> Result:
    x_ip = ev.settings.address("client-x", PROVIDER_A.access_network)
    lines = [line for line in ev.log(PROVIDER_A.service) if line.program == "postfix/submission/smtpd"
             and "TLS connection established from" in line.text and f"[{x_ip}]" in line.text]
    return passed(lines[-1].text[:90]) if lines else failed("A's log shows no TLS session from X on port 587")


def failed_login(ev: Evidence) -> Result:
    x_ip = ev.settings.address("client-x", PROVIDER_A.access_network)
    refused = [f for f in maillog.auth_failures(list(ev.log(PROVIDER_A.service)))
               if f.program == "postfix/submission/smtpd"]
    if any(f.address == x_ip for f in refused):
        return passed(f"A refused a login from X's machine ({x_ip}) on port 587")
    return failed("A's log shows no failed login from X's machine"
                  + (f" (only from others: {refused[-1].address})" if refused else ""))


def in_y_mailbox(predicate, what: str):
    def test(ev: Evidence) -> Result:
        for message in ev.mailbox(Y):
            head = message.split(b"\n\n", 1)[0].decode(errors="replace")
            if re.search(rf"^From:.*\b{re.escape(X)}", head, re.M | re.I) and predicate(head):
                subject = re.search(r"^Subject:(.*)$", head, re.M | re.I)
                return passed(f"Subject:{subject.group(1) if subject else ' (none)'}")
        return failed(f"Y's mailbox holds no {what}")
    return test


def by_hand(head: str) -> bool:
    return bool(re.search(r"^Subject:.*by hand", head, re.M | re.I)) and "X-Mailer: swaks" not in head


def by_swaks(head: str) -> bool:
    return "X-Mailer: swaks" in head


STEPS = [
    Step("A accepts a password only inside TLS (smtpd_tls_auth_only)", auth_only_after_tls,
         "`lab reset` restores provider-a's settings"),
    Step("X opened a TLS session to A's submission port", tls_session_from_x,
         "in client-x: openssl s_client -starttls smtp -connect smtp.provider-a.test:587 -crlf -quiet"),
    Step("You saw A refuse a wrong password (535)", failed_login,
         "in the s_client session, try AUTH PLAIN with a token made from a wrong password"),
    Step("A message you typed by hand (Subject: ... by hand) reached Y's mailbox",
         in_y_mailbox(by_hand, "message from X with \"by hand\" in its subject (typed without swaks)"),
         "type MAIL FROM, RCPT TO, DATA, the header lines with Subject: Exercise 2 by hand, "
         "a blank line, text, and a line with a single dot"),
    Step("A message sent with swaks reached Y's mailbox", in_y_mailbox(by_swaks, "message sent by swaks"),
         "in client-x: swaks --server smtp.provider-a.test:587 --tls --auth-user x@provider-a.test "
         "--auth-password ... --from x@provider-a.test --to y@provider-b.test"),
]
