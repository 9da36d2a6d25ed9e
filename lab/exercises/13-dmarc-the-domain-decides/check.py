"""Exercise 13: the domain decides. The outsider's forged From: under each DMARC
policy (recorded, marked, refused); A's broken signature saved by SPF, and the same
mail forwarded, where only the signature can save it."""

import re

from lab.checker import Evidence, Result, Step, auth_results, failed, header_block, passed, spans
from lab.config import PROVIDER_A, PROVIDER_B, Y2, X, Y
from lab.i18n import _, ngettext

A, B = PROVIDER_A.service, PROVIDER_B.service


def forged(ev: Evidence, address: str = Y) -> list[str]:
    """The headers of messages at `address` whose From: says X but which did not come
    from X (the outsider's forgeries, and copies it forwarded)."""
    heads = [header_block(m) for m in ev.mailbox(address)]
    return [h for h in heads if re.search(rf"^From:.*{re.escape(X)}", h, re.M | re.I)
            and not re.search(rf"^Return-Path: <{re.escape(X)}>", h, re.M)]


def recorded(ev: Evidence) -> Result:
    ours = rf"^Authentication-Results: {re.escape(PROVIDER_B.mx)};.*\bdmarc=fail \(p=none"
    found = [h for h in forged(ev) if re.search(ours, h, re.M)]
    return passed(_("a forgery at Y, recorded {verdict}").format(verdict="dmarc=fail (p=none)")) if found \
        else failed(_("no forged From: has reached Y under p=none"))


def quarantined(ev: Evidence) -> Result:
    found = [h for h in forged(ev) if re.search(r"^Subject: \[DMARC quarantine\]", h, re.M)]
    return passed(_("a forgery at Y, marked {mark}").format(mark="[DMARC quarantine]")) if found else failed(
        _("no forgery has reached Y marked [DMARC quarantine]"))


def y_looked(ev: Evidence) -> Result:
    saved = [e.time for e in ev.mailbox_events(B, Y, "saved")]
    looks = [s for s in ev.pop_sessions(B, Y) if saved and s.time > min(saved) and (s.topped or s.retrieved)]
    seen = looks[-1].topped + looks[-1].retrieved if looks else 0
    return passed(ngettext("Y looked at {count} message", "Y looked at {count} messages", seen).format(
        count=seen)) if looks else failed(_("Y has not looked (TOP or RETR) at its mail over POP3"))


def refused_after_quarantine(ev: Evidence) -> Result:
    policies = ev.events("dmarc")
    quarantine = [e.time for e in policies if e.get("value") == "quarantine"]
    reject = [e.time for e in policies
              if e.get("value") == "reject" and quarantine and e.time > quarantine[0]]
    if not reject:
        return failed(_("p=reject has not been set after p=quarantine (lab dmarc reject)"))
    outsider = ev.settings.address("outsider")
    found = [r for r in ev.rejects(B) if r.action == "milter-reject" and "DMARC" in r.reply
             and f"[{outsider}]" in r.client and r.time >= reject[-1] - 1]  # logs: whole seconds
    return passed(_("B answered: {reply}").format(reply=found[-1].reply)) if found else failed(
        _("B has refused no forgery of the outsider since p=reject was set"))


def saved_by_spf(ev: Evidence) -> Result:
    for message in ev.mailbox(Y):
        found = auth_results(message, PROVIDER_B.mx)
        if re.search(rf"^Return-Path: <{re.escape(X)}>", header_block(message), re.M) \
                and (found.get("dkim"), found.get("dmarc")) == ("fail", "pass"):
            return passed(_("X's message: dkim=fail, yet dmarc=pass (SPF passed and aligned)"))
    return failed(_("no message of X at Y with dkim=fail and dmarc=pass"))


def key_broken_windows(ev: Evidence) -> list[tuple[float, float]]:
    """The times between a `lab dkim break` and the next `lab dkim fix`."""
    breaks = [c.time for c in ev.events("dkim") if c.get("value") == "broken"]
    return spans(breaks, [c.time for c in ev.events("dkim") if c.get("value") != "broken"])


def forward_refused(ev: Evidence) -> Result:
    """A DMARC refusal at B of a message X sent while A's key was broken: by Message-ID,
    so that a forgery in the same minutes does not count."""
    windows = key_broken_windows(ev)
    broken = {m.message_id for m in ev.submitted_by(X)  # the log's times are whole seconds
              if m.message_id and any(a - 1 <= m.received <= b + 1 for a, b in windows)}
    ids = {m.queue_id: m.message_id for m in ev.messages(B)}
    found = [r for r in ev.rejects(B) if r.action == "milter-reject" and "DMARC" in r.reply
             and ids.get(r.queue_id) in broken]
    if not found:
        return failed(_("B has refused no forwarded copy of X's mail signed with the broken key"))
    last = found[-1]
    return passed(_("B answered: {reply} (from=<{sender}>)").format(reply=last.reply, sender=last.sender))


def saved_by_signature(ev: Evidence) -> Result:
    for head in forged(ev, Y2):
        found = auth_results(head.encode(), PROVIDER_B.mx)
        if (found.get("dkim"), found.get("dmarc")) == ("pass", "pass") and found.get("spf") != "pass":
            return passed(_("a forwarded copy at y2: {spf}, yet dkim=pass and dmarc=pass").format(
                spf=f"spf={found.get('spf')}"))
    return failed(_("no forwarded copy of X's mail at y2 with dkim=pass and dmarc=pass"))


def key_fixed(ev: Evidence) -> Result:
    fixed = [e for e in ev.events("dkim") if e.get("value") != "broken"]
    key = ev.switches[A].dkim_key
    if fixed and key == "good":
        return passed(_("A signs with the published key again"))
    return failed(_("A's key is {state} (lab dkim fix)").format(state=key) if key != "good"
                  else _("the key was never fixed after breaking it"))


STEPS = [
    Step(_("Under p=none, a forged From: reached Y, recorded"), recorded,
         _("lab dmarc none, then from the outsider: swaks --server mx.provider-b.test --from "
           'bulk@nowhere.example --header "From: x@provider-a.test" --to y@provider-b.test')),
    Step(_("Under p=quarantine, it reached Y marked"), quarantined, _("lab dmarc quarantine, and forge "
                                                                      "again")),
    Step(_("Y looked at them over POP3"), y_looked, _("as Y: POP3 to pop.provider-b.test, TOP 1 20")),
    Step(_("Under p=reject, B refused it"), refused_after_quarantine, _("lab dmarc reject, and forge once "
                                                                        "more")),
    Step(_("With A's key broken, X's mail failed DKIM and passed DMARC"), saved_by_spf,
         _("lab dkim break, then send from X to Y (exercise 2)")),
    Step(_("With the key broken, a forwarded copy was refused"), forward_refused,
         _("in the outsider, N = that message's number in Y's mailbox (LIST): curl -s --ssl-reqd "
           "pop3://pop.provider-b.test/$N -u y@provider-b.test:... > copy.eml, then swaks --server "
           "mx.provider-b.test --from list@nowhere.example --to y2@provider-b.test --data copy.eml")),
    Step(_("A's key is fixed"), key_fixed, _("lab dkim fix")),
    Step(_("Forwarded with the good key, it passed on DKIM alone"), saved_by_signature,
         _("after lab dkim fix, send from X to Y again and forward that message (its number: the newest) "
           "the same way")),
]
