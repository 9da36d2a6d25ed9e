"""Exercise 11: greylisting. B turns away the first attempt of an unknown (client,
sender, recipient) with 450; A retries by itself and gets through; the same triple
then passes at once; a stranger's one-shot sender never comes back, so nothing of it
arrives."""

import re

from lab import i18n
from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_A, PROVIDER_B, X
from lab.i18n import _, ngettext

A, B = PROVIDER_A.service, PROVIDER_B.service


def greylisted(ev: Evidence) -> list:
    """X's messages whose first hand-over B greylisted (A's log)."""
    return [m for m in ev.submitted_by(X)
            if m.attempts and m.attempts[0].status == "deferred" and "Greylisted" in m.attempts[0].reason]


def turned_away(ev: Evidence) -> Result:
    found = greylisted(ev)
    if not found:
        return failed(_("no message of X was greylisted by B (A's log: status=deferred ... Greylisted)"))
    return passed(_("{queue_id}, B answered: {reply}").format(queue_id=found[-1].queue_id,
                                                               reply=found[-1].attempts[0].reason))


LOOK = r"\b(postqueue\s+-[pj]|mailq)\b"
# A look that goes on by itself: `watch postqueue -p`, or a loop typed at the prompt.
KEEPS_LOOKING = re.compile(r"^\s*watch\b|\b(while|until|for)\b.*\bdo\b")


def watched_it_wait(ev: Evidence) -> Result:
    """`postqueue -p` (or mailq) typed in provider-a while a greylisted message waited,
    or a `watch` or loop of it started before the message went through (the text has
    the learner start `watch` before the first attempt: the wait lasts seconds)."""
    looks = ev.typed_at(A, LOOK)
    for m in greylisted(ev):
        sent = [a.time for a in m.attempts if a.status == "sent"]
        until = sent[0] if sent else float("inf")
        seen = [cmd for when, cmd in looks if when <= until
                and (m.attempts[0].time - 1 <= when or KEEPS_LOOKING.search(cmd))]
        if seen:
            return passed(_("you typed {command} while {queue_id} waited").format(command=seen[-1],
                                                                                 queue_id=m.queue_id))
    if looks:
        return failed(_("you looked at A's queue, but not while a greylisted message waited there"))
    return failed(_("no look at A's queue while a greylisted message waited there"))


def retried_and_delivered(ev: Evidence) -> Result:
    delay = ev.settings.greylist_delay
    for m in reversed(greylisted(ev)):
        sent = [a for a in m.attempts if a.status == "sent"]
        if sent:
            waited = sent[0].time - m.attempts[0].time
            if waited >= delay - 1:
                return passed(ngettext(
                    "{queue_id}: {count} attempt, through {seconds:.0f} s after the first ({setting})",
                    "{queue_id}: {count} attempts, through {seconds:.0f} s after the first ({setting})",
                    len(m.attempts)).format(queue_id=m.queue_id, count=len(m.attempts), seconds=waited,
                                            setting=f"GREYLIST_DELAY={delay}"))
            return failed(_("{queue_id} went through after {seconds:.0f} s, before the {delay} s "
                            "delay?").format(
                queue_id=m.queue_id, seconds=waited, delay=delay))
    return failed(_("none of the greylisted messages has been delivered yet"))


def known_triple(ev: Evidence) -> Result:
    a_address = ev.settings.address(A)
    passes = [d for d in ev.greylist_decisions(B)
              if d.action == "pass" and d.reason.startswith("triplet found") and d.client_address == a_address
              and d.sender == X]
    first = [m for m in ev.submitted_by(X) if m.attempts and m.attempts[0].status == "sent"
             and any(abs(m.attempts[0].time - d.time) < 2 for d in passes)]
    return passed(_("{queue_id} passed at its first attempt").format(queue_id=first[-1].queue_id)) if first \
        else failed(_("no later message of X to the same person went through at its first attempt with "
                      "greylisting on"))


def one_shot_refused(ev: Evidence) -> Result:
    outsider = ev.settings.address("outsider")
    refused = [r for r in ev.rejects(B) if r.greylisted and r.client.startswith(f"unknown[{outsider}]")]
    if not refused:
        return failed(_("B has not greylisted a message from the outsider"))
    taken = [m for m in ev.messages(B) if m.client_address == outsider and m.received > refused[0].time]
    if taken:
        return failed(_("the outsider came back and B took {queue_id}: send only once").format(
            queue_id=taken[-1].queue_id))
    return passed(_("turned away ({reply}), and nothing from the outsider since").format(
        reply=refused[-1].reply.split(":")[0]))


def greylisting_back_to_setting(ev: Evidence) -> Result:
    wanted = ev.settings.greylist
    wrong = [p for p, s in ev.switches.items() if s.greylist != wanted]
    services = i18n.join(wrong, _(", "))
    if wrong:
        wrong_way = _("greylisting is off at {services}") if wanted else _("greylisting is on at {services}")
        return failed(wrong_way.format(services=services))
    return passed(_("greylisting on, as .env says (GREYLIST)") if wanted
                  else _("greylisting off, as .env says (GREYLIST)"))


STEPS = [
    Step(_("B greylisted X's message at first (450 4.2.0)"), turned_away,
         _("lab greylist on, then send from X to y@provider-b.test")),
    Step(_("You saw it wait in A's queue"), watched_it_wait,
         _("before sending, in provider-a: watch -n 1 postqueue -p (or postqueue -p in the first seconds)")),
    Step(_("A retried by itself and got through after the delay"), retried_and_delivered,
         _("wait: A retries every 5 to 10 s; the greylist lets it through after GREYLIST_DELAY")),
    Step(_("The next message on the same (A, x, y) passed at once"), known_triple,
         _("send X -> Y once more while greylisting is on")),
    Step(_("A stranger's one-shot message was turned away, and nothing of it arrived"), one_shot_refused,
         _("in outsider, once: swaks --server mx.provider-b.test --from offer@nowhere.example "
           "--to y@provider-b.test")),
    Step(_("Greylisting is as .env says again"), greylisting_back_to_setting, _("lab greylist off")),
]
