"""Exercise 12: what each domain publishes (SPF, DKIM, DMARC, reverse DNS), B's
verdicts on X's honest message, and two forgeries from the outsider refused: the
envelope at RCPT by SPF, the From: header at the end of DATA by DMARC."""

import re

from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_B, X, Y

B = PROVIDER_B.service
CLIENTS = ("client-x", "client-y", "outsider")
RECORDS = {"SPF": r"\btxt\s+provider-[ab]\.test\b|\bprovider-[ab]\.test\.?\s+txt\b",
           "DKIM": r"\._domainkey\.", "DMARC": r"\b_dmarc\."}


def asked_the_dns(ev: Evidence) -> Result:
    typed = [c for s in CLIENTS for c in ev.typed(s, r"\bdig\b.*\btxt\b")]
    missing = [name for name, pattern in RECORDS.items()
               if not any(re.search(pattern, c, re.I) for c in typed)]
    return failed(f"no dig for the {', '.join(missing)} record yet") if missing else passed(
        f"{len(typed)} question(s) to the DNS, e.g. {typed[-1]}")


def y_read_checked_mail(ev: Evidence) -> Result:
    saved = {e.time for e in ev.mailbox_events(B, Y, "saved")
             if any(m.message_id == e.message_id for m in ev.submitted_by(X))}
    reads = [s for s in ev.pop_sessions(B, Y) if saved and s.time > min(saved) and s.retrieved]
    return passed(f"Y retrieved {reads[-1].retrieved} message(s) over POP3") if reads else failed(
        "Y has not retrieved (RETR) a message of X over POP3 since one arrived")


def refusals(ev: Evidence) -> list:
    outsider = ev.settings.address("outsider")
    return [r for r in ev.rejects(B) if f"[{outsider}]" in r.client]


def spf_at_rcpt(ev: Evidence) -> Result:
    found = [r for r in refusals(ev) if r.command == "RCPT" and "SPF:" in r.reply]
    return passed(found[-1].reply) if found else failed(
        "B has refused no sender of the outsider at RCPT for SPF")


def dmarc_at_end_of_data(ev: Evidence) -> Result:
    found = [r for r in refusals(ev) if r.action == "milter-reject" and "DMARC" in r.reply]
    return passed(f"{found[-1].reply} (envelope from <{found[-1].sender}>)") if found else failed(
        "B has refused no message of the outsider at the end of DATA for DMARC")


STEPS = [
    Step("You asked the DNS for SPF, DKIM and DMARC", asked_the_dns,
         "dig TXT provider-a.test, dig TXT maillab._domainkey.provider-a.test, "
         "dig TXT _dmarc.provider-a.test"),
    Step("Y retrieved X's honest message, with B's verdicts", y_read_checked_mail,
         "send from X (exercise 2), then as Y: POP3 to pop.provider-b.test and RETR it"),
    Step("B refused the forged envelope at RCPT (SPF)", spf_at_rcpt,
         "in the outsider: swaks --server mx.provider-b.test --from x@provider-a.test "
         "--to y@provider-b.test"),
    Step("B refused the forged From: at the end of DATA (DMARC)", dmarc_at_end_of_data,
         'in the outsider: swaks --server mx.provider-b.test --from bulk@nowhere.example '
         '--header "From: x@provider-a.test" --to y@provider-b.test'),
]
