"""Exercise 7: Y's mailbox has a quota. Fill it, see what X hears back, then try the
other answer a full mailbox can give."""

from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_A, PROVIDER_B, X
from lab.i18n import _, ngettext

A, B = PROVIDER_A.service, PROVIDER_B.service


def over_quota(ev: Evidence) -> list:
    """(message, attempt) where B answered 'mailbox full' for a message of X."""
    return [(m, a) for m in ev.submitted_by(X) for a in m.attempts if a.dsn in ("5.2.2", "4.2.2")]


def refused_full(ev: Evidence) -> Result:
    bounced = [(m, a) for m, a in over_quota(ev) if a.status == "bounced"]
    if not bounced:
        return failed(_("B has not refused a message of X as over quota (552 5.2.2)"))
    m, a = bounced[-1]
    return passed(_("{queue_id}, B answered: {reply}").format(queue_id=m.queue_id, reply=a.reason))


def bounce_to_x(ev: Evidence) -> Result:
    notices = {n for m, a in over_quota(ev) if a.status == "bounced" for _, kind, n in m.notices
               if kind == "non-delivery"}
    delivered = [m for m in ev.messages(A) if m.queue_id in notices
                 and any(a.recipient == X and a.status == "sent" for a in m.attempts)]
    return passed(_("bounce {queue_id} is in X's mailbox").format(queue_id=delivered[-1].queue_id)) \
        if delivered else failed(_("no bounce about it has reached X's mailbox"))


def kept_by_a(ev: Evidence) -> Result:
    waits = [(m, a) for m, a in over_quota(ev) if a.status == "deferred"]
    if not waits:
        return failed(_("no message of X has waited in A's queue for room (452 4.2.2)"))
    m, a = waits[-1]
    return passed(_("{queue_id} waited, B answered: {reply}").format(queue_id=m.queue_id, reply=a.reason))


def delivered_after_room(ev: Evidence) -> Result:
    done = [m for m, a in over_quota(ev) if a.status == "deferred"
            and any(b.status == "sent" for b in m.attempts)]
    if not done:
        return failed(_("no message that waited for room has been delivered yet"))
    tries = len(done[-1].attempts)
    return passed(ngettext("{queue_id} delivered after {count} attempt", "{queue_id} delivered after "
                                                                         "{count} attempts",
                           tries).format(queue_id=done[-1].queue_id, count=tries))


def discarded(ev: Evidence) -> Result:
    """A message of X that B took (250 to A) and threw away: B's discard line for the
    very session in which A handed it over."""
    taken = {m.queue_id: m for m in ev.messages(B)}
    drops = [r for r in ev.rejects(B) if r.action == "discard"]
    for m in reversed(ev.submitted_by(X)):
        for a in m.attempts:
            b_side = taken.get(a.next_queue_id)
            if a.status == "sent" and b_side and any(d.client == b_side.client for d in drops):
                return passed(_("{queue_id}: B said 250 ({queue_id_at_b}) and discarded it").format(
                    queue_id=m.queue_id, queue_id_at_b=a.next_queue_id))
    return failed(_("B has not discarded a message of X (QUOTA_FULL=discard)"))


def answer_back_to_setting(ev: Evidence) -> Result:
    conf = ev.run(B, "cat", "/etc/dovecot/quota-full.conf")
    expected = ev.settings.quota_full
    return passed(_("as .env says: {setting}").format(setting=f"QUOTA_FULL={expected}")) \
        if f"quota-full-mode {expected}" in conf else failed(
        _("provider-b is not answering as .env says ({setting}):\n{line}").format(
            setting=f"QUOTA_FULL={expected}", line=conf.splitlines()[0]))


STEPS = [
    Step(_("Y's mailbox was full and B refused a message of X (552 5.2.2)"), refused_full,
         _("send X -> Y big messages (swaks --attach @bigfile) until one does not fit")),
    Step(_("X received the bounce"), bounce_to_x,
         _("wait a second; then read it as X over POP (pop.provider-a.test)")),
    Step(_("With tempfail, A kept the message and waited (452 4.2.2)"), kept_by_a,
         _("lab quota-full tempfail, then send one more big message")),
    Step(_("Once Y made room, the waiting message arrived"), delivered_after_room,
         _("as Y, delete mail over POP (DELE, QUIT); A retries within 20 s")),
    Step(_("With discard, B took a message of X and threw it away"), discarded,
         _("lab quota-full discard, then send big messages until one does not fit")),
    Step(_("Full mailboxes answer as .env says again"), answer_back_to_setting, _("lab quota-full bounce")),
]
