"""Send exact bytes to a server and record what it answers: `python3 - SPEC_JSON`.

SPEC: {"host": ..., "port": 25, "pregreet": false, "steps": [STEP, ...], "hangup": B64}
A STEP is base64 bytes to send, then one reply is read; or "STARTTLS", which switches
the connection to TLS (after the server's 220 or +OK to the STARTTLS/STLS step sent
before it). The greeting is read first, unless "pregreet": then the first step is sent
before the server has spoken. "hangup": bytes sent at the end without waiting, before
closing (a client that disconnects mid-DATA); without it, QUIT is sent last, and a
server that does not answer it had hung up. Prints {"greeting", "replies", "closed"}.
"""

import base64
import json
import re
import socket
import ssl
import sys

FIRST_BYTE = 8.0  # seconds to wait for a reply to begin (Postfix may delay on errors)
COMPLETE = re.compile(rb"(^|\r\n)(\d{3} [^\r\n]*|[+-](OK|ERR)[^\r\n]*|\.)\r\n$")


def read_reply(sock: socket.socket) -> tuple[str, bool]:
    """Read until a reply is complete (an SMTP final line, a POP3 status line or the
    "." of a multi-line one) or the server hangs up."""
    data, closed = b"", False
    sock.settimeout(FIRST_BYTE)
    try:
        while not COMPLETE.search(data):
            chunk = sock.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except (socket.timeout, TimeoutError):
        pass
    except ConnectionResetError:
        closed = True
    return data.decode("utf-8", "replace"), closed


def main() -> None:
    spec = json.loads(sys.argv[1])
    steps = spec["steps"]
    sock = socket.create_connection((spec["host"], spec["port"]), timeout=10)
    if spec.get("pregreet"):
        sock.sendall(base64.b64decode(steps[0]))
        steps = steps[1:]
    greeting, closed = read_reply(sock)
    replies = []
    for step in steps:
        if closed:
            break
        if step == "STARTTLS":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=spec["host"])
            continue
        try:
            sock.sendall(base64.b64decode(step))
        except OSError:
            closed = True
            break
        reply, closed = read_reply(sock)
        if reply:
            replies.append(reply)
    if spec.get("hangup") and not closed:
        sock.sendall(base64.b64decode(spec["hangup"]))
    elif not closed:
        try:
            sock.sendall(b"QUIT\r\n")
            closed = not read_reply(sock)[0]
        except OSError:
            closed = True
    sock.close()
    print(json.dumps({"greeting": greeting, "replies": replies, "closed": closed}))


main()
