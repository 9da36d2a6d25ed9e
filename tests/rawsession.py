"""Sessions byte for byte: exact bytes sent from a client container, one reply read after
each (tests/clients/raw_session.py runs there), and POP3 on top of it. IMAP is in
tests/imapsession.py; swaks sessions are in tests/harness.py."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from tests.harness import Container

RAW_SESSION = (Path(__file__).parent / "clients" / "raw_session.py").read_bytes()

STARTTLS = "STARTTLS"  # a raw step: switch the connection to TLS here


@dataclass
class RawSession:
    greeting: str | None
    replies: list[str | None]  # one per step sent; None: no reply (the server had hung up)
    closed: bool  # the server ended the connection before the client's QUIT
    quit: str | None  # the server's reply to QUIT, when it was still there
    local_port: int  # the client's port, as smtpd logs it ("from unknown[IP]:PORT")

    @property
    def answered(self) -> list[str]:
        return [r for r in self.replies if r is not None]

    @property
    def last(self) -> str:
        """The last reply the server gave (the greeting, if it answered no step)."""
        return (self.answered or [self.greeting or ""])[-1]

    @property
    def transcript(self) -> str:
        return (self.greeting or "") + "".join(self.answered) + (self.quit or "")


def raw_session(client: Container, host: str, port: int, steps: list[bytes | str],
                pregreet: bool = False, hangup: bytes | None = None, protocol: str = "smtp",
                tls: str = "none") -> RawSession:
    """Send exact bytes from `client`, one step at a time, reading one reply after each."""
    spec = {
        "host": host, "port": port, "pregreet": pregreet, "protocol": protocol, "tls": tls,
        "steps": [s if s == STARTTLS else base64.b64encode(s).decode() for s in steps],
    }
    if hangup is not None:
        spec["hangup"] = base64.b64encode(hangup).decode()
    done = client.run("python3", "-", json.dumps(spec), input=RAW_SESSION)
    result = json.loads(done.stdout)
    if result["timed_out"]:
        raise AssertionError(f"{host}:{port} did not answer in time: {result}")
    return RawSession(result["greeting"], result["replies"], result["closed"], result["quit"],
                      result["local_port"])


@dataclass
class PopReply:
    command: str | None
    reply: str  # the status line, without its CRLF
    data: bytes | None  # a multi-line reply's data: exact bytes, dot-unstuffed, without the "."

    @property
    def ok(self) -> bool:
        return self.reply.startswith("+OK")


def _pop_reply(command: str | None, raw: str | None) -> PopReply:
    if raw is None:
        return PopReply(command, "(no reply: the server had hung up)", None)
    status, _, rest = raw.encode("utf-8", "surrogateescape").partition(b"\r\n")
    if not rest:
        return PopReply(command, status.decode(), None)
    assert rest.endswith(b"\r\n.\r\n") or rest == b".\r\n", raw
    lines = rest[: -len(b".\r\n")].split(b"\r\n")
    data = b"\r\n".join(line[1:] if line.startswith(b"..") else line for line in lines)
    return PopReply(command, status.decode(), data)


def pop3(client: Container, host: str, commands: list[str], tls: str = "stls",
         port: int | None = None) -> list[PopReply]:
    """One POP3 session from `client`, read byte for byte; the greeting, then one reply
    per command (tls: "stls" first, "pop3s" on 995, or "none")."""
    steps: list[bytes | str] = [b"STLS\r\n", STARTTLS] if tls == "stls" else []
    steps += [f"{c}\r\n".encode() for c in commands]
    session = raw_session(client, host, port or (995 if tls == "pop3s" else 110), steps, protocol="pop3",
                          tls="implicit" if tls == "pop3s" else "none")
    named = (["STLS"] if tls == "stls" else []) + commands
    return [_pop_reply(None, session.greeting)] + [_pop_reply(c, r) for c, r in zip(named, session.replies)]


def pop3_login(user: str, password: str) -> list[str]:
    return [f"USER {user}", f"PASS {password}"]


def plain_token(user: str, password: str) -> str:
    """SASL PLAIN's one token: an empty authorization name, the login, the password."""
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def auth_plain(user: str, password: str) -> bytes:
    return f"AUTH PLAIN {plain_token(user, password)}\r\n".encode()


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
