"""What the tests do to the lab: run commands in its containers, send, retrieve, poll.

Everything acts from inside the containers (`docker exec`), never from the host's own
network stack, so the suite runs on Docker Desktop as well as on Linux.
Verbs: `wait_until` polls, `send_*` sends, `*_messages` / `queue` read state; sessions byte
for byte (POP3, raw SMTP) are in tests/rawsession.py, IMAP in tests/imapsession.py.
"""

from __future__ import annotations

import ipaddress
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
from typing import NamedTuple, TypeVar

from lab import config, dnszones
from lab.compose import docker_exec
from lab.config import SUBMIT_SCRIPT
from lab.docker import logs as docker_logs
from lab.mailbox import read_mailbox

T = TypeVar("T")
WAIT_TIMEOUT = float(os.environ.get("LAB_WAIT_TIMEOUT", "30"))
CLIENT_SCRIPTS = Path(__file__).parent / "clients"


class WaitTimeout(AssertionError):
    pass


def wait_until(check: Callable[[], T], what: str, timeout: float = WAIT_TIMEOUT,
               interval: float = 0.1, context: Callable[[], str] | None = None) -> T:
    """Poll `check` until it returns a truthy value, and return that value.

    The pause between polls starts at `interval` and grows to at most a second: most
    waits end within milliseconds, the long ones wait for a retry (seconds), and each
    poll is a `docker exec` or a log read that costs the machine CPU (the suite runs
    on several labs at once). On timeout, fail with `what` and, if given, `context()`
    (say, the last log lines).
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
        interval = min(interval * 1.5, 1.0)


def new_message_id(tag: str = "test") -> str:
    return f"<{tag}.{uuid.uuid4().hex}@maillab.test>"


def new_helo(tag: str = "test") -> str:
    """An EHLO name no other session uses: Postfix logs it with every refusal."""
    return f"{tag}-{uuid.uuid4().hex[:12]}.client.test"


def refusals(provider: Container, helo: str, since: float, expected: int = 1) -> list[str]:
    """The provider's "NOQUEUE: reject:" lines, logged from `since` on (seconds since
    the epoch), for the sessions that said EHLO `helo`, once at least `expected` of them
    are there: a line reaches the container's log a moment after the reply reached the
    client (a test that read at once once found none)."""
    def found() -> list[str]:
        return [line for line in provider.log(since=since - 1).splitlines()
                if "NOQUEUE: reject:" in line and f" helo=<{helo}>" in line]
    if expected:
        wait_until(lambda: len(found()) >= expected,
                   f"{expected} refusal(s) of EHLO {helo} in {provider.service}'s log", timeout=10)
    return found()


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

    def log(self, tail: int | None = None, since: str | float | None = None) -> str:
        """The container's output (Postfix and Dovecot log there), all of it, its last
        `tail` lines, or what came `since` a time (seconds since the epoch, or Docker's
        RFC 3339 form); raises if unreadable."""
        done = docker_logs(self.id, since=since, tail=tail)
        if done.returncode != 0:
            raise AssertionError(f"cannot read {self.service}'s log: {done.stderr.strip()}")
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

    def delete_message(self, address: str, message_id: str) -> None:
        """Remove one message (by Message-ID) that a test left in a mailbox."""
        self.run("doveadm", "expunge", "-u", address, "mailbox", "INBOX", "header", "Message-ID", message_id)

    def queued_for(self, address: str) -> list[dict]:
        """The queue entries (any queue) with `address` among their recipients."""
        return [m for m in self.queue() if any(r["address"] == address for r in m["recipients"])]

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


def swaks(client: Container, *args: str, message: bytes | None = None,
          helo: str | None = None) -> SmtpSession:
    """Run swaks in `client`; with `message`, send it as the DATA (from stdin). `helo`
    names the client in EHLO: a name of its own ties the server's log lines to it."""
    extra = ["--data", "-"] if message is not None else []
    if helo:
        extra += ["--ehlo", helo]
    if message is not None:
        # swaks ends the DATA with CRLF "." CRLF itself: a final CRLF of ours would
        # become an extra empty line in the delivered message.
        message = message.removesuffix(b"\r\n")
    done = client.run("swaks", "--timeout", "15", *args, *extra, input=message, check=False)
    return SmtpSession.parse(done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace"),
                             done.returncode)


# How swaks starts TLS on each submission port: STARTTLS on 587, from the first byte on 465.
SUBMISSION_TLS = {587: "--tls", 465: "--tls-on-connect"}


def submit(client: Container, sender: str, password: str, recipient: str,
           message: EmailMessage | None = None, server: str | None = None,
           extra: tuple[str, ...] = (), port: int = 587) -> SmtpSession:
    """Submit like a mail program: port 587 with STARTTLS (or 465, TLS from the start),
    AUTH as the sender."""
    domain = sender.split("@")[1]
    message = message or make_message(sender, recipient)
    return swaks(
        client, "--server", server or f"smtp.{domain}", "--port", str(port), SUBMISSION_TLS[port],
        "--auth", "PLAIN", "--auth-user", sender, "--auth-password", password,
        "--from", sender, "--to", recipient, *extra, message=message.as_bytes(),
    )


class Submitted(NamedTuple):
    """One message a client submitted, and what the server answered."""

    message_id: str
    code: int
    reply: str

    @property
    def queue_id(self) -> str:
        """The submitting server's queue id ("250 2.0.0 Ok: queued as ID")."""
        match = re.search(r"queued as ([0-9A-F]+)", self.reply)
        assert match, self.reply
        return match.group(1)


def submit_many(client: Container, sender: str, password: str, recipient: str, count: int,
                tag: str, **options) -> list[Submitted]:
    """Submit `count` messages in one session (lab/scripts/submit.py), each with a
    Message-ID of its own; what the server answered to each."""
    smtp = f"smtp.{sender.split('@')[1]}"
    spec = {"host": smtp, "tls_name": smtp, "user": sender, "password": password,
            "recipient": recipient, "per_session": count, "tag": tag, **options}
    done = client.run("python3", "-", json.dumps(spec), input=SUBMIT_SCRIPT.read_bytes())
    results = [Submitted(*row) for row in json.loads(done.stdout)["results"]]
    assert len(results) == count, f"asked for {count} submissions, got {len(results)}: {results}"
    return results


def deferred(provider: Provider) -> list[dict]:
    """A's deferred messages, each with the reason of its recipients' last failure."""
    return [m for m in provider.queue() if m["queue_name"] == "deferred"]


def fill_mailbox(provider, address: str, size: int) -> None:
    """Store one message of about `size` bytes straight into the mailbox (doveadm save)."""
    script = ('{ printf "From: filler@provider-b.test\\nSubject: filler\\n\\n"; '
              'head -c "$1" /dev/zero | tr "\\0" "a" | fold -w 76; } | doveadm save -u "$2"')
    provider.run("sh", "-c", script, "sh", str(size), address)


def too_big_for_the_rest(settings: config.Settings) -> int:
    """The size of the test message that cannot fit once the mailbox is nearly full:
    a tenth of the quota (1 MB of 10 MB), and under the message size limit."""
    return min(config.size_in_bytes(settings.mailbox_quota) // 10, settings.max_message_bytes // 2)


def nearly_fill(provider, settings: config.Settings, address: str) -> None:
    """Leave in the mailbox half the room `too_big_for_the_rest` needs."""
    provider.empty_mailbox(address)
    quota = config.size_in_bytes(settings.mailbox_quota)
    fill_mailbox(provider, address, quota - too_big_for_the_rest(settings) // 2)


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


def settle(providers: list[Provider], address: str, stall: float = 30, cap: float = 300) -> None:
    """Wait until no queue of these providers holds mail for `address`: what a test
    then counts in the mailbox cannot be joined by mail still on its way. While the
    count of queued messages keeps falling the wait goes on (hundreds of messages after
    a crash take longer than 30 s on a busy machine), up to `cap`; mail that stops
    moving for `stall` seconds fails."""
    started = fewest_at = time.monotonic()
    fewest = None
    while queued := {p.service: entries for p in providers if (entries := p.queued_for(address))}:
        count, now = sum(map(len, queued.values())), time.monotonic()
        if fewest is None or count < fewest:
            fewest, fewest_at = count, now
        if now - fewest_at > stall or now - started > cap:
            moved = "no message left them" if now - fewest_at > stall else "they kept moving"
            raise WaitTimeout(f"{count} messages for {address} still queued after "
                              f"{now - started:.0f} s ({moved} in the last {stall:.0f} s)\n"
                              + "\n".join(f"{svc}: {entries[:3]}" for svc, entries in queued.items()))
        time.sleep(1)


def deferred_entry(provider: Provider, queue_id: str) -> dict | None:
    """The queue entry of one message if it waits in the deferred queue, else None."""
    return next((m for m in deferred(provider) if m["queue_id"] == queue_id), None)


def client_in_log(settings: config.Settings, service: str) -> str:
    """How a provider's Postfix names a client in its log, NAME[ADDRESS]: a customer by
    its dial-up name, a provider by its mx. name (both forward-confirmed in the lab's
    DNS), the outsider, which has no name, as unknown."""
    provider = next((p for p in config.PROVIDERS if p.customer == service), None)
    if provider:
        address = settings.address(service, provider.access_network)
        return f"{dnszones.dialup_name(ipaddress.IPv4Address(address), provider)}[{address}]"
    owner = next((p for p in config.PROVIDERS if p.service == service), None)
    return f"{owner.mx if owner else 'unknown'}[{settings.address(service)}]"
