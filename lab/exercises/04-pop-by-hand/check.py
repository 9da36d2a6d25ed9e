"""Exercise 4: Y asks B over POP3, by hand, whether mail has come."""

from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_B, Y

B = PROVIDER_B.service


def mail_arrived(ev: Evidence) -> Result:
    saved = ev.mailbox_events(B, Y, "saved")
    return passed(f"{len(saved)} message(s) saved for Y") if saved else failed(
        "no message has arrived in Y's mailbox since the last reset")


def typed_pop_by_hand(ev: Evidence) -> Result:
    found = ev.typed("client-y", r"openssl\s+s_client.*pop3|s_client.*-connect\s+\S+:(110|995)")
    return passed(found[-1]) if found else failed("no `openssl s_client ... pop3` typed in client-y")


def logged_in_with_tls(ev: Evidence) -> Result:
    sessions = [s for s in ev.pop_sessions(B, Y) if s.tls]
    return passed(f"{len(sessions)} TLS login(s) as {Y}") if sessions else failed(
        f"B's log shows no POP3 login as {Y}")


def retrieved(ev: Evidence) -> Result:
    done = [s for s in ev.pop_sessions(B, Y) if s.retrieved]
    if not done:
        return failed("no session has retrieved (RETR) a message")
    return passed(f"retr={done[-1].retrieved}")


def deleted(ev: Evidence) -> Result:
    gone = [e for e in ev.mailbox_events(B, Y, "expunged") if e.program == "pop3"]
    return passed(f"deleted {gone[-1].message_id}") if gone else failed(
        "no message was deleted over POP3 (DELE marks it; QUIT makes it so)")


def mailbox_empty(ev: Evidence) -> Result:
    left = len(ev.mailbox(Y))
    if left:
        return failed(f"Y's mailbox still holds {left} message(s)")
    return passed("STAT would say +OK 0 0")


STEPS = [
    Step("Mail for Y has arrived at B", mail_arrived, "send one from X to y@provider-b.test (exercise 2)"),
    Step("You spoke POP3 by hand from Y (openssl s_client)", typed_pop_by_hand,
         "in client-y: openssl s_client -starttls pop3 -connect pop.provider-b.test:110 -crlf -quiet"),
    Step("Y logged in to B, inside TLS", logged_in_with_tls, "type USER y@provider-b.test, then PASS ..."),
    Step("Y retrieved a message (RETR)", retrieved, "STAT, LIST, then RETR 1"),
    Step("Y deleted it (DELE, then QUIT)", deleted, "DELE 1, then QUIT: without QUIT nothing is deleted"),
    Step("Y's mailbox is empty now", mailbox_empty, "DELE every message, then QUIT"),
]
