"""Exercise 6: B is down; A keeps X's message, retries by itself, and delivers it once
B is back."""

from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_A, PROVIDER_B, X, Y
from lab.i18n import _, ngettext

A, B = PROVIDER_A.service, PROVIDER_B.service


def waited(ev: Evidence) -> list:
    """X's messages that A could not hand to B at first."""
    return [m for m in ev.submitted_by(X) if m.attempts and m.attempts[0].status == "deferred"]


def deferred_at_a(ev: Evidence) -> Result:
    found = waited(ev)
    if not found:
        return failed(_("A's log shows no message from X deferred (status=deferred)"))
    first = found[-1].attempts[0]
    return passed(_("{queue_id} deferred, A's log says: {reason}").format(queue_id=found[-1].queue_id,
                                                                          reason=first.reason))


def waiting_times(ev: Evidence) -> list[tuple[float, float]]:
    """(from, until) each deferred message of X waited in A's queue (until: now if it
    still waits); whole seconds, as the shell history stamps commands."""
    spans = []
    for m in waited(ev):
        sent = [a.time for a in m.attempts if a.status == "sent"]
        spans.append((int(m.attempts[0].time), sent[0] + 1 if sent else float("inf")))
    return spans


def watched_queue(ev: Evidence) -> Result:
    spans = waiting_times(ev)
    looks = ev.typed_at(A, r"\b(postqueue\s+-[pj]|mailq|postcat|qshape)\b")
    found = [cmd for when, cmd in looks if any(start <= when <= end for start, end in spans)]
    if found:
        return passed(_("in provider-a you typed: {command}").format(command=found[-1]))
    if looks:
        return failed(_("no look at A's queue typed in provider-a while a message of X waited there "
                        "(you looked, but not while one waited)"))
    return failed(_("no look at A's queue typed in provider-a while a message of X waited there"))


FLUSH = r"\b(postqueue\s+-[fsi]|postfix\s+flush|sendmail\s+-q|postsuper\s+-r)"


def retried_and_delivered(ev: Evidence) -> Result:
    flushes = ev.typed_at(A, FLUSH)
    for m in reversed(waited(ev)):
        sent = [a.time for a in m.attempts if a.status == "sent"]
        if not sent:
            continue
        # A flush makes A try at once: the delivery was the flush's doing when it is the
        # first attempt after the flush was typed (however slowly a busy B answered). A
        # flush typed while B was still down met a failure first, and did nothing.
        pushed = [cmd for when, cmd in flushes
                  if next((a.time for a in m.attempts if a.time >= when), None) == sent[0]]
        if pushed:
            return failed(_("{queue_id} left after `{command}`, typed in provider-a: that was you, "
                            "not A retrying by itself").format(queue_id=m.queue_id, command=pushed[-1]))
        tries = len(m.attempts)
        return passed(ngettext("{queue_id}: {count} attempt, delivered {seconds:.0f} s after X sent it",
                               "{queue_id}: {count} attempts, delivered {seconds:.0f} s after X sent it",
                               tries).format(queue_id=m.queue_id, count=tries, seconds=sent[0] - m.received))
    return failed(_("none of the deferred messages has been delivered yet"))


def arrived_once(ev: Evidence) -> Result:
    delivered = [m for m in waited(ev) if any(a.status == "sent" for a in m.attempts)]
    if not delivered:
        return failed(_("nothing delivered yet to count"))
    saved = ev.mailbox_events(B, Y, "saved")
    counts = {m.message_id: sum(e.message_id == m.message_id for e in saved) for m in delivered}
    wrong = {mid: n for mid, n in counts.items() if n != 1}
    if wrong:
        return failed(_("saved in Y's mailbox not exactly once (Message-ID: times saved): {counts}").format(
            counts=wrong))
    return passed(ngettext("{count} message, saved exactly once", "{count} messages, each saved exactly once",
                           len(counts)).format(count=len(counts)))


def b_is_back(ev: Evidence) -> Result:
    state = ev.states.get(B, "missing")
    return passed(_("provider-b is healthy")) if state == "healthy" else failed(
        _("provider-b is {state}").format(state=state))


def queue_empty(ev: Evidence) -> Result:
    out = ev.run(A, "postqueue", "-j").strip()
    waiting = len(out.splitlines()) if out else 0
    if waiting:
        return failed(ngettext("{count} message still in A's queue (postqueue -p)",
                               "{count} messages still in A's queue (postqueue -p)",
                               waiting).format(count=waiting))
    return passed(_("A's queue is empty"))


STEPS = [
    Step(_("A could not reach B and kept X's message (deferred)"), deferred_at_a,
         _("lab fault b-down, then send from X to y@provider-b.test")),
    Step(_("You looked at A's queue while the message waited"), watched_queue,
         _("in provider-a (`make shell SERVICE=provider-a`): postqueue -p")),
    Step(_("A retried by itself and delivered it"), retried_and_delivered,
         _("bring B back with `lab restore b-down` and wait up to 20 s: nobody resends, nobody flushes "
           "the queue (after a flush, `lab reset` and start again)")),
    Step(_("It arrived exactly once"), arrived_once, _("see the hint above")),
    Step(_("B is running again"), b_is_back, _("lab restore b-down")),
    Step(_("Nothing is left waiting in A's queue"), queue_empty,
         _("bring B back (lab restore b-down) and give A up to 20 s")),
]
