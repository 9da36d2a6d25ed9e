"""The providers' logs, read back as what happened to each message.

Postfix writes to stdout and Dovecot to stderr, so `docker logs --timestamps` holds
both, each line stamped by Docker. `lab trace` and `lab check` read them through this
module: one parser, so a trace and a check never disagree about what a line means.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from lab import docker
from lab.text import printable

# 2026-11-27T18:40:01.123456789Z Nov 27 18:40:01 provider-a postfix/submission/smtpd[91]: 4F3A2: ...
DOCKER_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z (.*)$")
POSTFIX = re.compile(r"\b(postfix(?:/[\w-]+)+)\[\d+\]: (?:([0-9A-F]{6,}|NOQUEUE): )?(.*)$")
DOVECOT = re.compile(
    r"\b(lmtp|pop3|pop3-login|imap|imap-login|doveadm)(?:\(([^)]*)\))?((?:<[^>]*>)*): "
    r"(?:Info: |Warning: |Error: )?(.*)$")
POSTGREY = re.compile(r"^postgrey: (action=.*)$")  # images/provider/greylist marks its lines
FIELD = re.compile(r"(\w[\w-]*)=(<[^>]*>|\[[^\]]*\][^,\s]*|[^,\s]*)")
STATUS = re.compile(r"status=(\w+) \((.*)\)$")


@dataclass(frozen=True)
class LogLine:
    time: float  # seconds since the epoch, as Docker stamped the line
    program: str  # postfix/submission/smtpd, postfix/qmgr, lmtp, pop3, imap-login, ...
    queue_id: str  # Postfix's queue id, "NOQUEUE", or ""
    user: str  # Dovecot's user, or ""
    text: str
    session: str = ""  # Dovecot's session id: ties a POP3 or IMAP login to what it did

    @property
    def fields(self) -> dict[str, str]:
        return {k: v.strip("<>") if v.startswith("<") else v for k, v in FIELD.findall(self.text)}


def parse_time(stamp: str, fraction: str | None) -> float:
    whole = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return whole.timestamp() + float(fraction or 0)


def parse(lines: str) -> list[LogLine]:
    """The Postfix and Dovecot lines of a `docker logs --timestamps` output."""
    parsed = []
    for raw in printable(lines).splitlines():  # a provider's root may write anything there
        stamped = DOCKER_LINE.match(raw)
        if not stamped:
            continue
        when = parse_time(stamped.group(1), stamped.group(2))
        rest = stamped.group(3)
        if postfix := POSTFIX.search(rest):
            program, queue_id, text = postfix.groups()
            parsed.append(LogLine(when, program, queue_id or "", "", text))
        elif dovecot := DOVECOT.search(rest):
            program, user, ids, text = dovecot.groups()
            session = re.findall(r"<([^>]*)>", ids)[-1:] or re.findall(r"session=<([^>]*)>", text)
            parsed.append(LogLine(when, program, "", user or "", text, "".join(session)))
        elif postgrey := POSTGREY.match(rest):
            parsed.append(LogLine(when, "postgrey", "", "", postgrey.group(1)))
    return sorted(parsed, key=lambda line: line.time)  # stdout and stderr come apart


def read(container: str, since: float | None = None) -> list[LogLine]:
    """A container's mail log lines, from `since` (seconds since the epoch) on."""
    done = docker.logs(container, since=since, timestamps=True)
    return parse(done.stdout + "\n" + done.stderr)


# --- what happened to each message -------------------------------------------------------


@dataclass
class Attempt:
    """One delivery attempt of one recipient: to B's MX (smtp), or into a mailbox (lmtp)."""

    time: float
    program: str
    recipient: str
    relay: str  # mx.provider-b.test[10.80.0.20]:25, none, ...
    dsn: str
    status: str  # sent, deferred, bounced, expired
    reason: str  # the text in parentheses: the other side's answer, or the local error

    @property
    def next_queue_id(self) -> str:
        """The queue id the receiving Postfix gave the message ("250 ... queued as ID")."""
        match = re.search(r"queued as ([0-9A-F]+)", self.reason)
        return match.group(1) if match else ""


@dataclass
class Message:
    """One message in one Postfix, by queue id, as its log lines tell it."""

    queue_id: str
    received: float = 0.0
    via: str = ""  # the smtpd that took it: postfix/smtpd (port 25), postfix/submission/smtpd
    client: str = ""  # name[address] of the sending host
    sasl_user: str = ""
    message_id: str = ""
    sender: str = ""
    size: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    notices: list[tuple[float, str, str]] = field(default_factory=list)  # (time, kind, new queue id)
    removed: float = 0.0

    @property
    def client_address(self) -> str:
        match = re.search(r"\[([0-9.]+)\]", self.client)
        return match.group(1) if match else ""


def messages(lines: list[LogLine]) -> dict[str, Message]:
    """queue id -> Message, in the order Postfix first mentioned them."""
    found: dict[str, Message] = {}
    for line in lines:
        if not line.program.startswith("postfix/") or line.queue_id in ("", "NOQUEUE"):
            continue
        msg = found.setdefault(line.queue_id, Message(line.queue_id, received=line.time))
        f = line.fields
        if line.text.startswith("client="):
            msg.via, msg.client, msg.sasl_user = line.program, f["client"], f.get("sasl_username", "")
        elif line.text.startswith("message-id="):
            msg.message_id = line.text.removeprefix("message-id=").strip()
        elif line.text.startswith("from=<"):
            msg.sender, msg.size = f.get("from", ""), int(f.get("size", "0") or 0)
        elif line.text.startswith("to=<") and (status := STATUS.search(line.text)):
            msg.attempts.append(Attempt(line.time, line.program, f["to"], f.get("relay", ""),
                                        f.get("dsn", ""), status.group(1), status.group(2)))
        elif m := re.match(r"sender (non-delivery|delivery status|delay) notification: ([0-9A-F]+)",
                           line.text):
            msg.notices.append((line.time, m.group(1), m.group(2)))
        elif line.text == "removed":
            msg.removed = line.time
    return found


@dataclass(frozen=True)
class Reject:
    """A recipient Postfix refused (NOQUEUE: reject: ...), or took only to throw the
    message away (NOQUEUE: discard: ..., a full mailbox with QUOTA_FULL=discard), or a
    whole message a milter refused at the end of DATA (ID: milter-reject: ..., DMARC)."""

    time: float
    program: str
    command: str  # RCPT, DATA, ...
    client: str  # name[address]:port
    reply: str  # 554 5.7.1 <...>: Relay access denied; for a discard, the reason
    sender: str
    recipient: str
    action: str = "reject"  # or "discard", "milter-reject"
    queue_id: str = ""  # a milter-reject's: its message-id= line tells which message it was

    @property
    def greylisted(self) -> bool:
        return self.action == "reject" and "Greylisted" in self.reply


REJECT = re.compile(r"(reject|discard): (\w+) from (\S+): (\d{3} \d\.\d\.\d .*?|<[^>]*>: .*?); "
                    r"from=<([^>]*)> to=<([^>]*)>")


MILTER_REJECT = re.compile(r"milter-reject: (\S+) from (\S+): (\d\.\d\.\d .*?); from=<([^>]*)> to=<([^>]*)>")


def rejects(lines: list[LogLine]) -> list[Reject]:
    found = []
    for line in lines:
        if line.queue_id == "NOQUEUE" and (m := REJECT.search(line.text)):
            action, command, client, reply, sender, recipient = m.groups()
            found.append(Reject(line.time, line.program, command, client, reply, sender, recipient, action))
        elif m := MILTER_REJECT.search(line.text):
            command, client, reply, sender, recipient = m.groups()
            found.append(Reject(line.time, line.program, command, client, reply, sender, recipient,
                                "milter-reject", line.queue_id))
    return found


@dataclass(frozen=True)
class GreylistDecision:
    """What postgrey answered for one (client, sender, recipient): greylist or pass."""

    time: float
    action: str  # greylist, pass
    reason: str  # new, early-retry (5s missing), triplet found
    client_address: str
    sender: str
    recipient: str


def greylist_decisions(lines: list[LogLine]) -> list[GreylistDecision]:
    found = []
    for line in lines:
        if line.program == "postgrey":
            f = dict(part.split("=", 1) for part in line.text.split(", ") if "=" in part)
            found.append(GreylistDecision(line.time, f.get("action", ""), f.get("reason", ""),
                                          f.get("client_address", ""), f.get("sender", ""),
                                          f.get("recipient", "")))
    return found


# --- SMTP sessions ------------------------------------------------------------------------


@dataclass
class SmtpSession:
    """One client's conversation with one smtpd, from its `connect from` line to its
    `disconnect from` line, which counts each command: `ehlo=1 mail=0/2 quit=1
    commands=2/4` is two MAIL FROM, neither taken. Some refusals have a line of their own
    (`NOQUEUE: reject: MAIL from ...`); others only that count (503 5.5.1 "send HELO/EHLO
    first")."""

    program: str  # postfix/smtpd (port 25), postfix/submission/smtpd, ...
    client: str  # name[address]:port (smtpd_client_port_logging)
    start: float
    end: float = 0.0  # 0: not over yet
    commands: dict[str, tuple[int, int]] = field(default_factory=dict)  # "mail": (taken, tried)
    disconnect: str = ""  # its last line
    lines: list[LogLine] = field(default_factory=list)  # what Postfix said of it and its messages
    queue_ids: set[str] = field(default_factory=set)  # of the messages it began to send

    @property
    def address(self) -> str:
        match = re.search(r"\[([0-9.]+)\]", self.client)
        return match.group(1) if match else ""


def smtp_sessions(lines: list[LogLine]) -> list[SmtpSession]:
    """The SMTP sessions in a provider's log that began in it, in the order they began."""
    found: list[SmtpSession] = []
    talking: dict[tuple[str, str], SmtpSession] = {}
    for line in lines:
        if not line.program.startswith("postfix/"):
            continue
        smtpd = line.program.endswith("/smtpd")
        if smtpd and (m := re.match(r"connect from (\S+)$", line.text)):
            talking[line.program, m.group(1)] = session = SmtpSession(line.program, m.group(1), line.time)
            found.append(session)
        elif smtpd and (m := re.match(r"disconnect from (\S+)((?: [\w-]+=\d+(?:/\d+)?)*)$", line.text)):
            if session := talking.pop((line.program, m.group(1)), None):
                session.end, session.disconnect = line.time, line.text
                for name, taken, tried in re.findall(r"([\w-]+)=(\d+)(?:/(\d+))?", m.group(2)):
                    session.commands[name] = (int(taken), int(tried or taken))
        else:  # a line naming the client, or a message it is sending (smtpd, cleanup, a milter)
            for (program, client), session in talking.items():
                if (program == line.program and client in line.text) or line.queue_id in session.queue_ids \
                        or any(f"{queue_id}: " in line.text for queue_id in session.queue_ids):
                    session.lines.append(line)
                    if line.queue_id not in ("", "NOQUEUE"):
                        session.queue_ids.add(line.queue_id)
    return found


# --- Dovecot ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailboxEvent:
    """Dovecot did something to one message of a mailbox: saved (LMTP), seen, expunged."""

    time: float
    user: str
    program: str  # lmtp, pop3, imap, doveadm
    event: str  # saved, seen (the \Seen flag set), flagged (other flags changed), copied, expunged
    message_id: str
    session: str  # a POP3 or IMAP session's id (see ReadSession)
    flags: str = ""  # the message's flags after a change, e.g. "\Seen \Flagged"
    box: str = ""  # the folder it was copied into (IMAP COPY, MOVE)


def mailbox_events(lines: list[LogLine]) -> list[MailboxEvent]:
    found = []
    flags_before: dict[tuple[str, str, str], str] = {}  # (user, box, uid): the flags last logged
    for line in lines:
        # LMTP logs "msgid=<...>: saved mail to INBOX", or, when Sieve ran (it does since
        # the quarantine script), "sieve: msgid=<...>: stored mail into mailbox 'INBOX'"
        saved = r"(?:sieve: )?msgid=(<[^>]*>|\S+): (?:saved mail to|stored mail into mailbox)"
        if line.program == "lmtp" and (m := re.match(saved, line.text)):
            found.append(MailboxEvent(line.time, line.user, "lmtp", "saved", m.group(1), line.session))
        elif line.text.startswith("flag_change:"):
            # mail_log gives the flags after the change: \Seen is news only if it was not there
            key = (line.user, line.fields.get("box", ""), line.fields.get("uid", ""))
            flags = re.search(r"flags=\(([^)]*)\)", line.text)
            now = flags.group(1) if flags else ""
            seen = "\\Seen" in now and "\\Seen" not in flags_before.get(key, "")
            flags_before[key] = now
            found.append(MailboxEvent(line.time, line.user, line.program, "seen" if seen else "flagged",
                                      _msgid(line.text), line.session, now))
        elif copied := re.match(r"copy from \S+: box=([^,]+),", line.text):
            found.append(MailboxEvent(line.time, line.user, line.program, "copied", _msgid(line.text),
                                      line.session, box=copied.group(1)))
        elif line.text.startswith("expunge:"):
            found.append(MailboxEvent(line.time, line.user, line.program, "expunged",
                                       _msgid(line.text), line.session))
    return found


def _msgid(text: str) -> str:
    match = re.search(r"msgid=(<[^>]*>)", text)
    return match.group(1) if match else ""


@dataclass
class ReadSession:
    """One POP3 or IMAP login and what it did: Dovecot's login and logout lines, by
    session id. For IMAP, "retrieved" counts whole messages fetched (BODY[]), "topped"
    headers only, "deleted" messages expunged."""

    time: float
    user: str
    session: str
    protocol: str  # pop3 or imap
    tls: bool
    address: str  # the client's address
    retrieved: int = 0
    deleted: int = 0
    topped: int = 0
    ended: float = 0.0
    asked_uidl: bool = False  # POP3: the session listed UIDL (dovecot.conf's uidl_hash= is set)


# The logout line's counters, by protocol: POP3's "top=0/0, retr=1/512, del=1/1, size=...,
# uidl_hash=..." (dovecot.conf; the hash only when the session asked UIDL) and
# IMAP's imap_logout_format (dovecot.conf) "expunged=1 fetched=1 fetched_headers=0".
COUNTERS = {"pop3": {"retr": "retrieved", "del": "deleted", "top": "topped"},
            "imap": {"fetched": "retrieved", "expunged": "deleted", "fetched_headers": "topped"}}


def read_sessions(lines: list[LogLine], protocol: str | None = None) -> list[ReadSession]:
    """The POP3 and IMAP sessions in a provider's log (or one protocol's).

    Logins are read first: Dovecot's login process may log a session's "Login:" after
    the session's own process has logged it out (a short session, typed in one go),
    so the log's order cannot tie the two."""
    ours = [line for line in lines if line.program.removesuffix("-login") in COUNTERS
            and (not protocol or line.program.removesuffix("-login") == protocol)]
    sessions = {line.session: ReadSession(line.time, line.fields.get("user", ""), line.session,
                                          line.program.removesuffix("-login"), ", TLS" in line.text,
                                          line.fields.get("rip", ""))
                for line in ours if line.program.endswith("-login") and line.text.startswith("Login:")}
    for line in ours:
        if not line.program.endswith("-login") and line.session in sessions and (
                "Logged out" in line.text or "Disconnected" in line.text):
            s = sessions[line.session]
            for name, value in line.fields.items():
                if name in COUNTERS[s.protocol]:
                    setattr(s, COUNTERS[s.protocol][name], int(value.split("/")[0]))
            s.asked_uidl = bool(line.fields.get("uidl_hash"))
            s.ended = line.time
    return list(sessions.values())


@dataclass(frozen=True)
class AuthFailure:
    """A login refused: a wrong password or an unknown user, on submission (Postfix's
    SASL) or on POP3/IMAP (Dovecot's login process)."""

    time: float
    program: str  # postfix/submission/smtpd, pop3-login, imap-login
    address: str  # the client's address
    user: str  # as the client gave it (Dovecot logs it; Postfix does not)


SASL_FAILED = re.compile(r"warning: [^\[]*\[([0-9.]+)\](?::\d+)?: SASL \S+ authentication failed")


def auth_failures(lines: list[LogLine]) -> list[AuthFailure]:
    found = []
    for line in lines:
        if line.program.startswith("postfix/") and (m := SASL_FAILED.match(line.text)):
            found.append(AuthFailure(line.time, line.program, m.group(1), ""))
        elif line.program.endswith("-login") and "(auth failed" in line.text:
            found.append(AuthFailure(line.time, line.program, line.fields.get("rip", ""),
                                     line.fields.get("user", "")))
    return found
