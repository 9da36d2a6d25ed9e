"""Exercise 12: what each domain publishes (SPF, DKIM, DMARC) and what the reverse DNS
says of each machine; B's verdicts on X's honest message and on a newsletter with
one-click unsubscribe (RFC 8058) under A's signature; two forgeries from the outsider
refused: the envelope at RCPT by SPF, the From: header at the end of DATA by DMARC; and
an honest stranger delivered with dmarc=none."""

import re

from lab import config, i18n
from lab.checker import Evidence, Result, Step, auth_results, failed, header_block, passed
from lab.config import PROVIDER_B, X, Y
from lab.i18n import _, ngettext

B = PROVIDER_B.service
CLIENTS = ("client-x", "client-y", "outsider")
RECORDS = {"SPF": r"\btxt\s+provider-[ab]\.test\b|\bprovider-[ab]\.test\.?\s+txt\b",
           "DKIM": r"\._domainkey\.", "DMARC": r"\b_dmarc\."}
ONE_CLICK = ("list-unsubscribe", "list-unsubscribe-post")


def asked_the_dns(ev: Evidence) -> Result:
    typed = [c for s in CLIENTS for c in ev.typed(s, r"\bdig\b.*\btxt\b")]
    missing = [name for name, pattern in RECORDS.items()
               if not any(re.search(pattern, c, re.I) for c in typed)]
    if missing:
        return failed(ngettext("no dig for the {records} record yet", "no dig for the {records} records yet",
                               len(missing)).format(records=i18n.join(missing, _(", "))))
    return passed(ngettext("{count} question to the DNS, e.g. {command}",
                           "{count} questions to the DNS, e.g. {command}", len(typed)).format(
        count=len(typed), command=typed[-1]))


def asked_the_reverse_dns(ev: Evidence) -> Result:
    typed = [c for s in CLIENTS for c in ev.typed(s, r"\bdig\b.*\s-x\s")]
    return passed(_("you typed: {command}").format(command=typed[-1])) if typed else failed(
        _("no reverse lookup (dig -x ADDRESS) typed in a client yet"))


def y_read_checked_mail(ev: Evidence) -> Result:
    saved = {e.time for e in ev.mailbox_events(B, Y, "saved")
             if any(m.message_id == e.message_id for m in ev.submitted_by(X))}
    reads = [s for s in ev.pop_sessions(B, Y) if saved and s.time > min(saved) and s.retrieved]
    return passed(ngettext("Y retrieved {count} message over POP3", "Y retrieved {count} messages over POP3",
                           reads[-1].retrieved).format(count=reads[-1].retrieved)) if reads else failed(
        _("Y has not retrieved (RETR) a message of X over POP3 since one arrived"))


def at_y(ev: Evidence) -> list[tuple[str, dict[str, str]]]:
    """(headers, B's verdicts) of each message in Y's mailbox."""
    return [(header_block(m), auth_results(m, PROVIDER_B.mx)) for m in ev.mailbox(Y)]


def one_click(ev: Evidence) -> Result:
    """A message of X at Y with RFC 8058's two headers, both signed by A, dkim=pass."""
    seen = []
    for head, verdicts in at_y(ev):
        if not re.search(rf"^Return-Path: <{re.escape(X)}>", head, re.M):
            continue
        if not re.search(r"^List-Unsubscribe-Post:\s*List-Unsubscribe=One-Click\s*$", head, re.M | re.I) \
                or not re.search(r"^List-Unsubscribe:.*<https://", head, re.M | re.I):
            continue
        signature = re.search(r"^DKIM-Signature:.*?\bh=([^;]+);", head, re.M)
        signed = {h.strip().lower() for h in signature.group(1).split(":")} if signature else set()
        if set(ONE_CLICK) <= signed and verdicts.get("dkim") == "pass":
            return passed(_("List-Unsubscribe and List-Unsubscribe-Post under A's signature, "
                            "{verdict}").format(
                verdict="dkim=pass"))
        seen.append((", ".join(sorted(signed)), f"dkim={verdicts.get('dkim')}"))
    if seen:
        headers, verdict = seen[-1]
        if headers:
            return failed(_("X's newsletter arrived, but A signed only: {headers} ({verdict})").format(
                headers=headers, verdict=verdict))
        return failed(_("X's newsletter arrived, but A signed nothing ({verdict})").format(verdict=verdict))
    return failed(_("no message of X at Y with List-Unsubscribe: <https://...> and "
                    "List-Unsubscribe-Post: List-Unsubscribe=One-Click"))


def refusals(ev: Evidence) -> list:
    outsider = ev.settings.address("outsider")
    return [r for r in ev.rejects(B) if f"[{outsider}]" in r.client]


def spf_at_rcpt(ev: Evidence) -> Result:
    found = [r for r in refusals(ev) if r.command == "RCPT" and "SPF:" in r.reply]
    return passed(_("B answered: {reply}").format(reply=found[-1].reply)) if found else failed(
        _("B has refused no sender of the outsider at RCPT for SPF"))


def dmarc_at_end_of_data(ev: Evidence) -> Result:
    found = [r for r in refusals(ev) if r.action == "milter-reject" and "DMARC" in r.reply]
    return passed(_("B answered: {reply} (envelope from <{sender}>)").format(
        reply=found[-1].reply, sender=found[-1].sender)) if found else failed(
        _("B has refused no message of the outsider at the end of DATA for DMARC"))


def honest_stranger(ev: Evidence) -> Result:
    """A message at Y whose envelope and From: are both outside the lab's domains."""
    for head, verdicts in at_y(ev):
        sender = re.search(r"^Return-Path: <([^>]*)>", head, re.M)
        author = re.search(r"^From:.*?([\w.+-]+@[\w.-]+)", head, re.M)
        addresses = (sender.group(1), author.group(1)) if sender and author else ("", "")
        if all(addresses) and not any(config.provider_of(a) for a in addresses) \
                and verdicts.get("dmarc") == "none":
            return passed(_("from <{sender}>, From: {author}: {verdict}, delivered").format(
                sender=addresses[0], author=addresses[1], verdict="dmarc=none"))
    return failed(_("no honest message of a stranger (its own envelope and From:) has reached Y"))


STEPS = [
    Step(_("You asked the DNS for SPF, DKIM and DMARC"), asked_the_dns,
         _("dig TXT provider-a.test, dig TXT maillab._domainkey.provider-a.test, "
           "dig TXT _dmarc.provider-a.test")),
    Step(_("You asked the reverse DNS who an address is"), asked_the_reverse_dns,
         _("dig -x $(dig +short mx.provider-a.test); in client-x: dig -x $(hostname -I)")),
    Step(_("Y retrieved X's honest message, with B's verdicts"), y_read_checked_mail,
         _("send from X (exercise 2), then as Y: POP3 to pop.provider-b.test and RETR it")),
    Step(_("X's newsletter reached Y with one-click unsubscribe, signed"), one_click,
         _('swaks ... --add-header "List-Unsubscribe: <https://provider-a.test/unsubscribe?u=y>" '
           '--add-header "List-Unsubscribe-Post: List-Unsubscribe=One-Click" (step 3)')),
    Step(_("B refused the forged envelope at RCPT (SPF)"), spf_at_rcpt,
         _("in the outsider: swaks --server mx.provider-b.test --from x@provider-a.test "
           "--to y@provider-b.test")),
    Step(_("B refused the forged From: at the end of DATA (DMARC)"), dmarc_at_end_of_data,
         _('in the outsider: swaks --server mx.provider-b.test --from bulk@nowhere.example '
           '--header "From: x@provider-a.test" --to y@provider-b.test')),
    Step(_("An honest stranger's message reached Y, dmarc=none"), honest_stranger,
         _('in the outsider: swaks --server mx.provider-b.test --from bulk@nowhere.example '
           '--to y@provider-b.test --header "Subject: an honest stranger"')),
]
