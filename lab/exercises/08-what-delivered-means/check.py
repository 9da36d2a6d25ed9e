"""Exercise 8: ask for a delivery report (DSN NOTIFY=SUCCESS), and for a read receipt,
and see what each can and cannot prove; then kill B while mail flows and count."""

import re

from lab.checker import Evidence, Result, Step, failed, message_ids, passed
from lab.config import PROVIDER_A, PROVIDER_B, Y2, X, Y
from lab.i18n import _, ngettext

A, B = PROVIDER_A.service, PROVIDER_B.service


def report_sent(ev: Evidence) -> list[str]:
    """Queue ids (at B) of the delivery reports B sent about X's mail."""
    return [notice for m in ev.messages(B) if m.sender == X
            for _, kind, notice in m.notices if kind == "delivery status"]


def b_reported(ev: Evidence) -> Result:
    found = report_sent(ev)
    return passed(_("B's delivery report {queue_id}").format(queue_id=found[-1])) if found else failed(
        _("B has sent no delivery report about a message of X (ask with NOTIFY=SUCCESS)"))


def reached_x(ev: Evidence) -> list:
    return [m for m in ev.messages(A) if m.sender == "" and m.client_address == ev.settings.address(B)
            and any(a.recipient == X and a.status == "sent" for a in m.attempts)]


def report_in_x_mailbox(ev: Evidence) -> Result:
    found = reached_x(ev) if report_sent(ev) else []
    return passed(_("{queue_id} delivered to X").format(queue_id=found[-1].queue_id)) if found else failed(
        _("no delivery report has reached X's mailbox at A"))


def x_read_it(ev: Evidence) -> Result:
    arrived = [m.removed or m.received for m in reached_x(ev)]
    reads = [s for s in ev.pop_sessions(A, X) if arrived and s.time > min(arrived) and s.retrieved]
    return passed(_("A's log of X's POP3 session: {counts}").format(counts=f"retr={reads[-1].retrieved}")) \
        if reads else failed(_("X has not retrieved the report over POP3 since it came"))


def receipt_requested(ev: Evidence) -> Result:
    for message in ev.mailbox(Y):
        head = message.split(b"\n\n", 1)[0].decode(errors="replace")
        if re.search(r"^Disposition-Notification-To:", head, re.M | re.I):
            return passed(_("Y's mailbox has a message asking for a read receipt"))
    return failed(_("Y's mailbox has no message with a Disposition-Notification-To: header"))


def crash(ev: Evidence) -> float | None:
    """When the learner last killed B (lab fault b-crash)."""
    times = [e.time for e in ev.events("fault") if e.get("name") == "b-crash"]
    return times[-1] if times else None


def to_y2(ev: Evidence) -> list:
    return [m for m in ev.submitted_by(X) if any(a.recipient == Y2 for a in m.attempts)]


def crashed_mid_delivery(ev: Evidence) -> Result:
    killed = crash(ev)
    if killed is None:
        return failed(_("B has not crashed since the reset (lab fault b-crash)"))
    handed = [a.time for m in to_y2(ev) for a in m.attempts if a.recipient == Y2]
    before, after = sum(t < killed for t in handed), sum(t >= killed for t in handed)
    if not (before and after):
        return failed(_("X's mail to Y2 was not on its way when B died (attempts: {before} before the crash, "
                        "{after} after)").format(before=before, after=after))
    return passed(_("attempts to hand mail to B: {before} before the crash, {after} after").format(
        before=before, after=after))


def nothing_lost(ev: Evidence) -> Result:
    sent = {m.message_id for m in to_y2(ev)}
    if not sent or crash(ev) is None:
        return failed(_("nothing to count yet: X's messages to Y2 and B's crash come first"))
    arrived = message_ids(ev.mailbox(Y2))
    missing = sent - set(arrived)
    if missing:
        return failed(ngettext("{missing} of X's {count} message to Y2 is not in Y2's mailbox yet: "
                               "is B back (lab restore b-crash)? A retries within seconds",
                               "{missing} of X's {count} messages to Y2 are not in Y2's mailbox yet: "
                               "is B back (lab restore b-crash)? A retries within seconds",
                               len(sent)).format(missing=len(missing), count=len(sent)))
    twice = sum(arrived.count(m) - 1 for m in sent if arrived.count(m) > 1)
    return passed(ngettext("{count} accepted for Y2, in Y2's mailbox; {twice} of them twice",
                           "{count} accepted for Y2, all in Y2's mailbox; {twice} of them twice",
                           len(sent)).format(count=len(sent), twice=twice))


def y2_counted(ev: Evidence) -> Result:
    killed = crash(ev)
    logins = [s for s in ev.pop_sessions(B, Y2) if killed is not None and s.time > killed]
    return passed(_("Y2 logged in over POP3 after the crash")) if logins else failed(
        _("Y2 has not logged in over POP3 since B came back"))


STEPS = [
    Step(_("B sent a delivery report about X's message"), b_reported,
         _("in client-x, by hand (exercise 2): RCPT TO:<y@provider-b.test> NOTIFY=SUCCESS")),
    Step(_("The report reached X's mailbox"), report_in_x_mailbox, _("wait a second and check again")),
    Step(_("X read the report over POP3"), x_read_it, _("as X: POP3 to pop.provider-a.test, RETR it")),
    Step(_("X asked Y for a read receipt (and nothing made Y answer)"), receipt_requested,
         _("send one more with the header line Disposition-Notification-To: x@provider-a.test, "
           "and leave it in Y's mailbox")),
    Step(_("B crashed while X's mail to Y2 was on its way"), crashed_mid_delivery,
         _("start the 40 messages to Y2 in client-x, and while they go: lab fault b-crash, then "
           "lab restore b-crash")),
    Step(_("Every message A accepted for Y2 arrived (duplicates counted)"), nothing_lost,
         _("lab restore b-crash, and give A up to 20 s")),
    Step(_("Y2 counted over POP3 after the crash"), y2_counted,
         _("from client-y: POP3 to pop.provider-b.test as y2@provider-b.test, STAT")),
]
