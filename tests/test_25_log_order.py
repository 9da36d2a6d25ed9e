"""The log parser against the order Dovecot really writes in: a short POP3 session
typed in one go can be logged out by its pop3 process before the login process logs
its "Login:" line. Twice in clean-clone runs, a check then missed a retrieval the
learner had made (exercise 8's POP3 RETR, exercise 14's IMAP FETCH). The lines are
those of the failed run, as `docker logs --timestamps` gave them."""

from __future__ import annotations

from lab import maillog

SESSION = "c1fnn2lh4ocKXAFk"
LINES = "\n".join([
    f"2026-11-29T12:42:22.101000000Z Nov 29 12:42:22 pop3(x@provider-a.test)<1224><{SESSION}>: Info: "
    "flag_change: box=INBOX, uid=5, msgid=<20261129124220.7828CFA329@mx.provider-b.test>, size=5707, "
    "flags=(\\Seen \\Recent)",
    f"2026-11-29T12:42:22.102000000Z Nov 29 12:42:22 pop3(x@provider-a.test)<1224><{SESSION}>: Info: "
    "Disconnected: Logged out top=0/0, retr=1/5842, del=0/1, size=5825",
    "2026-11-29T12:42:22.103000000Z Nov 29 12:42:22 pop3-login: Info: Login: user=<x@provider-a.test>, "
    f"method=PLAIN, rip=10.92.1.100, lip=10.92.0.10, mpid=1224, TLS, session=<{SESSION}>",
])


def test_a_session_logged_out_before_its_login_line_still_counts():
    [session] = maillog.read_sessions(maillog.parse(LINES))
    assert (session.user, session.protocol, session.tls, session.address) == (
        "x@provider-a.test", "pop3", True, "10.92.1.100")
    assert (session.retrieved, session.deleted, session.topped) == (1, 0, 0)
    assert session.ended > 0
    [seen] = maillog.mailbox_events(maillog.parse(LINES))
    assert (seen.event, seen.session) == ("seen", SESSION)  # the read ties to the session by id
