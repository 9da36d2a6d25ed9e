"""Relay check: try the classic tricks that make a mail server relay for a stranger.

Each form is tried on a fresh connection (a server slows down and drops a client after
too many errors) and stops after RCPT: nothing is ever sent, so running the check never
relays a message even where it finds an open relay. A form "RELAYED" when the server
accepts (2xx) a recipient in a domain it has no business with.

Self-contained on purpose: `lab relay-check` runs it on the host or pipes this file into
`python3 -` inside a client container, where only the standard library exists.

    python3 relaycheck.py HOST PORT SERVER_NAMES SERVER_IP THIRD_PARTY... [--json] [--helo=NAME]
                          [--tls=none|starttls|implicit] [--cafile=FILE]

Every attempt introduces itself with the same EHLO name (--helo; by default one made
for this run), so the server's own log can be searched for exactly these attempts.
On the submission ports the attempts speak TLS first, as a mail program must there
(STARTTLS on 587, TLS from the first byte on 465, RFC 8314), verifying the server's
certificate (the lab CA: the system's store in a client container, --cafile on the
host), and never log in: what is tried is relaying for a stranger.
"""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import sys
import uuid
from dataclasses import asdict, dataclass

F, T = "spammer", "victim"  # the sender's and the recipient's local parts
TLS_BY_PORT = {587: "starttls", 465: "implicit"}  # how TLS starts on a service port (else: none)

# (MAIL FROM, RCPT TO) with F and T the local parts of sender and recipient, D the
# third-party domain, S a name of the server, IP its address. From "Anti-Spam
# Recommendations for SMTP MTAs" (RFC 2505) and the tests open-relay scanners use.
FORMS: tuple[tuple[str, str], ...] = (
    ("<>", "<{T}@{D}>"),
    ("<{F}@{D}>", "<{T}@{D}>"),
    ("<{F}@{S}>", "<{T}@{D}>"),
    ("<{F}@[{IP}]>", "<{T}@{D}>"),
    ("<{F}@[{IP}]>", "<{T}%{D}@[{IP}]>"),
    ("<{F}@[{IP}]>", "<{T}%{D}@{S}>"),
    ("<{F}@[{IP}]>", '<"{T}@{D}">'),
    ("<{F}@[{IP}]>", '<"{T}%{D}">'),
    ("<{F}@[{IP}]>", "<{T}@{D}@[{IP}]>"),
    ("<{F}@[{IP}]>", '<"{T}@{D}"@[{IP}]>'),
    ("<{F}@[{IP}]>", "<{T}@{D}@{S}>"),
    ("<{F}@[{IP}]>", "<@[{IP}]:{T}@{D}>"),
    ("<{F}@[{IP}]>", "<@{S}:{T}@{D}>"),
    ("<{F}@[{IP}]>", "<{D}!{T}>"),
    ("<{F}@[{IP}]>", "<{D}!{T}@[{IP}]>"),
    ("<{F}@[{IP}]>", "<{D}!{T}@{S}>"),
    ("<{F}@[{IP}]>", '<"{T}@{D}"@{S}>'),
    ("<{F}@[{IP}]>", "<{T}%{D}>"),
)
PLACEHOLDERS = {"F": "F", "T": "T", "D": "D", "S": "S", "IP": "IP"}


def form_name(mail_from: str, rcpt_to: str) -> str:
    """The form in the letters of the table above, e.g. "<F@[IP]> -> <T%D@S>"."""
    return f"{mail_from.format(**PLACEHOLDERS)} -> {rcpt_to.format(**PLACEHOLDERS)}"


@dataclass
class Attempt:
    form: str
    third_party: str
    server_name: str  # what S stood for
    mail_from: str
    rcpt_to: str
    reply: str  # the server's reply to RCPT (or to MAIL, if that was refused)
    verdict: str  # "refused" (5xx), "deferred" (4xx), "RELAYED" (2xx), "error"
    helo: str = ""  # the EHLO name the attempt used

    @property
    def relayed(self) -> bool:
        return self.verdict == "RELAYED"


def _verdict(code: int) -> str:
    return "RELAYED" if 200 <= code < 300 else "deferred" if 400 <= code < 500 else "refused"


def connect(host: str, port: int, helo: str, tls: str, cafile: str | None) -> smtplib.SMTP:
    """A session after EHLO, inside TLS when `tls` says so (none, starttls, implicit)."""
    context = ssl.create_default_context(cafile=cafile) if tls != "none" else None
    if tls == "implicit":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, local_hostname=helo, timeout=15, context=context)
    else:
        smtp = smtplib.SMTP(host, port, local_hostname=helo, timeout=15)
    smtp.ehlo()
    if tls == "starttls":
        smtp.starttls(context=context)
        smtp.ehlo()
    return smtp


def attempt(host: str, port: int, form: str, mail_from: str, rcpt_to: str,
            third_party: str, server_name: str, helo: str, tls: str = "none",
            cafile: str | None = None) -> Attempt:
    def result(reply: str, verdict: str) -> Attempt:
        return Attempt(form, third_party, server_name, mail_from, rcpt_to, reply, verdict, helo)

    try:
        with connect(host, port, helo, tls, cafile) as smtp:
            code, text = smtp.docmd(f"MAIL FROM:{mail_from}")
            if code >= 400:
                return result(f"{code} {text.decode()} (at MAIL)", _verdict(code))
            code, text = smtp.docmd(f"RCPT TO:{rcpt_to}")
            smtp.docmd("RSET")
            return result(f"{code} {text.decode()}", _verdict(code))
    except (OSError, smtplib.SMTPException) as err:
        return result(f"connection failed: {err}", "error")


def new_helo() -> str:
    return f"relay-check-{uuid.uuid4().hex[:12]}.invalid"


def battery(host: str, port: int, server_names: list[str], server_ip: str,
            third_parties: list[str], helo: str = "", tls: str = "none",
            cafile: str | None = None) -> list[Attempt]:
    """Every form, against every third-party domain, with each name of the server as S."""
    helo = helo or new_helo()
    results = []
    for domain in third_parties:
        for i, name in enumerate(server_names):
            for mail_t, rcpt_t in FORMS:
                if i and "{S}" not in mail_t + rcpt_t:  # without S: once per domain is enough
                    continue
                values = {"F": F, "T": T, "D": domain, "S": name, "IP": server_ip}
                results.append(attempt(host, port, form_name(mail_t, rcpt_t), mail_t.format(**values),
                                       rcpt_t.format(**values), domain, name, helo, tls, cafile))
    return results


def table(results: list[Attempt]) -> str:
    width = max(len(r.rcpt_to) for r in results)
    lines = [f"{'MAIL FROM':<34} {'RCPT TO':<{width}}  verdict   reply"]
    for r in results:
        lines.append(f"{r.mail_from:<34} {r.rcpt_to:<{width}}  {r.verdict:<9} {r.reply}")
    relayed = sum(r.relayed for r in results)
    lines.append(f"{len(results)} attempts, {relayed} relayed"
                 + (" -- THIS SERVER IS AN OPEN RELAY" if relayed else ""))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    as_json = "--json" in argv
    options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    args = [a for a in argv if not a.startswith("--")]
    host, port, server_names, server_ip, *third_parties = args
    results = battery(host, int(port), server_names.split(","), server_ip, third_parties,
                      options.get("helo", ""), options.get("tls", "none"), options.get("cafile"))
    print(json.dumps([asdict(r) for r in results]) if as_json else table(results))
    return 1 if any(r.relayed for r in results) else 0


if __name__ == "__main__":
    socket.setdefaulttimeout(15)
    sys.exit(main(sys.argv[1:]))
