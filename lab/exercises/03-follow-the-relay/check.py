"""Exercise 3: follow one message from X through A and B to Y."""

from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_B, X, Y
from lab.i18n import _


def handed_over(ev: Evidence):
    """X's messages that A passed to B's MX: [(message, attempt)]."""
    return [(m, a) for m in ev.submitted_by(X) for a in m.attempts
            if a.status == "sent" and a.relay.startswith(PROVIDER_B.mx)]


def a_to_b(ev: Evidence) -> Result:
    found = handed_over(ev)
    if not found:
        return failed(_("A's log shows no message from X handed to {host} (status=sent)").format(
            host=PROVIDER_B.mx))
    m, a = found[-1]
    return passed(_("{queue_id}, A's log: {line}").format(queue_id=m.queue_id,
                                                          line=f"relay={a.relay} {a.reason}"))


def stored_for_y(ev: Evidence) -> Result:
    ids = {m.message_id for m, _ in handed_over(ev)}
    saved = [e for e in ev.mailbox_events(PROVIDER_B.service, Y, "saved") if e.message_id in ids]
    return passed(_("B saved {message_id} in Y's mailbox").format(message_id=saved[-1].message_id)) if saved \
        else failed(_("B's log shows none of those messages saved into Y's mailbox"))


def traced(ev: Evidence) -> Result:
    delivered = {m.message_id for m, _ in handed_over(ev)}
    traces = [t for t in ev.events("trace") if t.get("message_id") in delivered]
    return passed(_("you typed: {command}").format(command=f"lab trace {traces[-1].get('message_id')}")) \
        if traces else failed(_("you have not traced one of X's delivered messages yet"))


def y_read_headers(ev: Evidence) -> Result:
    saved = [e.time for e in ev.mailbox_events(PROVIDER_B.service, Y, "saved")]
    reads = [s for s in ev.pop_sessions(PROVIDER_B.service, Y)
             if saved and s.time > min(saved) and (s.retrieved or s.topped)]
    return passed(_("B's log of Y's POP3 session: {counts}").format(
        counts=f"top={reads[-1].topped}, retr={reads[-1].retrieved}")) if reads else failed(
        _("Y has not fetched a message (TOP or RETR) since one arrived"))


STEPS = [
    Step(_("A handed a message from X to B's MX ({host})").format(host=PROVIDER_B.mx), a_to_b,
         _("send one from client-x with swaks (exercise 2) to {address}").format(address=Y)),
    Step(_("B saved that message in Y's mailbox"), stored_for_y,
         _("wait a second and check again; if it stays, trace it: lab trace --last")),
    Step(_("You traced it with `lab trace`"), traced, _("on this machine: lab trace --last")),
    Step(_("Y fetched it, headers and all, over POP3"), y_read_headers,
         _("in client-y: openssl s_client -starttls pop3 -connect pop.provider-b.test:110 -crlf -quiet, "
           "log in, then TOP 1 0 or RETR 1")),
]
