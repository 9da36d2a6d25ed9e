"""Send exact bytes to an SMTP, POP3 or IMAP server and record, byte for byte, what it
answers: `python3 - SPEC_JSON` inside a client container (standard library only).

SPEC: {"host", "port", "protocol": "smtp" | "pop3" | "imap", "tls": "none" | "implicit",
       "pregreet": false, "steps": [STEP, ...], "hangup": B64}
A STEP is base64 bytes to send, after which exactly one reply is read; or "STARTTLS",
which switches the connection to TLS (after the server's go-ahead to the step before).
Replies are split by the protocol's own rules (an SMTP reply ends with a "NNN " line; a
POP3 reply is one status line, plus data up to "." for the multi-line commands; an IMAP
reply runs to the line tagged as the command was, or to a "+" go-ahead, and a literal
{N} in it is read as exactly N bytes), so a reply that arrives early or together with
another is never merged or lost.
"pregreet": the first step is sent before the server has spoken. "hangup": bytes sent
at the end without waiting, then the connection is dropped (a client that vanishes
mid-DATA). Otherwise QUIT (IMAP: LOGOUT) is sent last: a server that had hung up
answers it with the end of the connection, a server still serving with a reply.

Prints {"greeting", "replies": [reply or null (no reply in time) per step], "closed":
the server ended the connection before our QUIT, "quit": its reply to QUIT, "timed_out",
"local_port": our port, as the server logs it}.
"""

import base64
import json
import re
import socket
import ssl
import sys

REPLY_TIMEOUT = 8.0  # seconds for a reply (Postfix may delay one on errors)
SMTP_LAST_LINE = re.compile(rb"^\d{3}(?: [^\r\n]*)?\r?\n")
IMAP_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")  # a line announcing N bytes that follow as they are
QUIT = {"smtp": b"QUIT\r\n", "pop3": b"QUIT\r\n", "imap": b"Z LOGOUT\r\n"}


def pop3_multiline(command: bytes) -> bool:
    """Whether a POP3 command's +OK reply goes on with data lines up to "." (RFC 1939)."""
    words = command.split()
    verb = words[0].upper() if words else b""
    return verb in (b"CAPA", b"RETR", b"TOP") or (verb in (b"LIST", b"UIDL") and len(words) == 1)


class Connection:
    def __init__(self, sock: socket.socket, protocol: str) -> None:
        self.sock, self.protocol = sock, protocol
        self.buffer, self.closed, self.timed_out = b"", False, False
        self.tag = b""  # IMAP: the tag of the command being answered
        self.continuing = False  # IMAP: the server said "+": the next step goes on with it

    def _fill(self) -> bool:
        """Read more bytes; False when the server ended the connection or was silent."""
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            self.timed_out = True
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            chunk = b""
        if not chunk:
            self.closed = True
            return False
        self.buffer += chunk
        return True

    def _line(self) -> bytes | None:
        while b"\n" not in self.buffer:
            if self.closed or not self._fill():
                return None
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line + b"\n"

    def _exactly(self, size: int) -> bytes | None:
        while len(self.buffer) < size:
            if self.closed or not self._fill():
                return None
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def reply(self, command: bytes = b"", greeting: bool = False) -> str | None:
        """The next complete reply (to `command`, which tells a multi-line POP3 one and
        an IMAP one's tag; a step that follows a "+" go-ahead is the same command's)."""
        self.sock.settimeout(REPLY_TIMEOUT)
        lines = []
        if self.protocol == "imap" and command and not self.continuing:
            self.tag = command.split(b" ", 1)[0]
        while True:
            line = self._line()
            if line is None:
                return b"".join(lines).decode("utf-8", "surrogateescape") if lines else None
            lines.append(line)
            if self.protocol == "imap":
                while (literal := IMAP_LITERAL.search(lines[-1])) and not lines[-1].startswith(b"+"):
                    data, rest = self._exactly(int(literal.group(1))), self._line()
                    if data is None or rest is None:
                        return b"".join(lines).decode("utf-8", "surrogateescape")
                    lines += [data, rest]
                last_line = lines[-1]
                self.continuing = last_line.startswith(b"+ ") or last_line == b"+\r\n"
                if greeting or self.continuing or last_line.startswith(self.tag + b" "):
                    break
            elif self.protocol == "smtp":
                if SMTP_LAST_LINE.match(line):
                    break
            elif len(lines) == 1:
                if not (line.startswith(b"+OK") and pop3_multiline(command)):
                    break
            elif line in (b".\r\n", b".\n"):
                break
        return b"".join(lines).decode("utf-8", "surrogateescape")


def main() -> None:
    spec = json.loads(sys.argv[1])
    steps = spec["steps"]
    context = ssl.create_default_context()
    sock = socket.create_connection((spec["host"], spec["port"]), timeout=10)
    local_port = sock.getsockname()[1]
    if spec.get("tls") == "implicit":
        sock = context.wrap_socket(sock, server_hostname=spec["host"])
    conn = Connection(sock, spec.get("protocol", "smtp"))
    replies: list = []
    last = b""
    if spec.get("pregreet"):
        last = base64.b64decode(steps[0])
        sock.sendall(last)
        steps = steps[1:]
    greeting = conn.reply(greeting=True)
    if spec.get("pregreet"):
        replies.append(conn.reply(last))
    for step in steps:
        if conn.closed or conn.timed_out:
            replies.append(None)
            continue
        if step == "STARTTLS":
            conn.sock = context.wrap_socket(conn.sock, server_hostname=spec["host"])
            continue
        last = base64.b64decode(step)
        try:
            conn.sock.sendall(last)
        except OSError:
            conn.closed = True
        replies.append(conn.reply(last))
    quit_reply = None
    if spec.get("hangup"):
        if not conn.closed:
            conn.sock.sendall(base64.b64decode(spec["hangup"]))
        # Drop the connection at once (RST), as a client that vanishes does.
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    elif not conn.closed and not conn.timed_out:
        # A server still serving answers QUIT; one that had hung up (after its last
        # reply) ends the connection instead, and conn.closed says so.
        try:
            quit_command = QUIT[conn.protocol]
            conn.sock.sendall(quit_command)
            quit_reply = conn.reply(quit_command)
        except OSError:
            conn.closed = True
    conn.sock.close()
    print(json.dumps({"greeting": greeting, "replies": replies, "closed": conn.closed, "quit": quit_reply,
                      "timed_out": conn.timed_out, "local_port": local_port}))


main()
