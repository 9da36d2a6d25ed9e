"""IMAP sessions byte for byte, from inside a client container, as tests/harness.py's
`pop3` does for POP3 (the same raw client: tests/clients/raw_session.py).

Commands are given without a tag; each gets the next one (a1, a2, ...), as a learner
typing in `openssl s_client` would number them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.harness import Container
from tests.rawsession import STARTTLS, raw_session

LITERAL = re.compile(rb"\{(\d+)\}\r\n")


@dataclass
class ImapReply:
    command: str | None  # as sent, with its tag; None for the greeting
    raw: bytes  # everything the server answered, exact bytes

    @property
    def tag(self) -> str:
        return self.command.split(" ", 1)[0] if self.command else "*"

    @property
    def status(self) -> str:
        """The tagged line, without its tag and CRLF: "OK ...", "NO ...", "BAD ..."
        (for the greeting, or a reply with no tagged line, its last line)."""
        last = self.raw.rstrip(b"\r\n").rsplit(b"\r\n", 1)[-1].decode("utf-8", "replace")
        return last.removeprefix(f"{self.tag} ") if self.command else last

    @property
    def ok(self) -> bool:
        return self.status.startswith("OK")

    @property
    def untagged(self) -> list[str]:
        """The "* ..." lines, literals left out."""
        text = self._without_literals()
        return [line for line in text.decode("utf-8", "replace").split("\r\n") if line.startswith("* ")]

    @property
    def literals(self) -> list[bytes]:
        """The exact bytes of each {N} literal in the reply (a message FETCHed whole)."""
        found, at = [], 0
        while match := LITERAL.search(self.raw, at):
            size = int(match.group(1))
            found.append(self.raw[match.end(): match.end() + size])
            at = match.end() + size
        return found

    def _without_literals(self) -> bytes:
        out, at = b"", 0
        while match := LITERAL.search(self.raw, at):
            out += self.raw[at: match.start()] + b"{}"
            at = match.end() + int(match.group(1))
        return out + self.raw[at:]


def imap(client: Container, host: str, commands: list[str], tls: str = "starttls",
         port: int | None = None) -> list[ImapReply]:
    """One IMAP session from `client`: the greeting, then one reply per command (tls:
    "starttls" first, "imaps" on 993, or "none")."""
    tagged = [f"a{n} {c}" for n, c in enumerate((["STARTTLS"] if tls == "starttls" else []) + commands, 1)]
    steps: list[bytes | str] = []
    for i, command in enumerate(tagged):
        steps.append(f"{command}\r\n".encode())
        if i == 0 and tls == "starttls":
            steps.append(STARTTLS)
    session = raw_session(client, host, port or (993 if tls == "imaps" else 143), steps, protocol="imap",
                          tls="implicit" if tls == "imaps" else "none")
    replies = [ImapReply(None, (session.greeting or "").encode("utf-8", "surrogateescape"))]
    for command, raw in zip(tagged, session.replies):
        replies.append(ImapReply(command, (raw or "").encode("utf-8", "surrogateescape")))
    return replies


def imap_login(user: str, password: str) -> list[str]:
    return [f'LOGIN "{user}" "{password}"']
