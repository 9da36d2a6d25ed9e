"""What the web view shows, as plain data (JSON for the page): built from the same
modules as `lab status`, `lab trace` and `lab check`, never from a parser of its own.

Three parts, each sent to the page whole whenever it changes (lab/web/live.py):
machines (state, networks, switches, faults), mail (each message's journey along the
story's steps, and the attempts refused), spool (queues and mailboxes).
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from lab import faults, i18n, maillog, overrides, spool, switches, trace
from lab.compose import Lab, LabError
from lab.config import HOST_NUMBERS, PROVIDERS, SERVICES, Settings, provider_of
from lab.i18n import _
from lab.journal import Journal
from lab.web.words import LANGUAGES

JOURNEYS_SHOWN = 12  # the front page shows the last messages, newest first
REFUSALS_SHOWN = 8


def machines(lab: Lab) -> dict[str, Any]:
    """Each machine's state and networks, each provider's switches, the faults left on."""
    states = lab.states()
    attached = lab.networks()
    found: dict[str, Any] = {}
    for service in SERVICES:
        state = states.get(service, "missing")
        on = attached.get(service, [])
        expected = [net for net, hosts in HOST_NUMBERS.items() if service in hosts]
        off = [net for net in expected if net not in on] if state == "healthy" else []
        if state == "healthy" and off:
            state = "hung up" if service in (p.customer for p in PROVIDERS) else "cut off"
        elif state != "healthy" and state != "starting":
            state = "stopped" if state in ("exited", "dead", "created", "missing") else state
        found[service] = {"state": state, "networks": on, "off": off,
                          "addresses": {net: lab.settings.address(service, net) for net in expected}}
    running = tuple(p for p in PROVIDERS if states.get(p.service) == "healthy")
    switched: dict[str, list[Any]] = {service: [in_every_language(word) for word in s.on()]
                                      for service, s in switches.state(lab, running).items()}
    for p in running:  # the admin's own settings, under the provider (lab postconf)
        own = [in_every_language(_("own: {setting}").format(setting=line))
               for line in overrides.differences(lab.settings, p)]
        switched[p.service] += [{language: said[:44] for language, said in words.items()} for words in own]
    left = [faults.FAULTS[name] for name in faults.left_on(Journal(lab.settings)) if name in faults.FAULTS]
    return {"machines": found, "switches": switched, "project": lab.project,
            "faults": [{"name": f.name, "at": f.at} for f in left]}


def _place(t: trace.Trace) -> tuple[str, int]:
    """Where a traced message is now (a service, or "mailbox" at the receiving provider),
    and the furthest step of the story it reached."""
    lane = {name: what.split()[0] for name, what in t.lanes}  # X -> client-x, A -> provider-a, ...
    step = max((e.story for e in t.events), default=1)
    last = t.events[-1] if t.events else None
    if last is None:
        return "", step
    if any(e.story == 6 for e in t.events):
        return "retrieved", step
    if "notification" in last.label and last.target == t.lanes[0][0]:
        return t.lanes[0][1].split()[0], step  # a bounce or a report on its way back to the sender
    if last.story == 5 and last.ok:
        return "mailbox", step
    if last.story <= 3 or not last.ok:
        return lane.get(last.source, ""), step
    return lane.get(last.target, ""), step


def in_every_language(text: str) -> dict[str, str]:
    """A sentence of the lab in each of the page's languages: one live part serves every
    open page, each picks its own (lab.js). A server's reply is the same in all."""
    return {language: i18n.render(text, language) for language in LANGUAGES}


def journey(t: trace.Trace) -> dict[str, Any]:
    place, step = _place(t)
    receiver = provider_of(t.lanes[-1][1])
    events = [{"time": e.time, "story": e.story, "step": trace.STORY[e.story], "from": e.source,
               "to": e.target, "label": e.label, "ok": e.ok} for e in t.events]
    done = sorted({e.story for e in t.events if e.ok})
    failed = sorted({e.story for e in t.events if not e.ok} - set(done))
    return {"id": t.message_id, "lanes": [name for name, _ in t.lanes],
            "sender": t.lanes[0][1].split()[0],
            "recipient": t.lanes[-1][1], "place": place, "mailbox_at": receiver.service if receiver else "",
            "reader": receiver.customer if receiver else "",
            "step": step, "done": done, "failed": failed, "outcome": in_every_language(t.outcome),
            "events": events}


def mail(settings: Settings, logs: dict[str, list[maillog.LogLine]], since: float | None) -> dict[str, Any]:
    """The journeys of the last messages anyone sent into the lab, and the refusals."""
    logs = {svc: [line for line in lines if since is None or line.time >= since]
            for svc, lines in logs.items()}
    queues = {svc: maillog.messages(lines) for svc, lines in logs.items()}
    firsts: dict[str, float] = {}
    for q in queues.values():
        for m in q.values():
            if m.via and m.message_id:
                firsts[m.message_id] = min(firsts.get(m.message_id, m.received), m.received)
    newest = sorted(firsts, key=firsts.__getitem__)[-JOURNEYS_SHOWN:]
    # read once for all the journeys: tracing each one from the whole log again made a
    # new line take half a second to reach the page once a few hundred messages were in it
    readings = {svc: trace.Readings.of(lines) for svc, lines in logs.items()}
    journeys = []
    for message_id in reversed(newest):
        try:
            journeys.append(journey(trace.assemble(settings, message_id, queues, logs, readings=readings)))
        except (LabError, ValueError, IndexError):  # a message the logs tell only half of, yet
            continue
    return {"journeys": journeys, "refused": refusals(settings, logs, readings)}


def refusals(settings: Settings, logs: dict[str, list[maillog.LogLine]],
             readings: dict[str, trace.Readings]) -> list[dict[str, Any]]:
    """Relay attempts, forged senders, wrong passwords: who was stopped where, and why."""
    found = []
    for p in PROVIDERS:
        for r in readings[p.service].rejects:
            address = re.search(r"\[([0-9.]+)\]", r.client)
            who = settings.service_at(address.group(1)) if address else ""
            found.append({"time": r.time, "at": p.service, "who": who or r.client, "what": r.action,
                          "reply": in_every_language(r.reply), "sender": r.sender, "recipient": r.recipient})
        for f in maillog.auth_failures(logs[p.service]):
            found.append({"time": f.time, "at": p.service, "who": settings.service_at(f.address) or f.address,
                          "what": "login",
                          "reply": in_every_language(_("wrong password or user ({program})").format(
                              program=f.program)),
                          "sender": f.user, "recipient": ""})
    return sorted(found, key=lambda r: r["time"])[-REFUSALS_SHOWN:][::-1]


def spools(lab: Lab) -> dict[str, Any]:
    """Each provider's queue and mailboxes; a stopped provider's are unknown (None)."""
    found: dict[str, Any] = {}
    for p in PROVIDERS:
        try:
            found[p.service] = {"queue": [asdict(q) for q in spool.queue(lab, p)],
                                "mailboxes": [asdict(m) for m in spool.mailboxes(lab, p)]}
        except LabError:
            found[p.service] = None
    return found
