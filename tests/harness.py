"""What the tests do to the lab: run commands in its containers, send, retrieve, poll.

Everything acts from inside the containers (`docker exec`), never from the host's own
network stack, so the suite runs on Docker Desktop as well as on Linux.
Verbs: `wait_until` polls, `send_*` sends, `pop3` retrieves, `*_messages` / `queue` read
state.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import TypeVar

from lab import config
from lab.checker import read_mailbox
from lab.compose import docker_exec
from lab.config import SUBMIT_SCRIPT

T = TypeVar("T")
WAIT_TIMEOUT = float(os.environ.get("LAB_WAIT_TIMEOUT", "30"))
CLIENT_SCRIPTS = Path(__file__).parent / "clients"
POP3_SESSION = (CLIENT_SCRIPTS / "pop3_session.py").read_bytes()
RAW_SESSION = (CLIENT_SCRIPTS / "raw_session.py").read_bytes()


class WaitTimeout(AssertionError):
    pass


def wait_until(check: Callable[[], T], what: str, timeout: float = WAIT_TIMEOUT,
               interval: float = 0.2, context: Callable[[], str] | None = None) -> T:
    """Poll `check` until it returns a truthy value, and return that value.

    On timeout, fail with `what` and, if given, `context()` (say, the last log lines).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = f"\n{context()}" if context else ""
            raise WaitTimeout(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def new_message_id(tag: str = "test") -> str:
    return f"<{tag}.{uuid.uuid4().hex}@maillab.test>"


def make_message(sender: str, recipient: str, subject: str = "maillab test",
                 body: str = "Hello from maillab.\n", message_id: str | None = None) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject  # non-ASCII is MIME-encoded (RFC 2047) by the policy
    msg["Date"] = "Fri, 27 Nov 2026 12:00:00 +0900"
    msg["Message-ID"] = message_id or new_message_id()
    msg.set_content(body, charset="utf-8", cte="8bit")
    return msg


# --- containers ---------------------------------------------------------------------


@dataclass
class Container:
    service: str
    id: str

    def run(self, *args: str, input: bytes | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        done = docker_exec(self.id, args, input=input, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(
                f"{self.service}: {' '.join(args)} exited {done.returncode}\n"
                f"{done.stdout.decode(errors='replace')}{done.stderr.decode(errors='replace')}"
            )
        return done

    def output(self, *args: str) -> str:
        return self.run(*args).stdout.decode()

    def log(self, tail: int | None = None) -> str:
        args = ["docker", "logs", *(["--tail", str(tail)] if tail else []), self.id]
        done = subprocess.run(args, capture_output=True, text=True)
        return done.stdout + done.stderr


@dataclass
class Provider(Container):
    domain: str = ""

    def messages(self, address: str) -> list[bytes]:
        """Every message in the address's INBOX (Maildir new/ and cur/), oldest first."""
        return read_mailbox(self.id, address)

    def messages_with(self, address: str, message_id: str) -> list[bytes]:
        needle = f"Message-ID: {message_id}".lower().encode()
        return [m for m in self.messages(address) if needle in m.lower()]

    def empty_mailbox(self, address: str) -> None:
        self.run("doveadm", "expunge", "-u", address, "mailbox", "INBOX", "all")

    def queue(self) -> list[dict]:
        """Postfix's queue as `postqueue -j` reports it: one dict per message."""
        out = self.output("postqueue", "-j")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def postconf(self, name: str) -> str:
        return self.output("postconf", "-h", name).strip()


# --- SMTP with swaks ------------------------------------------------------------------

REPLY_LINE = re.compile(r"^(?:<-|<~|<\*\*|<~\*)\s+(\d{3}[ -].*)$")
SENT_LINE = re.compile(r"^ (?:->|~>|\*>)\s(.*)$")


@dataclass
class SmtpSession:
    """A swaks run, parsed into (command, final reply line) exchanges."""

    transcript: str
    exit_code: int
    exchanges: list[tuple[str | None, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, transcript: str, exit_code: int) -> SmtpSession:
        session = cls(transcript, exit_code)
        command: str | None = None
        for line in transcript.splitlines():
            if sent := SENT_LINE.match(line):
                command = sent.group(1)
            elif reply := REPLY_LINE.match(line):
                text = reply.group(1)
                if text[3] == " ":  # the last line of a (multi-line) reply
                    session.exchanges.append((command, text))
        return session

    def reply(self, command: str) -> str:
        """The final reply line to the first command starting with `command` (e.g. "RCPT")."""
        for sent, reply in self.exchanges:
            if sent is not None and sent.upper().startswith(command.upper()):
                return reply
        raise AssertionError(f"swaks never sent {command}:\n{self.transcript}")

    def replies(self, command: str) -> list[str]:
        return [r for s, r in self.exchanges if s is not None and s.upper().startswith(command.upper())]

    @property
    def greeting(self) -> str:
        return self.exchanges[0][1]

    @property
    def data_reply(self) -> str:
        """The reply to the end of the message (the "." line): 250 ... queued as ID."""
        return self.reply(".")

    @property
    def queue_id(self) -> str:
        match = re.search(r"queued as ([0-9A-F]+)", self.data_reply)
        assert match, self.transcript
        return match.group(1)

    def ehlo_lines(self, which: int = 0) -> str:
        """The whole EHLO reply (which=0 before STARTTLS, 1 after)."""
        blocks = re.findall(r"EHLO [^\n]*\n((?:<[-~] +250[- ][^\n]*\n)+)", self.transcript)
        return blocks[which]


def swaks(client: Container, *args: str, message: bytes | None = None) -> SmtpSession:
    """Run swaks in `client`; with `message`, send it as the DATA (from stdin)."""
    extra = ["--data", "-"] if message is not None else []
    if message is not None:
        # swaks ends the DATA with CRLF "." CRLF itself: a final CRLF of ours would
        # become an extra empty line in the delivered message.
        message = message.removesuffix(b"\r\n")
    done = client.run("swaks", "--timeout", "15", *args, *extra, input=message, check=False)
    return SmtpSession.parse(done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace"),
                             done.returncode)


def submit(client: Container, sender: str, password: str, recipient: str,
           message: EmailMessage | None = None, server: str | None = None,
           extra: tuple[str, ...] = ()) -> SmtpSession:
    """Submit like a mail program: port 587, STARTTLS, AUTH as the sender."""
    domain = sender.split("@")[1]
    message = message or make_message(sender, recipient)
    return swaks(
        client, "--server", server or f"smtp.{domain}", "--port", "587", "--tls",
        "--auth", "PLAIN", "--auth-user", sender, "--auth-password", password,
        "--from", sender, "--to", recipient, *extra, message=message.as_bytes(),
    )


# --- POP3 -------------------------------------------------------------------------------


@dataclass
class PopReply:
    command: str | None
    reply: str
    data: bytes | None

    @property
    def ok(self) -> bool:
        return self.reply.startswith("+OK")


def pop3(client: Container, host: str, commands: list[str], tls: str = "stls",
         port: int | None = None) -> list[PopReply]:
    """One POP3 session from `client`; returns the greeting and one reply per command."""
    spec = {"host": host, "tls": tls, "commands": commands}
    if port:
        spec["port"] = port
    done = client.run("python3", "-", json.dumps(spec), input=POP3_SESSION)
    return [
        PopReply(r["command"], r["reply"], base64.b64decode(r["data"]) if r["data"] is not None else None)
        for r in json.loads(done.stdout)
    ]


def pop3_login(user: str, password: str) -> list[str]:
    return [f"USER {user}", f"PASS {password}"]


# --- raw bytes ----------------------------------------------------------------------------

STARTTLS = "STARTTLS"  # a raw step: switch the connection to TLS here


@dataclass
class RawSession:
    greeting: str
    replies: list[str]
    closed: bool  # the server hung up

    @property
    def transcript(self) -> str:
        return self.greeting + "".join(self.replies)


def raw_session(client: Container, host: str, port: int, steps: list[bytes | str],
                pregreet: bool = False, hangup: bytes | None = None) -> RawSession:
    """Send exact bytes from `client`, one step at a time, reading a reply after each."""
    spec = {
        "host": host, "port": port, "pregreet": pregreet,
        "steps": [s if s == STARTTLS else base64.b64encode(s).decode() for s in steps],
    }
    if hangup is not None:
        spec["hangup"] = base64.b64encode(hangup).decode()
    done = client.run("python3", "-", json.dumps(spec), input=RAW_SESSION)
    result = json.loads(done.stdout)
    return RawSession(result["greeting"], result["replies"], result["closed"])


def plain_token(user: str, password: str) -> str:
    """SASL PLAIN's one token: an empty authorization name, the login, the password."""
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def auth_plain(user: str, password: str) -> bytes:
    return f"AUTH PLAIN {plain_token(user, password)}\r\n".encode()


def submit_many(client: Container, sender: str, password: str, recipient: str, count: int,
                tag: str, **options) -> list[tuple[str, int, str]]:
    """Submit `count` messages in one session (lab/scripts/submit.py);
    [(message_id, code, reply)] per message."""
    smtp = f"smtp.{sender.split('@')[1]}"
    spec = {"host": smtp, "tls_name": smtp, "user": sender, "password": password,
            "recipient": recipient, "per_session": count, "tag": tag, **options}
    done = client.run("python3", "-", json.dumps(spec), input=SUBMIT_SCRIPT.read_bytes())
    return [tuple(row) for row in json.loads(done.stdout)["results"]]


def message_ids(messages: list[bytes]) -> list[str]:
    """The Message-ID of each message, in order (duplicates kept)."""
    ids = []
    for m in messages:
        match = re.search(rb"^Message-ID:\s*(<[^>]+>)", m, re.IGNORECASE | re.MULTILINE)
        ids.append(match.group(1).decode() if match else "")
    return ids


def deferred(provider: Provider) -> list[dict]:
    """A's deferred messages, each with the reason of its recipients' last failure."""
    return [m for m in provider.queue() if m["queue_name"] == "deferred"]


def pop3_retrieve_all(client: Container, host: str, user: str, password: str,
                      delete: bool = True) -> list[bytes]:
    """Every message in the mailbox, over POP3 with STLS (and deleted, by default)."""
    login = pop3_login(user, password)
    stat = pop3(client, host, [*login, "STAT", "QUIT"])[-2]
    count = int(stat.reply.split()[1])
    if not count:
        return []
    retrs = [f"RETR {n}" for n in range(1, count + 1)]
    deles = [f"DELE {n}" for n in range(1, count + 1)] if delete else []
    replies = pop3(client, host, [*login, *retrs, *deles, "QUIT"])
    return [r.data for r in replies if r.command and r.command.startswith("RETR")]


def fill_mailbox(provider, address: str, size: int) -> None:
    """Store one message of about `size` bytes straight into the mailbox (doveadm save)."""
    script = ('{ printf "From: filler@provider-b.test\\nSubject: filler\\n\\n"; '
              'head -c "$1" /dev/zero | tr "\\0" "a" | fold -w 76; } | doveadm save -u "$2"')
    provider.run("sh", "-c", script, "sh", str(size), address)


def delivery_reports(message: bytes) -> list[dict[str, str]]:
    """The per-recipient fields of a DSN (RFC 3464): Final-Recipient, Action, Status..."""
    from email import message_from_bytes
    from email.policy import compat32

    reports = []
    for part in message_from_bytes(message, policy=compat32).walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            reports += [{k.lower(): str(v) for k, v in block.items()} for block in blocks[1:]]
    return reports


def delivery_bound(settings: config.Settings) -> float:
    """How long after a restore A may take: one maximal backoff plus one queue scan,
    plus slack for the delivery itself."""
    schedule = config.RETRY_PROFILES[settings.retry_profile]
    return (config.seconds(schedule["maximal_backoff_time"])
            + config.seconds(schedule["queue_run_delay"]) + 10)
