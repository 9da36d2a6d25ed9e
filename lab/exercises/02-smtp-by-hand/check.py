"""Exercise 2: X speaks SMTP to A by hand (openssl s_client), then with swaks."""

import re

from lab import maillog
from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_A, X, Y
from lab.i18n import _


def auth_only_after_tls(ev: Evidence) -> Result:
    value = ev.postconf(PROVIDER_A.service, "smtpd_tls_auth_only")
    setting = f"smtpd_tls_auth_only = {value}"
    if value == "yes":
        return passed(_("A's setting: {setting}").format(setting=setting))
    return failed(_("{setting} on provider-a (expected yes)").format(setting=setting))


def tls_session_from_x(ev: Evidence) -> Result:
    x_ip = ev.settings.address("client-x", PROVIDER_A.access_network)
    lines = [line for line in ev.log(PROVIDER_A.service) if line.program == "postfix/submission/smtpd"
             and "TLS connection established from" in line.text and f"[{x_ip}]" in line.text]
    return passed(_("A's log: {line}").format(line=lines[-1].text[:90])) if lines else failed(
        _("A's log shows no TLS session from X on port 587"))


def failed_login(ev: Evidence) -> Result:
    x_ip = ev.settings.address("client-x", PROVIDER_A.access_network)
    refused = [f for f in maillog.auth_failures(list(ev.log(PROVIDER_A.service)))
               if f.program == "postfix/submission/smtpd"]
    if any(f.address == x_ip for f in refused):
        return passed(_("A refused a login from X's machine ({address}) on port 587").format(address=x_ip))
    if refused:
        return failed(_("A's log shows no failed login from X's machine (only from others: {address})")
                      .format(address=refused[-1].address))
    return failed(_("A's log shows no failed login from X's machine"))


def in_y_mailbox(predicate, missing: str):
    """A step passed by a message from X in Y's mailbox; `missing` says what is not there."""
    def test(ev: Evidence) -> Result:
        for message in ev.mailbox(Y):
            head = message.split(b"\n\n", 1)[0].decode(errors="replace")
            if re.search(rf"^From:.*\b{re.escape(X)}", head, re.M | re.I) and predicate(head):
                subject = re.search(r"^Subject:(.*)$", head, re.M | re.I)
                if subject:
                    return passed(_("in Y's mailbox: {header}").format(header=f"Subject:{subject.group(1)}"))
                return passed(_("in Y's mailbox, with no Subject: line"))
        return failed(missing)
    return test


def by_hand(head: str) -> bool:
    return bool(re.search(r"^Subject:.*by hand", head, re.M | re.I)) and "X-Mailer: swaks" not in head


def by_swaks(head: str) -> bool:
    return "X-Mailer: swaks" in head


STEPS = [
    Step(_("A accepts a password only inside TLS (smtpd_tls_auth_only)"), auth_only_after_tls,
         _("`lab reset` restores provider-a's settings")),
    Step(_("X opened a TLS session to A's submission port"), tls_session_from_x,
         _("in client-x: openssl s_client -starttls smtp -connect smtp.provider-a.test:587 -crlf -quiet")),
    Step(_("You saw A refuse a wrong password (535)"), failed_login,
         _("in the s_client session, try AUTH PLAIN with a token made from a wrong password")),
    Step(_("A message you typed by hand (Subject: ... by hand) reached Y's mailbox"),
         in_y_mailbox(by_hand, _("Y's mailbox holds no message from X with \"by hand\" in its subject (typed "
                                 "without swaks)")),
         _("type MAIL FROM, RCPT TO, DATA, the header lines with Subject: Exercise 2 by hand, "
           "a blank line, text, and a line with a single dot")),
    Step(_("A message sent with swaks reached Y's mailbox"),
         in_y_mailbox(by_swaks, _("Y's mailbox holds no message sent by swaks")),
         _("in client-x: swaks --server smtp.provider-a.test:587 --tls --auth-user x@provider-a.test "
           "--auth-password ... --from x@provider-a.test --to y@provider-b.test")),
]
