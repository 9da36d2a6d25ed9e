"""`lab trace`: the path of one message through the lab, from the providers' logs.

The story's steps, each with its time: (1) the customer submits to its provider,
(2) the provider queues it, (3) looks up the MX of the recipient's domain, (4) hands it
to that MX, (5) the other provider stores it in the mailbox, (6) the recipient fetches
it over POP3 or reads it over IMAP. A deferred or bounced message shows where and why it
stopped. Drawn as a sequence picture for the terminal, and as a Mermaid file for a report
(lab/tracedraw.py).

Every label and outcome is a marked sentence (lab/i18n.py) holding what the logs said as
values, verbatim: the picture is drawn in the language it is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lab import i18n, maillog
from lab.compose import Lab, LabError
from lab.config import PROVIDERS, Provider, Settings, provider_of
from lab.i18n import _, ngettext
from lab.mailbox import auth_results, header_block, read_mailbox

DNS = "DNS"
STORY = {1: _("submission"), 2: _("queue"), 3: _("MX lookup"), 4: _("hand-over"), 5: _("delivery"),
         6: _("retrieval")}
# Postfix's word for what became of an attempt (its log's status=), as the lab names it
STATUS = {"sent": _("sent"), "deferred": _("deferred"), "bounced": _("bounced"), "expired": _("expired")}
NOTICE = {"delivery status": _("delivery status notification {notice} to {sender}"),
          "non-delivery": _("non-delivery notification {notice} to {sender}"),
          "delay": _("delay notification {notice} to {sender}")}


def _status(word: str) -> str:
    return STATUS.get(word, word)


@dataclass(frozen=True)
class Event:
    time: float
    story: int  # the story's step (STORY)
    source: str  # a lane: X, A, DNS, B, Y
    target: str  # the same lane as source: something that happens inside it
    label: str
    ok: bool = True  # False: the step failed here (deferred, bounced, refused)


@dataclass
class Trace:
    message_id: str
    lanes: list[tuple[str, str]]  # (short name, description), left to right
    events: list[Event]
    outcome: str  # one sentence: where the message is now

    @property
    def start(self) -> float:
        return self.events[0].time if self.events else 0.0


def _letter(p: Provider) -> str:
    return p.letter.upper()


def _person(address: str) -> str:
    return address.split("@")[0].upper()


def read_logs(lab: Lab) -> dict[str, list[maillog.LogLine]]:
    """provider service -> its mail log, read now."""
    return {p.service: maillog.read(lab.container(p.service)) for p in PROVIDERS}


def find(logs: dict[str, list[maillog.LogLine]], message_id: str | None
         ) -> tuple[str, dict[str, dict[str, maillog.Message]]]:
    """(message id, provider service -> queue id -> Message) for the message asked for,
    or the last one a customer submitted."""
    queues = {svc: maillog.messages(lines) for svc, lines in logs.items()}
    if message_id is None:
        submitted = [m for q in queues.values() for m in q.values() if m.sasl_user and m.message_id]
        if not submitted:
            raise LabError(_("no customer has submitted a message yet: send one from client-x (exercise 2)"))
        message_id = max(submitted, key=lambda m: m.received).message_id
    wanted = message_id if message_id.startswith("<") else f"<{message_id}>"
    if not any(m.message_id == wanted for q in queues.values() for m in q.values()):
        raise LabError(_("no message with Message-ID {message_id} in the logs of {services}: copy it from "
                         "the message's header, or use `lab trace --last`").format(
            message_id=wanted, services=i18n.join([p.service for p in PROVIDERS], _(" or "))))
    return wanted, queues


def stored_copy(lab: Lab, provider: Provider, recipient: str, message_id: str) -> bytes | None:
    """The copy of a message in a recipient's mailbox (None: not there, or gone)."""
    try:
        stored = read_mailbox(lab.container(provider.service), recipient)
    except LabError:
        return None
    for message in stored:
        if re.search(rf"^Message-ID:\s*{re.escape(message_id)}", header_block(message), re.M | re.I):
            return message
    return None


def verdicts(lab: Lab, provider: Provider, recipient: str, message_id: str) -> str:
    """What the receiving provider concluded about who sent the message: its own
    Authentication-Results header in the stored copy ("spf=pass dkim=pass dmarc=pass"),
    or "" when the copy is gone (fetched and deleted) or was never checked."""
    message = stored_copy(lab, provider, recipient, message_id)
    if message is None:
        return ""
    found = auth_results(message, provider.mx)
    return " ".join(f"{k}={found[k]}" for k in ("spf", "dkim", "dmarc") if k in found)


Verdicts = Callable[[Provider, str, str], str]  # (receiver, recipient, message id) -> verdicts


def _checked(verdict: Verdicts | None, provider: Provider, message: maillog.Message, wanted: str,
             after: float = 0.0) -> list[Event]:
    """The receiver's sender-authentication step, for mail it took on port 25, drawn
    after the hand-over (`after`: when the sender logged it) and before the delivery."""
    stored = [a for a in message.attempts if a.status == "sent"]
    if verdict is None or message.sasl_user or not stored:
        return []
    found = verdict(provider, stored[0].recipient, wanted)
    # the same time as the hand-over (logs count whole seconds): sorting keeps the order
    return [Event(max(message.received, after), 5, _letter(provider), _letter(provider),
                  _("who really sent it? {verdicts} (its Authentication-Results)").format(verdicts=found))
            ] if found else []


def build(lab: Lab, message_id: str | None = None) -> Trace:
    """The trace of a message (the last one a customer submitted, without an id), with the
    receiver's sender-authentication verdicts read from the stored copy."""
    logs = read_logs(lab)
    wanted, queues = find(logs, message_id)
    return assemble(lab.settings, wanted, queues, logs,
                    lambda provider, recipient, mid: verdicts(lab, provider, recipient, mid))


@dataclass
class Readings:
    """What a trace reads of one provider's log besides its messages: its refusals, and
    the mailbox events and POP3/IMAP sessions of step 6. Made once per log when many
    messages are traced from the same lines (the web view shows twelve)."""
    rejects: list[maillog.Reject]
    events: list[maillog.MailboxEvent]
    sessions: dict[str, maillog.ReadSession]

    @classmethod
    def of(cls, lines: list[maillog.LogLine]) -> Readings:
        return cls(maillog.rejects(lines), maillog.mailbox_events(lines),
                   {s.session: s for s in maillog.read_sessions(lines)})


def assemble(settings: Settings, wanted: str, queues: dict[str, dict[str, maillog.Message]],
             logs: dict[str, list[maillog.LogLine]], verdict: Verdicts | None = None,
             readings: dict[str, Readings] | None = None) -> Trace:
    """The trace of message `wanted` from logs already read (the web view keeps them
    as they come); `verdict` reads the receiver's verdicts, if given; `readings`, the
    logs' refusals and step-6 events if they were read already."""
    origins = [(svc, m) for svc, q in queues.items() for m in q.values()
               if m.message_id == wanted and m.via]
    origin_svc, first = min(origins, key=lambda pair: pair[1].received)
    origin = next(p for p in PROVIDERS if p.service == origin_svc)
    other = next(p for p in PROVIDERS if p is not origin)
    sender_lane = (_person(first.sasl_user) if first.sasl_user
                   else settings.service_at(first.client_address) or first.client)
    recipients = [a.recipient for a in first.attempts] or ["?"]
    target = provider_of(recipients[0]) or other
    receiver_lane = _person(recipients[0]) if target is other or target is origin else "?"
    sender_host = settings.service_at(first.client_address) or first.client
    lanes = [(sender_lane, f"{sender_host} {first.client_address}"), (_letter(origin), origin.service),
             (DNS, "ns.test"), (_letter(other), other.service), (receiver_lane, recipients[0])]
    events: list[Event] = []
    a, b = _letter(origin), _letter(other)

    known = readings if readings is not None else {}

    def read(provider: Provider) -> Readings:
        if provider.service not in known:
            known[provider.service] = Readings.of(logs[provider.service])
        return known[provider.service]

    port = _("465, TLS from the start") if first.via == "postfix/submissions/smtpd" else _("587, STARTTLS")
    how = (_("submission ({port}), AUTH as {user}").format(port=port, user=first.sasl_user) if first.sasl_user
           else _("SMTP (25) from {client}").format(client=first.client))
    events.append(Event(first.received, 1, sender_lane, a,
                        _("{how}; 250 queued as {queue_id}").format(how=how, queue_id=first.queue_id)))
    events.append(Event(first.received + 0.0005, 2, a, a, ngettext(
        "queued {queue_id}: from=<{sender}>, {size} byte", "queued {queue_id}: from=<{sender}>, {size} bytes",
        first.size).format(queue_id=first.queue_id, sender=first.sender, size=first.size)))
    outcome = _("in {service}'s queue ({queue_id}), not tried yet").format(service=origin.service,
                                                                           queue_id=first.queue_id)
    handed: maillog.Attempt | None = None
    events += _checked(verdict, origin, first, wanted)
    for attempt in first.attempts:
        status = _status(attempt.status)
        if attempt.program.endswith("/lmtp"):  # a recipient at the same provider
            label = _("LMTP into {recipient}'s mailbox: {status} ({reply})")
            label = label.format(recipient=attempt.recipient, status=status, reply=attempt.reason)
            events.append(Event(attempt.time, 5, a, a, label, attempt.status == "sent"))
            outcome = _("{status}: in {recipient}'s mailbox at {service}").format(
                status=status, recipient=attempt.recipient, service=origin.service)
            continue
        domain = attempt.recipient.split("@")[-1]
        # relay=none when no connection was made: the address tried is in the reason then
        mx = (re.match(r"([^\[]+)\[([^\]]+)\]", attempt.relay)
              or re.search(r"connect to ([^\[\s]+)\[([^\]]+)\]", attempt.reason))
        if mx:
            # Postfix does not log the lookup itself: its answer is the relay= it used
            answer = f"{mx.group(1)} [{mx.group(2)}]"
            looked_up = _("MX {domain}? → {answer} (A's relay=)").format(domain=domain, answer=answer)
        else:
            looked_up = _("MX {domain}? no usable answer").format(domain=domain)
        events.append(Event(attempt.time, 3, a, DNS, looked_up, ok=bool(mx)))
        queue = {"service": origin.service, "queue_id": first.queue_id}
        reply = attempt.reason
        if attempt.status == "sent":
            handed = attempt
            label = _("SMTP to {relay}: {reply}").format(relay=attempt.relay, reply=reply)
            outcome = _("handed to {service}").format(service=other.service)
        elif attempt.status == "deferred" and "Greylisted" in reply:
            label = _("{b}: try again later — greylisted; A retries: {reply}").format(b=b, reply=reply)
            outcome = _("waiting in {service}'s queue ({queue_id}): greylisted by {other}").format(
                other=other.service, **queue)
        elif attempt.status == "deferred":
            label = _("deferred, A keeps it and retries: {reason}").format(reason=reply)
            outcome = _("waiting in {service}'s queue ({queue_id}): {reason}").format(reason=reply, **queue)
        elif re.search(r"\b(DMARC|SPF)\b", reply):
            check = "DMARC" if "DMARC" in reply else "SPF"
            label = _("refused by {b}'s {check} check ({dsn}): {reply}").format(b=b, check=check,
                                                                               dsn=attempt.dsn, reply=reply)
            outcome = _("refused by {service}: it failed {check}").format(service=other.service, check=check)
        else:
            label = _("{status} ({dsn}): {reason}").format(status=status, dsn=attempt.dsn, reason=reply)
            outcome = _("{status} by {service}: {reason}").format(status=status, service=origin.service,
                                                                  reason=reply)
        events.append(Event(attempt.time, 4, a, b, label, ok=attempt.status == "sent"))
    for when, kind, notice in first.notices:
        events.append(Event(when, 4, a, sender_lane, _notice(kind, notice, first.sender),
                            ok=kind == "delivery status"))
        if kind == "non-delivery":
            outcome = _("{outcome}; returned to {sender} ({notice})").format(
                outcome=outcome, sender=first.sender, notice=notice)

    if handed and (second := queues[other.service].get(handed.next_queue_id)):
        discards = [r for r in read(other).rejects
                    if r.action == "discard" and r.client == second.client]
        if discards and not second.attempts:
            # B decided at RCPT, but it is the end of the hand-over that makes it final
            when = max(discards[-1].time, handed.time + 0.001)
            label = _("discarded at B: mailbox full — nobody is told (B's log: {reply})")
            events.append(Event(when, 5, b, b, label.format(reply=discards[-1].reply), ok=False))
            outcome = _("discarded at {service}: mailbox full — nobody is told").format(service=other.service)
        events += _checked(verdict, other, second, wanted, after=handed.time)
        for attempt in second.attempts:
            ok = attempt.status == "sent"
            where = {"recipient": attempt.recipient, "service": other.service}
            if ok:
                label = _("LMTP into {recipient}'s mailbox: {reply}").format(reply=attempt.reason, **where)
                outcome = _("in {recipient}'s mailbox at {service}").format(**where)
            else:
                status = _status(attempt.status)
                label = _("{status}: {reason}").format(status=status, reason=attempt.reason)
                outcome = _("{status} at {service}: {reason}").format(status=status, service=other.service,
                                                                      reason=attempt.reason)
            # B often stores the message before A has logged B's 250: drawn after the
            # hand-over all the same, as the story goes
            events.append(Event(max(attempt.time, handed.time + 0.001), 5, b, b, label, ok))
        for when, kind, notice in second.notices:
            events.append(Event(when, 5, b, a, _notice(kind, notice, second.sender),
                                ok=kind == "delivery status"))
        reading, reading_outcome = _read(read(other), wanted, receiver_lane, b)
        events += reading
        outcome = reading_outcome or outcome
    events += _refused_copies(settings, read(other), queues[other.service], wanted, origin, b)
    events.sort(key=lambda e: e.time)
    return Trace(wanted, lanes, events, outcome)


def _notice(kind: str, notice: str, sender: str) -> str:
    """Postfix's notice to a sender (non-delivery, delay, delivery status), and its queue id."""
    template = NOTICE.get(kind) or _("{kind} notification {notice} to {sender}").format(kind=kind)
    return template.format(notice=notice, sender=sender)


def _refused_copies(settings: Settings, readings: Readings, queue: dict[str, maillog.Message], wanted: str,
                    origin: Provider, b: str) -> list[Event]:
    """Copies of the message that someone else sent on to B (a forwarder, a mailing
    list) and B refused at the end of DATA: found by the Message-ID of their queue id.
    A's own hand-over is drawn from A's side already."""
    ids = {q for q, m in queue.items() if m.message_id == wanted}
    origin_address = f"[{settings.address(origin.service)}]"
    label = _("a copy sent on by {client} (from=<{sender}>) refused at the end of DATA: {reply}")
    return [Event(r.time, 4, b, b, label.format(client=r.client, sender=r.sender, reply=r.reply), ok=False)
            for r in readings.rejects
            if r.action == "milter-reject" and r.queue_id in ids and origin_address not in r.client]


IMAP_DID = {"seen": _("IMAP login as {user}, read it (now \\Seen on every device)"),
            "expunged": _("IMAP login as {user}, expunged it: gone from every device"),
            "copied": _("IMAP login as {user}, copied it into the folder {box} (a second copy, counted by "
                        "the quota)")}
# What a POP3 session did to the message: (what it did, deleted?) -> (step, where it is now)
POP3_DID = {
    ("fetched", False): (_("POP3 login as {user}, fetched (RETR) it"),
                         _("fetched (RETR) by {user} over POP3, still in the mailbox")),
    ("fetched", True): (_("POP3 login as {user}, fetched (RETR) and deleted it"),
                        _("fetched (RETR) by {user} over POP3, deleted from the mailbox")),
    ("looked", False): (_("POP3 login as {user}, looked at it"),
                        _("looked at by {user} over POP3, still in the mailbox")),
    ("looked", True): (_("POP3 login as {user}, looked at and deleted it"),
                       _("looked at by {user} over POP3, deleted from the mailbox")),
    ("reached", False): (_("POP3 login as {user}, reached it"),
                         _("reached by {user} over POP3, still in the mailbox")),
    ("reached", True): (_("POP3 login as {user}, reached and deleted it"),
                        _("reached by {user} over POP3, deleted from the mailbox")),
}


def _read(readings: Readings, wanted: str, lane: str, b: str) -> tuple[list[Event], str]:
    """Step 6: the receiver's POP3 and IMAP sessions that touched the message, and
    where it is after them."""
    events: list[Event] = []
    outcome: str = ""
    for e in readings.events:
        if e.message_id != wanted or e.program not in ("pop3", "imap"):
            continue
        session = readings.sessions.get(e.session)
        if e.program == "pop3" and e.event in ("seen", "expunged"):
            login = session.time if session else e.time
            # what the session did comes with its logout line, a moment after this one
            did = ("fetched" if session.retrieved else "looked") if session and session.ended else "reached"
            step, where = POP3_DID[did, e.event == "expunged"]
            events.append(Event(login, 6, lane, b, step.format(user=e.user)))
            outcome = where.format(user=e.user)
        elif e.program == "imap":
            what = IMAP_DID.get(e.event) or _("IMAP login as {user}, set its flags: ({flags})")
            events.append(Event(e.time, 6, lane, b, what.format(user=e.user, box=e.box, flags=e.flags)))
            outcome = (_("expunged by {user} over IMAP").format(user=e.user) if e.event == "expunged"
                       else outcome or _("on the server, read by {user} over IMAP").format(user=e.user))
    return events, outcome
