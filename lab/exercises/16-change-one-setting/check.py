"""Exercise 16: B's admin changes one Postfix setting at a time with `lab postconf`
(the journal records each, and each refusal), sees what the outsider now sees on
port 25, finds the line in B's log that proves it, and puts everything back.

A setting of your own is in force from its `lab postconf` to the next change of the
same key (its --unset, or another value); a session counts when it began in between."""

import re

from lab import i18n, maillog, overrides
from lab.checker import Evidence, Result, Step, failed, passed
from lab.config import PROVIDER_B
from lab.i18n import _

B = PROVIDER_B.service
PORT_25 = "postfix/smtpd"  # the smtpd of B's MX (master.cf "smtp")
TO_B = r"\b(swaks|nc|ncat|telnet|openssl)\b.*provider-b\.test"
NAME_FIRST = re.compile(rf"^(\$myhostname|\$\{{myhostname\}}|\$\(myhostname\)|{re.escape(PROVIDER_B.mx)})\b")
# smtpd counting the message as it comes, or cleanup once the milters' headers push it over
TOO_BIG_AT_DATA = re.compile(r"^warning: [0-9A-F]+: queue file size limit exceeded|"
                             r"^milter-reject: END-OF-MESSAGE .*5\.3\.4 Message file too big")
TOO_BIG_AT_MAIL = re.compile(r"reject: MAIL from \S+: 552 5\.3\.4 Message size exceeds fixed limit")
MAIL_REFUSED = re.compile(r"reject: MAIL from ")


def in_force(ev: Evidence, key: str) -> list[tuple[float, float, str]]:
    """(from, until, value): each value of your own `key` had on B since the reset."""
    changes = [e for e in ev.events("postconf") if e.get("provider") == B and e.get("key") == key]
    return [(e.time, changes[n + 1].time if n + 1 < len(changes) else float("inf"), e.get("value"))
            for n, e in enumerate(changes) if e.get("value") is not None]


def outsider_sessions(ev: Evidence, start: float, until: float) -> list:
    """The outsider's sessions with B's port 25 that began while a setting was in force."""

    outsider = ev.settings.address("outsider")
    return [s for s in maillog.smtp_sessions(list(ev.log(B)))
            if s.program == PORT_25 and s.address == outsider and start <= s.start < until]


def lab_value(ev: Evidence, key: str) -> str:
    """What the lab itself gives B's `key` (Postfix's default where the lab says nothing)."""
    return ev.run(B, "lab-overrides", "lab-value", key).strip() or ev.run(B, "postconf", "-dh", key).strip()


def none_of_your_own(key: str) -> Result:
    return failed(_("no {key} of your own on provider-b since the last reset").format(key=key))


def banner_seen(ev: Evidence) -> Result:
    spans = in_force(ev, "smtpd_banner")
    if not spans:
        return none_of_your_own("smtpd_banner")
    own = lab_value(ev, "smtpd_banner")
    yours = [(start, until, value) for start, until, value in spans if value != own]
    if not yours:
        return failed(_("your banner is the lab's own: smtpd_banner = {value}").format(value=own))
    named = [span for span in yours if NAME_FIRST.match(span[2])]
    if not named:
        return failed(_("your banner {banner} does not start with B's name ($myhostname): a greeting names "
                        "the server first (RFC 5321)").format(banner=f"'{yours[-1][2]}'"))
    outsider = ev.settings.address("outsider")
    for start, until, value in reversed(named):
        typed = [cmd for when, cmd in ev.typed_at("outsider", TO_B) if start - 1 <= when < until]
        sessions = outsider_sessions(ev, start, until)
        if typed and sessions:
            return passed(_("the outsider typed {command}; B's log: connect from {client} "
                            "(smtpd_banner = {value})").format(command=typed[-1], client=sessions[-1].client,
                                                               value=value))
        if sessions:
            return failed(_("B's log shows the outsider's connection, but nothing typed in the outsider's "
                            "shell reached B while your banner was on"))
    return failed(_("the outsider has not connected to B's port 25 while your banner was on (B's log: "
                    "no connect from [{address}])").format(address=outsider))


def refused_by_size(pattern: re.Pattern, missing: str):
    """A step passed by the outsider's message refused for its size while a
    message_size_limit of your own was in force: B's log line that says so."""
    def test(ev: Evidence) -> Result:
        spans = in_force(ev, "message_size_limit")
        if not spans:
            return none_of_your_own("message_size_limit")
        for start, until, value in reversed(spans):
            for session in reversed(outsider_sessions(ev, start, until)):
                said = [line.text.split("; ")[0] for line in session.lines if pattern.search(line.text)]
                if said:
                    return passed(_("B's log: {line} (message_size_limit = {value})").format(
                        line=said[-1], value=value))
        return failed(missing.format(value=spans[-1][2]))
    return test


def helo_required(ev: Evidence) -> Result:
    spans = [span for span in in_force(ev, "smtpd_helo_required") if span[2].strip().lower() == "yes"]
    if not spans:
        return failed(_("no smtpd_helo_required = yes of your own on provider-b since the last reset"))
    for start, until, _value in reversed(spans):
        for session in reversed(outsider_sessions(ev, start, until)):
            taken, tried = session.commands.get("mail", (0, 0))
            logged = sum(1 for line in session.lines if MAIL_REFUSED.search(line.text))
            if tried - taken > logged:  # a refusal with no line of its own: 503 5.5.1
                return passed(_("B's log: {line} ({tried} MAIL FROM, {taken} taken; smtpd_helo_required = "
                                "yes)").format(line=session.disconnect, tried=tried, taken=taken))
    return failed(_("B refused no MAIL FROM of the outsider's for want of HELO while smtpd_helo_required = "
                    "yes (it has no line of its own: the session's last line counts it, mail=0/1)"))


def refused_and_served_on(ev: Evidence) -> Result:
    refusals = [e for e in ev.events("postconf-refused") if e.get("provider") == B]
    if not refusals:
        return failed(_("Postfix has refused no setting for provider-b since the last reset"))
    last = refusals[-1]
    said = last.get("said", "")
    later = outsider_sessions(ev, last.time, float("inf"))
    if not later:
        return failed(_("Postfix refused {settings} ({said}), but the outsider has not greeted B "
                        "since").format(settings=last.get("settings", ""), said=said))
    return passed(_("Postfix said: {said}; then B greeted the outsider ({client})").format(
        said=said, client=later[-1].client))


def all_undone(ev: Evidence) -> Result:
    changed = [e for e in ev.events("postconf") if e.get("provider") == B]
    if not changed:
        return failed(_("you have changed nothing on provider-b since the last reset: nothing to undo yet"))
    left = overrides.read(ev.settings, PROVIDER_B, overrides.POSTFIX_FILE)
    if left:
        return failed(_("provider-b still runs with settings of your own: {settings}").format(
            settings=i18n.join([f"{key} = {value}" for key, value in left.items()], _("; "))))
    back = []
    for key in dict.fromkeys(e.get("key") for e in changed):
        live, own = ev.postconf(B, key), lab_value(ev, key)
        if live != own:
            return failed(_("provider-b runs with {setting}, the lab's own is {own}").format(
                setting=f"{key} = {live}", own=own))
        back.append(f"{key} = {live}")
    return passed(_("provider-b runs with the lab's own settings again: {settings}").format(
        settings=i18n.join(back, _("; "))))


STEPS = [
    Step(_("B greets the outsider with a banner of your own"), banner_seen,
         _("on the host: lab postconf provider-b 'smtpd_banner=$myhostname ESMTP ...'; then in the outsider: "
           "swaks --server mx.provider-b.test --quit-after CONNECT"), sandbox=True),
    Step(_("With a size limit of your own, B refused the outsider's bigger message at the end of DATA"),
         refused_by_size(TOO_BIG_AT_DATA, _("B has refused no message of the outsider's at the end of DATA "
                                            "while message_size_limit = {value}")),
         _("lab postconf provider-b message_size_limit=100000; in the outsider: head -c 200000 "
           "/dev/urandom > big, then swaks --server mx.provider-b.test --from someone@nowhere.example "
           "--to y@provider-b.test --attach @big --suppress-data"), sandbox=True),
    Step(_("... and refused a MAIL FROM whose SIZE= is over the limit, before the message was sent"),
         refused_by_size(TOO_BIG_AT_MAIL, _("B has refused no MAIL FROM of the outsider's with a SIZE= over "
                                            "message_size_limit = {value}")),
         _("in the outsider: nc -C mx.provider-b.test 25, then EHLO outsider and "
           "MAIL FROM:<someone@nowhere.example> SIZE=200000, one line at a time"), sandbox=True),
    Step(_("With HELO required, B refused the outsider's MAIL FROM before EHLO (503 5.5.1)"), helo_required,
         _("lab postconf provider-b smtpd_helo_required=yes; in the outsider: nc -C mx.provider-b.test 25, "
           "wait for the 220 and type MAIL FROM:<someone@nowhere.example> first"), sandbox=True),
    Step(_("Postfix refused a value it does not take, and B served on"), refused_and_served_on,
         _("lab postconf provider-b smtpd_helo_required=maybe; read the refusal, then in the outsider: "
           "swaks --server mx.provider-b.test --quit-after CONNECT"), sandbox=True),
    Step(_("All undone: B runs with the lab's own settings again"), all_undone,
         _("lab postconf provider-b --unset smtpd_banner --unset message_size_limit --unset "
           "smtpd_helo_required"), sandbox=True),
]
