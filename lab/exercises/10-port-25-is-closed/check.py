"""Exercise 10: X tries to hand mail straight to B's MX, as the story says was once
possible; A's port 25 block stops it. With the block off X reaches B, which sees only
X's own address (and, since SPF, refuses x@provider-a.test from it); with the block
back on, X submits through A's port 587 (STARTTLS) and 465 (TLS from the start)."""

from lab import i18n
from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_A, PROVIDER_B, X
from lab.i18n import _, ngettext

A, B = PROVIDER_A.service, PROVIDER_B.service
PORT_25 = "postfix/smtpd"  # the smtpd of B's MX (master.cf "smtp"); 587 and 465 log their own names
SUBMISSION = {587: "postfix/submission/smtpd", 465: "postfix/submissions/smtpd"}


def blocked(ev: Evidence) -> Result:
    count = ev.switches[A].blocked
    tried = ev.typed("client-x", r"\b(swaks|nc|ncat|telnet|openssl)\b.*(mx\.provider-b\.test|\b25\b)")
    if count and tried:
        return passed(ngettext("A refused {count} connection of X to port 25; you typed: {command}",
                               "A refused {count} connections of X to port 25; you typed: {command}",
                               count).format(count=count, command=tried[-1]))
    if count:
        return passed(ngettext("A refused {count} connection of X to another host's port 25",
                               "A refused {count} connections of X to another host's port 25", count).format(
            count=count))
    return failed(_("A's port 25 block has refused nothing of X since the last reset"))


def direct(ev: Evidence) -> list:
    """Messages B took on port 25 straight from X's own address (no provider between)."""
    x_address = ev.settings.address("client-x", "access-a")
    return [m for m in ev.messages(B) if m.client_address == x_address and m.via == PORT_25]


def straight_to_b(ev: Evidence) -> Result:
    found = direct(ev)
    if found:
        m = found[-1]
        if m.sasl_user:
            return passed(_("{queue_id}: from {client} (logged in as {user}), sender <{sender}>").format(
                queue_id=m.queue_id, client=m.client, user=m.sasl_user, sender=m.sender))
        return passed(_("{queue_id}: from {client} (no login at all), sender <{sender}>").format(
            queue_id=m.queue_id, client=m.client, sender=m.sender))
    x_address = ev.settings.address("client-x", "access-a")
    from_x = [r for r in ev.rejects(B) if f"[{x_address}]" in r.client]
    refused = [r for r in from_x if r.program == PORT_25]
    if refused:  # since SPF (exercise 12), B refuses x@provider-a.test from X's own line
        return passed(_("from {client} (no login), B answered: {reply}").format(client=refused[-1].client,
                                                                                reply=refused[-1].reply))
    ports = {program: port for port, program in SUBMISSION.items()}
    if from_x:  # B's 587 and 465 are open to everyone, block or not: not the story's hand-over
        where = (_("port {port}").format(port=ports[from_x[-1].program]) if from_x[-1].program in ports
                 else from_x[-1].program)
        return failed(_("X has not reached B's port 25 from its own address (B refused X on {where}, "
                        "a submission port, which the block leaves open)").format(where=where))
    return failed(_("X has not reached B's port 25 from its own address"))


def block_back_on(ev: Evidence) -> Result:
    off = [p for p, s in ev.switches.items() if not s.op25b]
    return failed(_("port 25 blocking is off at {services}").format(services=i18n.join(off, _(", ")))) \
        if off else passed(_("both providers block their customers' port 25"))


def submitted_after(port: int):
    def test(ev: Evidence) -> Result:
        turned_on = [e.time for e in ev.events("op25b") if e.get("value") == "on"]
        if not turned_on:
            return failed(_("the block was never switched back on (lab op25b on)"))
        after = [m for m in ev.submitted_by(X) if m.received > turned_on[-1] and m.via == SUBMISSION[port]]
        if not after:
            return failed(_("X has not submitted a message through A's port {port} since the block came back")
                          .format(port=port))
        return passed(_("{queue_id}: submitted on {port} as {user}").format(
            queue_id=after[-1].queue_id, port=port, user=after[-1].sasl_user))
    return test


STEPS = [
    Step(_("X tried B's port 25 directly, and A's block refused it"), blocked,
         _("in client-x: swaks --server mx.provider-b.test --from x@provider-a.test --to y@provider-b.test")),
    Step(_("With the block off, X reached B's port 25 itself"), straight_to_b,
         _("lab op25b off, then the same swaks in client-x")),
    Step(_("The block is on again"), block_back_on, _("lab op25b on")),
    Step(_("X then sent through A's submission port 587, with a login"), submitted_after(587),
         _("swaks --server smtp.provider-a.test:587 --tls --auth-user x@provider-a.test ... (exercise 2)")),
    Step(_("... and through port 465, TLS from the start, with a login"), submitted_after(465),
         _("swaks --server smtp.provider-a.test:465 --tlsc --auth-user x@provider-a.test ...")),
]
