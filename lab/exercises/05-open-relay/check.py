"""Exercise 5: make A an open relay on purpose, watch it carry a stranger's spam, catch
it with the relay check, close it and prove it closed."""

from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_A, PROVIDER_B
from lab.switches import is_open_relay

A = PROVIDER_A.service
SPAM_RECIPIENTS = 3


def spam_relayed(ev: Evidence) -> Result:
    outsider = ev.settings.address("outsider")
    recipients = {a.recipient for m in ev.messages(A) if m.client_address == outsider
                  for a in m.attempts if a.status == "sent" and a.relay.startswith(PROVIDER_B.mx)}
    if len(recipients) >= SPAM_RECIPIENTS:
        return passed(f"A relayed the outsider's mail to {len(recipients)} recipients")
    return failed(f"A relayed the outsider's mail to {len(recipients)} recipient(s) at B "
                  f"(expected {SPAM_RECIPIENTS} or more)")


def relay_checks(ev: Evidence) -> list:
    return [e for e in ev.events("relay-check") if e.get("server") == A]


def caught(ev: Evidence) -> Result:
    found = [e for e in relay_checks(ev) if e.get("relayed", 0) > 0]
    if not found:
        return failed("no relay check has found provider-a open")
    return passed(f"{found[-1].get('relayed')} of {found[-1].get('attempts')} tricks relayed")


def closed(ev: Evidence) -> Result:
    value = ev.postconf(A, "mynetworks")
    return failed(f"provider-a still trusts mynetworks = {value}") if is_open_relay(ev.lab) else passed(
        f"mynetworks = {value}")


def proved_closed(ev: Evidence) -> Result:
    opened = [e.time for e in ev.events("open-relay") if e.get("value") == "on"]
    after = [e for e in relay_checks(ev) if opened and e.time > max(opened)]
    if not after:
        return failed("no relay check of provider-a since it was made open")
    last = after[-1]
    return passed(f"0 of {last.get('attempts')} relayed") if last.get("relayed") == 0 else failed(
        f"the last relay check found {last.get('relayed')} of {last.get('attempts')} tricks relayed")


STEPS = [
    Step(f"The outsider's \"spam\" went through A to {SPAM_RECIPIENTS} or more people at B", spam_relayed,
         "lab open-relay on, then in outsider: swaks --server mx.provider-a.test --from spam@nowhere.example "
         "--to y@provider-b.test,y2@provider-b.test,postmaster@provider-b.test"),
    Step("The relay check caught A relaying", caught, "on this machine, while A is open: lab relay-check"),
    Step("A is closed again", closed, "lab open-relay off"),
    Step("A relay check proved it closed", proved_closed, "after closing it: lab relay-check"),
]
