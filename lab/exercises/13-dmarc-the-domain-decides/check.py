"""Exercise 13: the domain decides. The outsider's forged From: under each DMARC
policy (recorded, marked, refused), and A's broken signature saved by SPF."""

import re

from lab.checker import Evidence, Result, Step, auth_results, failed, header_block, passed
from lab.config import PROVIDER_A, PROVIDER_B, X, Y

A, B = PROVIDER_A.service, PROVIDER_B.service


def forged(ev: Evidence) -> list[str]:
    """The headers of messages at Y whose From: says X but which did not come from X."""
    heads = [header_block(m) for m in ev.mailbox(Y)]
    return [h for h in heads if re.search(rf"^From:.*{re.escape(X)}", h, re.M | re.I)
            and not re.search(rf"^Return-Path: <{re.escape(X)}>", h, re.M)]


def recorded(ev: Evidence) -> Result:
    ours = rf"^Authentication-Results: {re.escape(PROVIDER_B.mx)};.*\bdmarc=fail \(p=none"
    found = [h for h in forged(ev) if re.search(ours, h, re.M)]
    return passed("a forgery at Y, recorded dmarc=fail (p=none)") if found else failed(
        "no forged From: has reached Y under p=none")


def quarantined(ev: Evidence) -> Result:
    found = [h for h in forged(ev) if re.search(r"^Subject: \[DMARC quarantine\]", h, re.M)]
    return passed("a forgery at Y, marked [DMARC quarantine]") if found else failed(
        "no forgery has reached Y marked [DMARC quarantine]")


def y_looked(ev: Evidence) -> Result:
    saved = [e.time for e in ev.mailbox_events(B, Y, "saved")]
    looks = [s for s in ev.pop_sessions(B, Y) if saved and s.time > min(saved) and (s.topped or s.retrieved)]
    return passed(f"Y looked at {looks[-1].topped + looks[-1].retrieved} message(s)") if looks else failed(
        "Y has not looked (TOP or RETR) at its mail over POP3")


def refused_after_quarantine(ev: Evidence) -> Result:
    policies = ev.events("dmarc")
    quarantine = [e.time for e in policies if e.get("policy") == "quarantine"]
    reject = [e.time for e in policies
              if e.get("policy") == "reject" and quarantine and e.time > quarantine[0]]
    if not reject:
        return failed("p=reject has not been set after p=quarantine (lab dmarc reject)")
    outsider = ev.settings.address("outsider")
    found = [r for r in ev.rejects(B) if r.action == "milter-reject" and "DMARC" in r.reply
             and f"[{outsider}]" in r.client and r.time >= reject[-1] - 1]  # logs: whole seconds
    return passed(found[-1].reply) if found else failed(
        "B has refused no forgery of the outsider since p=reject was set")


def saved_by_spf(ev: Evidence) -> Result:
    for message in ev.mailbox(Y):
        found = auth_results(message, PROVIDER_B.mx)
        if re.search(rf"^Return-Path: <{re.escape(X)}>", header_block(message), re.M) \
                and (found.get("dkim"), found.get("dmarc")) == ("fail", "pass"):
            return passed("X's message: dkim=fail, yet dmarc=pass (SPF passed and aligned)")
    return failed("no message of X at Y with dkim=fail and dmarc=pass")


def key_fixed(ev: Evidence) -> Result:
    fixed = [e for e in ev.events("dkim") if not e.get("broken")]
    key = ev.switches[A].dkim_key
    return passed("A signs with the published key again") if fixed and key == "good" else failed(
        f"A's key is {key} (lab dkim fix)" if key != "good" else "the key was never fixed after breaking it")


STEPS = [
    Step("Under p=none, a forged From: reached Y, recorded", recorded,
         "lab dmarc none, then from the outsider: swaks --server mx.provider-b.test --from "
         'bulk@nowhere.example --header "From: x@provider-a.test" --to y@provider-b.test'),
    Step("Under p=quarantine, it reached Y marked", quarantined, "lab dmarc quarantine, and forge again"),
    Step("Y looked at them over POP3", y_looked, "as Y: POP3 to pop.provider-b.test, TOP 1 20"),
    Step("Under p=reject, B refused it", refused_after_quarantine, "lab dmarc reject, and forge once more"),
    Step("With A's key broken, X's mail failed DKIM and passed DMARC", saved_by_spf,
         "lab dkim break, then send from X to Y (exercise 2)"),
    Step("A's key is fixed", key_fixed, "lab dkim fix"),
]
