"""Exercise 14: POP or IMAP? Y reads the same mail over IMAP from two devices (it
stays on the server; what one does the other sees), keeps a copy in a folder, reads it
over POP3 leaving a copy on the server (UIDL, no DELE), then takes the mail home over
POP3 with "delete after download"."""

from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_B, Y
from lab.i18n import _, ngettext
from lab.maillog import ReadSession

B = PROVIDER_B.service


def mail_arrived(ev: Evidence) -> Result:
    saved = ev.mailbox_events(B, Y, "saved")
    return passed(ngettext("{count} message saved for Y", "{count} messages saved for Y", len(saved)).format(
        count=len(saved))) if len(saved) >= 2 else failed(ngettext(
            "{count} message has arrived in Y's mailbox since the last reset; two are needed",
            "{count} messages have arrived in Y's mailbox since the last reset; two are needed",
            len(saved)).format(count=len(saved)))


def typed_imap(ev: Evidence) -> Result:
    found = ev.typed("client-y", r"s_client.*(-starttls\s+imap|-connect\s+\S+:(143|993))")
    return passed(_("in client-y you typed: {command}").format(command=found[-1])) if found else failed(
        _("no `openssl s_client ... imap` typed in client-y"))


def first_read(ev: Evidence) -> ReadSession | None:
    """The first IMAP session from client-y that read a whole message and deleted none."""
    here = ev.settings.address("client-y", PROVIDER_B.access_network)
    return next((s for s in ev.imap_sessions(B, Y) if s.address == here and s.tls and s.retrieved
                 and not s.deleted and s.ended), None)


def read_and_left(ev: Evidence) -> Result:
    session = first_read(ev)
    if session is None:
        return failed(_("B's log shows no IMAP session from client-y, inside TLS, that read a message "
                        "(FETCH ... BODY[]) and logged out without deleting"))
    return passed(ngettext("read {count} message, deleted none", "read {count} messages, deleted none",
                           session.retrieved).format(count=session.retrieved))


def second_device(ev: Evidence) -> Result:
    first = first_read(ev)
    if first is None:
        return failed(_("no first device yet (the step above)"))
    marked = [e for e in ev.mailbox_events(B, Y, "seen")
              if e.program == "imap" and e.session != first.session and e.time > first.time]
    return passed(_("another session marked {message_id} read").format(message_id=marked[-1].message_id)) \
        if marked else failed(_("no second IMAP session has marked a message read (STORE ... +FLAGS "
                                "(\\Seen)) "
                                "after the first"))


def kept_a_copy(ev: Evidence) -> Result:
    copies = [e for e in ev.mailbox_events(B, Y, "copied") if e.program == "imap"]
    return passed(_("copied into {folder}").format(folder=copies[-1].box)) if copies else failed(
        _("no message has been copied into a folder over IMAP (CREATE, then COPY)"))


def left_a_copy(ev: Evidence) -> Result:
    kept = [s for s in ev.pop_sessions(B, Y) if s.asked_uidl and s.retrieved and not s.deleted and s.ended]
    if kept:
        return passed(_("B's log of Y's POP3 session: {counts}").format(
            counts=f"UIDL, retr={kept[-1].retrieved}, del=0"))
    listed = [s for s in ev.pop_sessions(B, Y) if s.asked_uidl]
    return failed(_("a POP3 session asked UIDL but did not retrieve, or deleted, mail") if listed else
                  _("no POP3 session has asked UIDL, retrieved mail and left it on the server"))


def taken_home(ev: Evidence) -> Result:
    first = first_read(ev)
    after = [s for s in ev.pop_sessions(B, Y) if first and s.time > first.time and s.retrieved and s.deleted]
    return passed(_("B's log of Y's POP3 session: {counts}").format(
        counts=f"retr={after[-1].retrieved}, del={after[-1].deleted}")) if after else failed(
        _("no POP3 session has retrieved and deleted mail (RETR, DELE, QUIT) after the IMAP steps"))


STEPS = [
    Step(_("Two messages for Y have arrived at B"), mail_arrived,
         _("send two from X to y@provider-b.test (exercise 2)")),
    Step(_("You spoke IMAP by hand in client-y (openssl s_client)"), typed_imap,
         _("in client-y: openssl s_client -starttls imap -connect imap.provider-b.test:143 -crlf -quiet")),
    Step(_("Y read a message over IMAP, inside TLS, and left it on the server"), read_and_left,
         _("a LOGIN ..., b SELECT INBOX, c FETCH 1 BODY[], then d LOGOUT")),
    Step(_("A second device marked another message read"), second_device,
         _("connect again (993), SELECT INBOX, FETCH 1:* (FLAGS), then STORE 2 +FLAGS (\\Seen)")),
    Step(_("Y kept a copy in a folder of its own on the server"), kept_a_copy,
         _("CREATE Archive, then COPY 1 Archive (and GETQUOTAROOT INBOX before and after)")),
    Step(_("Y's family PC read it over POP3 and left a copy on the server"), left_a_copy,
         _("openssl s_client -starttls pop3 ...: UIDL, RETR 1, RETR 2, QUIT (no DELE)")),
    Step(_("Y took the mail home over POP3 and deleted it from the server"), taken_home,
         _("openssl s_client -starttls pop3 ...: RETR 1, RETR 2, DELE 1, DELE 2, QUIT")),
]
