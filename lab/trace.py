"""`lab trace`: the path of one message through the lab, from the providers' logs.

The story's steps, each with its time: (1) the customer submits to its provider,
(2) the provider queues it, (3) looks up the MX of the recipient's domain, (4) hands it
to that MX, (5) the other provider stores it in the mailbox, (6) the recipient fetches
it over POP3 or reads it over IMAP. A deferred or bounced message shows where and why it
stopped. Drawn as a sequence picture for the terminal, and as a Mermaid file for a report.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lab import maillog
from lab.compose import Lab, LabError
from lab.config import PROVIDERS, STATE_DIR, Provider, Settings, provider_of
from lab.mailbox import auth_results, header_block, read_mailbox

DNS = "DNS"
STORY = {1: "submission", 2: "queue", 3: "MX lookup", 4: "hand-over", 5: "delivery", 6: "retrieval"}


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
            raise LabError("no customer has submitted a message yet: send one from client-x (exercise 2)")
        message_id = max(submitted, key=lambda m: m.received).message_id
    wanted = message_id if message_id.startswith("<") else f"<{message_id}>"
    if not any(m.message_id == wanted for q in queues.values() for m in q.values()):
        raise LabError(f"no message with Message-ID {wanted} in the logs of "
                       + " or ".join(p.service for p in PROVIDERS)
                       + ": copy it from the message's header, or use `lab trace --last`")
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
                  f"who really sent it? {found} (its Authentication-Results)")] if found else []


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

    port = "465, TLS from the start" if first.via == "postfix/submissions/smtpd" else "587, STARTTLS"
    how = (f"submission ({port}), AUTH as {first.sasl_user}" if first.sasl_user
           else f"SMTP (25) from {first.client}")
    events.append(Event(first.received, 1, sender_lane, a, f"{how}; 250 queued as {first.queue_id}"))
    events.append(Event(first.received + 0.0005, 2, a, a,
                        f"queued {first.queue_id}: from=<{first.sender}>, {first.size} bytes"))
    outcome = f"in {origin.service}'s queue ({first.queue_id}), not tried yet"
    handed: maillog.Attempt | None = None
    events += _checked(verdict, origin, first, wanted)
    for attempt in first.attempts:
        if attempt.program.endswith("/lmtp"):  # a recipient at the same provider
            events.append(Event(attempt.time, 5, a, a, f"LMTP into {attempt.recipient}'s mailbox: "
                                f"{attempt.status} ({attempt.reason})", attempt.status == "sent"))
            outcome = f"{attempt.status}: in {attempt.recipient}'s mailbox at {origin.service}"
            continue
        domain = attempt.recipient.split("@")[-1]
        # relay=none when no connection was made: the address tried is in the reason then
        mx = (re.match(r"([^\[]+)\[([^\]]+)\]", attempt.relay)
              or re.search(r"connect to ([^\[\s]+)\[([^\]]+)\]", attempt.reason))
        if mx:
            # Postfix does not log the lookup itself: its answer is the relay= it used
            answer = f"{mx.group(1)} [{mx.group(2)}]"
            events.append(Event(attempt.time, 3, a, DNS, f"MX {domain}? → {answer} (A's relay=)"))
        else:
            events.append(Event(attempt.time, 3, a, DNS, f"MX {domain}? no usable answer", ok=False))
        if attempt.status == "sent":
            handed = attempt
            events.append(Event(attempt.time, 4, a, b, f"SMTP to {attempt.relay}: {attempt.reason}"))
            outcome = f"handed to {other.service}"
        elif attempt.status == "deferred" and "Greylisted" in attempt.reason:
            events.append(Event(attempt.time, 4, a, b, f"{b}: try again later — greylisted; A retries: "
                                f"{attempt.reason}", ok=False))
            outcome = f"waiting in {origin.service}'s queue ({first.queue_id}): greylisted by {other.service}"
        elif attempt.status == "deferred":
            events.append(Event(attempt.time, 4, a, b, f"deferred, A keeps it and retries: {attempt.reason}",
                                ok=False))
            outcome = f"waiting in {origin.service}'s queue ({first.queue_id}): {attempt.reason}"
        elif re.search(r"\b(DMARC|SPF)\b", attempt.reason):
            check = "DMARC" if "DMARC" in attempt.reason else "SPF"
            events.append(Event(attempt.time, 4, a, b, f"refused by {b}'s {check} check ({attempt.dsn}): "
                                f"{attempt.reason}", ok=False))
            outcome = f"refused by {other.service}: it failed {check}"
        else:
            events.append(Event(attempt.time, 4, a, b, f"{attempt.status} ({attempt.dsn}): {attempt.reason}",
                                ok=False))
            outcome = f"{attempt.status} by {origin.service}: {attempt.reason}"
    for when, kind, notice in first.notices:
        events.append(Event(when, 4, a, sender_lane, f"{kind} notification {notice} to {first.sender}",
                            ok=kind == "delivery status"))
        if kind == "non-delivery":
            outcome += f"; returned to {first.sender} ({notice})"

    if handed and (second := queues[other.service].get(handed.next_queue_id)):
        discards = [r for r in read(other).rejects
                    if r.action == "discard" and r.client == second.client]
        if discards and not second.attempts:
            # B decided at RCPT, but it is the end of the hand-over that makes it final
            when = max(discards[-1].time, handed.time + 0.001)
            events.append(Event(when, 5, b, b, "discarded at B: mailbox full — nobody is told "
                                f"(B's log: {discards[-1].reply})", ok=False))
            outcome = f"discarded at {other.service}: mailbox full — nobody is told"
        events += _checked(verdict, other, second, wanted, after=handed.time)
        for attempt in second.attempts:
            ok = attempt.status == "sent"
            label = (f"LMTP into {attempt.recipient}'s mailbox: {attempt.reason}" if ok
                     else f"{attempt.status}: {attempt.reason}")
            # B often stores the message before A has logged B's 250: drawn after the
            # hand-over all the same, as the story goes
            events.append(Event(max(attempt.time, handed.time + 0.001), 5, b, b, label, ok))
            outcome = (f"in {attempt.recipient}'s mailbox at {other.service}" if ok
                       else f"{attempt.status} at {other.service}: {attempt.reason}")
        for when, kind, notice in second.notices:
            events.append(Event(when, 5, b, a, f"{kind} notification {notice} to {second.sender}",
                                ok=kind == "delivery status"))
        reading, reading_outcome = _read(read(other), wanted, receiver_lane, b)
        events += reading
        outcome = reading_outcome or outcome
    events += _refused_copies(settings, read(other), queues[other.service], wanted, origin, b)
    events.sort(key=lambda e: e.time)
    return Trace(wanted, lanes, events, outcome)


def _refused_copies(settings: Settings, readings: Readings, queue: dict[str, maillog.Message], wanted: str,
                    origin: Provider, b: str) -> list[Event]:
    """Copies of the message that someone else sent on to B (a forwarder, a mailing
    list) and B refused at the end of DATA: found by the Message-ID of their queue id.
    A's own hand-over is drawn from A's side already."""
    ids = {q for q, m in queue.items() if m.message_id == wanted}
    origin_address = f"[{settings.address(origin.service)}]"
    return [Event(r.time, 4, b, b, f"a copy sent on by {r.client} (from=<{r.sender}>) refused at the end "
                  f"of DATA: {r.reply}", ok=False)
            for r in readings.rejects
            if r.action == "milter-reject" and r.queue_id in ids and origin_address not in r.client]


IMAP_DID = {"seen": "read it (now \\Seen on every device)", "expunged": "expunged it: gone from every device"}


def _read(readings: Readings, wanted: str, lane: str, b: str) -> tuple[list[Event], str]:
    """Step 6: the receiver's POP3 and IMAP sessions that touched the message, and
    where it is after them."""
    events, outcome = [], ""
    for e in readings.events:
        if e.message_id != wanted or e.program not in ("pop3", "imap"):
            continue
        session = readings.sessions.get(e.session)
        if e.program == "pop3" and e.event in ("seen", "expunged"):
            login = session.time if session else e.time
            if session and session.ended:
                fetched = "fetched (RETR)" if session.retrieved else "looked at"
            else:  # what the session did comes with its logout line, a moment after this one
                fetched = "reached"
            what = f"{fetched} and deleted it" if e.event == "expunged" else f"{fetched} it"
            events.append(Event(login, 6, lane, b, f"POP3 login as {e.user}, {what}"))
            where = "deleted from the mailbox" if e.event == "expunged" else "still in the mailbox"
            outcome = f"{fetched} by {e.user} over POP3, {where}"
        elif e.program == "imap":
            what = (f"copied it into the folder {e.box} (a second copy, counted by the quota)"
                    if e.event == "copied" else IMAP_DID.get(e.event, f"set its flags: ({e.flags})"))
            events.append(Event(e.time, 6, lane, b, f"IMAP login as {e.user}, {what}"))
            outcome = (f"expunged by {e.user} over IMAP" if e.event == "expunged"
                       else outcome or f"on the server, read by {e.user} over IMAP")
    return events, outcome


# --- drawing -------------------------------------------------------------------------------

LANE = 10  # characters per lane in the terminal picture


def picture(trace: Trace) -> str:
    names = [name for name, _ in trace.lanes]
    width = LANE * len(names)
    header = "".join(name.center(LANE) for name in names)
    lines = [f"Trace of {trace.message_id}", "", header + "   time (+s since submission)"]
    for number, event in enumerate(trace.events, 1):
        row = [" "] * width
        for i in range(len(names)):
            row[i * LANE + LANE // 2] = "|"
        src, dst = names.index(event.source), names.index(event.target)
        s, d = src * LANE + LANE // 2, dst * LANE + LANE // 2
        if s == d:
            row[s] = "*" if event.ok else "x"
        else:
            lo, hi = sorted((s, d))
            for i in range(lo + 1, hi):
                row[i] = "-"
            row[d - 1 if d > s else d + 1] = (">" if d > s else "<") if event.ok else "x"
        clock = time.strftime("%H:%M:%S", time.localtime(event.time)) + f".{int(event.time % 1 * 1000):03d}"
        lines.append("".join(row) + f"   {number:>2}. {clock} +{event.time - trace.start:.3f}")
        lines.append(" " * width + f"       ({event.story}) {STORY[event.story]}: {event.label}")
    lines += ["", f"Now: {trace.outcome}"]
    return "\n".join(lines)


def mermaid(trace: Trace) -> str:
    def clean(text: str) -> str:
        return re.sub(r"[<>#;]", "", text)

    out = ["sequenceDiagram", f"    title {clean(trace.message_id)}"]
    for name, what in trace.lanes:
        out.append(f"    participant {name} as {name} ({clean(what)})")
    for number, e in enumerate(trace.events, 1):
        text = clean(f"{number}. {STORY[e.story]}: {e.label}")
        if e.source == e.target:
            out.append(f"    Note over {e.source}: {text}")
        else:
            out.append(f"    {e.source}{'->>' if e.ok else '-x'}{e.target}: {text}")
    out.append(f"    Note over {trace.lanes[0][0]},{trace.lanes[-1][0]}: now {clean(trace.outcome)}")
    return "\n".join(out) + "\n"


def save(trace: Trace, project: str) -> Path:
    folder = STATE_DIR / project / "traces"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (re.sub(r"[^A-Za-z0-9.@_-]", "", trace.message_id) + ".mmd")
    path.write_text(mermaid(trace))
    return path
