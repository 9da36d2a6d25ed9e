"""Exercise 5: make A an open relay on purpose, watch it carry a stranger's spam, catch
it with the relay check, close it and prove it closed."""

from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_A, PROVIDER_B
from lab.i18n import _, ngettext
from lab.switches import is_open_relay

A = PROVIDER_A.service
SPAM_RECIPIENTS = 3


def spam_relayed(ev: Evidence) -> Result:
    outsider = ev.settings.address("outsider")
    recipients = {a.recipient for m in ev.messages(A) if m.client_address == outsider
                  for a in m.attempts if a.status == "sent" and a.relay.startswith(PROVIDER_B.mx)}
    count = len(recipients)
    if count >= SPAM_RECIPIENTS:
        return passed(ngettext("A relayed the outsider's mail to {count} recipient",
                               "A relayed the outsider's mail to {count} "
                               "recipients", count).format(count=count))
    return failed(ngettext("A relayed the outsider's mail to {count} recipient at B (expected {expected} or "
                           "more)",
                           "A relayed the outsider's mail to {count} recipients at B (expected {expected} "
                           "or more)",
                           count).format(count=count, expected=SPAM_RECIPIENTS))


def relay_checks(ev: Evidence) -> list:
    return [e for e in ev.events("relay-check") if e.get("server") == A]


def caught(ev: Evidence) -> Result:
    found = [e for e in relay_checks(ev) if e.get("relayed", 0) > 0]
    if not found:
        return failed(_("no relay check has found provider-a open"))
    return passed(ngettext("{relayed} of {attempts} trick relayed", "{relayed} of {attempts} tricks relayed",
                           found[-1].get("attempts", 0)).format(relayed=found[-1].get("relayed"),
                                                                attempts=found[-1].get("attempts")))


def closed(ev: Evidence) -> Result:
    value = ev.postconf(A, "mynetworks")
    setting = f"mynetworks = {value}"
    if is_open_relay(ev.lab):
        return failed(_("provider-a still trusts {setting}").format(setting=setting))
    return passed(_("A's setting: {setting}").format(setting=setting))


def proved_closed(ev: Evidence) -> Result:
    opened = [e.time for e in ev.events("open-relay") if e.get("value") == "on"]
    after = [e for e in relay_checks(ev) if opened and e.time > max(opened)]
    if not after:
        return failed(_("no relay check of provider-a since it was made open"))
    last = after[-1]
    counts = {"relayed": last.get("relayed"), "attempts": last.get("attempts")}
    return passed(ngettext("0 of {attempts} trick relayed", "0 of {attempts} tricks relayed",
                           counts["attempts"] or 0).format(**counts)) if last.get("relayed") == 0 else failed(
        ngettext("the last relay check found {relayed} of {attempts} trick relayed",
                 "the last relay check found {relayed} of {attempts} tricks relayed",
                 counts["attempts"] or 0).format(**counts))


STEPS = [
    Step(_("The outsider's \"spam\" went through A to {count} or more people at B").format(
        count=SPAM_RECIPIENTS), spam_relayed,
         _("lab open-relay on, then in outsider: swaks --server mx.provider-a.test --from "
           "spam@nowhere.example "
           "--to y@provider-b.test,y2@provider-b.test,postmaster@provider-b.test")),
    Step(_("The relay check caught A relaying"), caught,
         _("on this machine, while A is open: lab relay-check")),
    Step(_("A is closed again"), closed, _("lab open-relay off")),
    Step(_("A relay check proved it closed"), proved_closed, _("after closing it: lab relay-check")),
]
