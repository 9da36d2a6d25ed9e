"""Exercise 9: the story's dial-up. X sends and hangs up before the mail reaches B; Y is
offline while it waits at B; Y dials in later and the mail is there."""

from lab import i18n
from lab.checker import Evidence, Result, Step, failed, passed, spans
from lab.config import PROVIDER_B, X, Y
from lab.i18n import _


def times(ev: Evidence, event: str, who: str) -> list[float]:
    return [e.time for e in ev.events(event) if e.get("who") == who]


def window(ev: Evidence, who: str) -> list[tuple[float, float]]:
    """(hung up, dialled again) for each time `who` was offline; still offline: now."""
    return spans(times(ev, "hangup", who), times(ev, "dial", who))


def x_gone_before_handover(ev: Evidence) -> Result:
    for m in reversed(ev.submitted_by(X)):
        sent = [a.time for a in m.attempts if a.status == "sent" and a.relay.startswith(PROVIDER_B.mx)]
        if sent and any(m.received < start < sent[0] <= end for start, end in window(ev, "x")):
            return passed(_("{queue_id}: handed to B {seconds:.0f} s after X sent it, with X offline").format(
                queue_id=m.queue_id, seconds=sent[0] - m.received))
    return failed(_("no message of X reached B while X was offline (X must hang up before A hands it over)"))


def stored_while_y_offline(ev: Evidence) -> Result:
    saved = ev.mailbox_events(PROVIDER_B.service, Y, "saved")
    for e in reversed(saved):
        if any(start < e.time < end for start, end in window(ev, "y")):
            return passed(_("{message_id} saved while Y was offline").format(message_id=e.message_id))
    return failed(_("no mail for Y arrived at B while Y was offline"))


def fetched_after_dialling(ev: Evidence) -> Result:
    dialled = times(ev, "dial", "y")
    reads = [s for s in ev.pop_sessions(PROVIDER_B.service, Y)
             if s.retrieved and any(s.time > t for t in dialled)]
    return passed(_("B's log of Y's POP3 session: {counts}").format(counts=f"retr={reads[-1].retrieved}")) \
        if reads else failed(_("Y has not dialled in (lab dial y) and then retrieved mail over POP3"))


def both_online(ev: Evidence) -> Result:
    offline = [who.upper() for who in ("x", "y") if not ev.online(who)]
    return failed(_("still offline: {who}").format(who=i18n.join(offline, _(", ")))) if offline else passed(
        _("X and Y are connected"))


STEPS = [
    Step(_("X hung up before A had passed X's message on to B"), x_gone_before_handover,
         _("lab fault partition; send from X; lab hangup x; lab restore partition")),
    Step(_("B stored the message while Y was offline"), stored_while_y_offline,
         _("lab hangup y before B gets the message (before `lab restore partition`)")),
    Step(_("Y dialled in and fetched it"), fetched_after_dialling, _("lab dial y, then POP3 from client-y")),
    Step(_("X and Y are both connected again"), both_online, _("lab dial x; lab dial y")),
]
