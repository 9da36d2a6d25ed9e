"""Exercise 4: Y asks B over POP3, by hand, whether mail has come."""

from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_B, Y
from lab.i18n import _, ngettext

B = PROVIDER_B.service


def mail_arrived(ev: Evidence) -> Result:
    saved = ev.mailbox_events(B, Y, "saved")
    if not saved:
        return failed(_("no message has arrived in Y's mailbox since the last reset"))
    return passed(ngettext("{count} message saved for Y", "{count} messages saved for Y", len(saved)).format(
        count=len(saved)))


def typed_pop_by_hand(ev: Evidence) -> Result:
    found = ev.typed("client-y", r"openssl\s+s_client.*pop3|s_client.*-connect\s+\S+:(110|995)")
    return passed(_("in client-y you typed: {command}").format(command=found[-1])) if found else failed(
        _("no `openssl s_client ... pop3` typed in client-y"))


def logged_in_with_tls(ev: Evidence) -> Result:
    sessions = [s for s in ev.pop_sessions(B, Y) if s.tls]
    return passed(ngettext("{count} login as {address}, inside TLS", "{count} logins as {address}, inside "
                                                                     "TLS",
                           len(sessions)).format(count=len(sessions), address=Y)) if sessions else failed(
        _("B's log shows no POP3 login as {address}").format(address=Y))


def retrieved(ev: Evidence) -> Result:
    done = [s for s in ev.pop_sessions(B, Y) if s.retrieved]
    if not done:
        return failed(_("no session has retrieved (RETR) a message"))
    return passed(_("B's log of the session: {counts}").format(counts=f"retr={done[-1].retrieved}"))


def deleted(ev: Evidence) -> Result:
    gone = [e for e in ev.mailbox_events(B, Y, "expunged") if e.program == "pop3"]
    return passed(_("deleted {message_id}").format(message_id=gone[-1].message_id)) if gone else failed(
        _("no message was deleted over POP3 (DELE marks it; QUIT makes it so)"))


def mailbox_empty(ev: Evidence) -> Result:
    left = len(ev.mailbox(Y))
    if left:
        return failed(ngettext("Y's mailbox still has {count} message", "Y's mailbox still has {count} "
                                                                        "messages",
                               left).format(count=left))
    return passed(_("STAT would answer {reply}").format(reply="+OK 0 0"))


STEPS = [
    Step(_("Mail for Y has arrived at B"), mail_arrived,
         _("send one from X to y@provider-b.test (exercise 2)")),
    Step(_("You spoke POP3 by hand from Y (openssl s_client)"), typed_pop_by_hand,
         _("in client-y: openssl s_client -starttls pop3 -connect pop.provider-b.test:110 -crlf -quiet")),
    Step(_("Y logged in to B, inside TLS"), logged_in_with_tls,
         _("type USER y@provider-b.test, then PASS ...")),
    Step(_("Y retrieved a message (RETR)"), retrieved, _("STAT, LIST, then RETR 1")),
    Step(_("Y deleted it (DELE, then QUIT)"), deleted,
         _("DELE 1, then QUIT: without QUIT nothing is deleted")),
    Step(_("Y's mailbox is empty now"), mailbox_empty, _("DELE every message, then QUIT")),
]
