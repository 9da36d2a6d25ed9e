"""Exercise 8: ask for a delivery report (DSN NOTIFY=SUCCESS), and for a read receipt,
and see what each can and cannot prove."""

import re

from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_A, PROVIDER_B, X, Y

A, B = PROVIDER_A.service, PROVIDER_B.service


def report_sent(ev: Evidence) -> list[str]:
    """Queue ids (at B) of the delivery reports B sent about X's mail."""
    return [notice for m in ev.messages(B) if m.sender == X
            for _, kind, notice in m.notices if kind == "delivery status"]


def b_reported(ev: Evidence) -> Result:
    found = report_sent(ev)
    return passed(f"B's delivery report {found[-1]}") if found else failed(
        "B has sent no delivery report about a message of X (ask with NOTIFY=SUCCESS)")


def reached_x(ev: Evidence) -> list:
    return [m for m in ev.messages(A) if m.sender == "" and m.client_address == ev.settings.address(B)
            and any(a.recipient == X and a.status == "sent" for a in m.attempts)]


def report_in_x_mailbox(ev: Evidence) -> Result:
    found = reached_x(ev) if report_sent(ev) else []
    return passed(f"{found[-1].queue_id} delivered to X") if found else failed(
        "no delivery report has reached X's mailbox at A")


def x_read_it(ev: Evidence) -> Result:
    arrived = [m.removed or m.received for m in reached_x(ev)]
    reads = [s for s in ev.pop_sessions(A, X) if arrived and s.time > min(arrived) and s.retrieved]
    return passed(f"retr={reads[-1].retrieved}") if reads else failed(
        "X has not retrieved the report over POP3 since it came")


def receipt_requested(ev: Evidence) -> Result:
    for message in ev.mailbox(Y):
        head = message.split(b"\n\n", 1)[0].decode(errors="replace")
        if re.search(r"^Disposition-Notification-To:", head, re.M | re.I):
            return passed("Y's mailbox holds a message asking for a read receipt")
    return failed("Y's mailbox holds no message with a Disposition-Notification-To: header")


STEPS = [
    Step("B sent a delivery report about X's message", b_reported,
         "in client-x, by hand (exercise 2): RCPT TO:<y@provider-b.test> NOTIFY=SUCCESS"),
    Step("The report reached X's mailbox", report_in_x_mailbox, "wait a second and check again"),
    Step("X read the report over POP3", x_read_it, "as X: POP3 to pop.provider-a.test, RETR it"),
    Step("X asked Y for a read receipt (and nothing made Y answer)", receipt_requested,
         "send one more with the header line Disposition-Notification-To: x@provider-a.test, "
         "and leave it in Y's mailbox"),
]
