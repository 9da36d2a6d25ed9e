"""Exercise 15: Japanese mail. UTF-8 and ISO-2022-JP as they travel, 8-bit declared
with BODY=8BITMIME under a wrong label (文字化け), the characters ISO-2022-JP lacks and
CP932's own table, an RFC 2231 file name from a real mail program, a Japanese domain
as an A-label, and an internationalized address that needs SMTPUTF8. (A's 553 5.6.7 to
a Japanese address without SMTPUTF8, and BODY=8BITMIME itself, are not in Postfix's
log: the check cannot see them; tests/test_10_bad_input.py proves the refusal.)"""

import base64
import binascii
import quopri
import re
from email import message_from_bytes
from email.header import decode_header

from lab import i18n
from lab.checker import Evidence, Result, Step, failed, header_block, passed
from lab.config import PROVIDER_A, PROVIDER_B, X, Y
from lab.i18n import _

A, B = PROVIDER_A.service, PROVIDER_B.service
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")  # kana and kanji
ESCAPES = (b"\x1b$B", b"\x1b(B")  # ISO-2022-JP into kanji, back to ASCII
NOT_IN_ISO_2022_JP = re.compile(r"[\u2460-\u24ff\u2160-\u217f\u3200-\u33ff\uff61-\uff9f]")  # ①, Ⅲ, ㈱, ｶﾅ


def from_x(ev: Evidence) -> list[tuple[str, bytes]]:
    """(headers, body as it travelled) of the messages at Y that X sent."""
    found = []
    for message in ev.mailbox(Y):
        head = header_block(message)
        if re.search(rf"^Return-Path: <{re.escape(X)}>", head, re.M):
            body = message.replace(b"\r\n", b"\n").split(b"\n\n", 1)[-1]
            found.append((head, body))
    return found


def label(head: str, name: str) -> str:
    """A header's value, lower case ("" if absent); for Content-Type, its charset."""
    if name == "charset":
        match = re.search(r"^Content-Type:.*charset=\"?([\w-]+)", head, re.M | re.I)
    else:
        match = re.search(rf"^{name}:\s*(\S+)", head, re.M | re.I)
    return match.group(1).lower() if match else ""


def decoded(head: str, body: bytes) -> bytes:
    """The body's bytes once its Content-Transfer-Encoding is undone."""
    encoding = label(head, "Content-Transfer-Encoding")
    try:
        if encoding == "base64":
            return base64.b64decode(re.sub(rb"\s", b"", body))
        if encoding == "quoted-printable":
            return quopri.decodestring(body)
    except (binascii.Error, ValueError):
        return b""
    return body


def subject(head: str) -> tuple[str, str]:
    """(the raw Subject line, what it decodes to)."""
    match = re.search(r"^Subject: ?(.*)$", head, re.M)
    raw = match.group(1) if match else ""
    try:
        text = "".join(part.decode(cs or "ascii") if isinstance(part, bytes) else part
                       for part, cs in decode_header(raw))
    except (LookupError, UnicodeDecodeError):
        text = ""
    return raw, text


def mime(found: list[tuple[str, str]], missing: str) -> Result:
    """Pass for the first (head, what it is) that says MIME-Version: 1.0; `missing` says
    what is not at Y when nothing was found."""
    for head, what in found:
        if label(head, "MIME-Version") == "1.0":
            return passed(what)
    if found:
        return failed(_("{found}, but without MIME-Version: 1.0 (RFC 2045 "
                        "section 4)").format(found=found[-1][1]))
    return failed(missing)


def decoded_subject(raw: str, text: str) -> str:
    """What the check saw of a subject: as it travelled, and what it decodes to."""
    return _("Subject: {raw} decodes to {text}").format(raw=raw[:40], text=text)


def utf8_message(ev: Evidence) -> Result:
    found = []
    for head, body in from_x(ev):
        raw, text = subject(head)
        if (re.search(r"=\?utf-8\?[bq]\?", raw, re.I) and JAPANESE.search(text)
                and label(head, "charset") == "utf-8"
                and JAPANESE.search(decoded(head, body).decode("utf-8", "replace"))):
            found.append((head, decoded_subject(raw, text)))
    return mime(found, _("no message from X at Y with a UTF-8 encoded-word subject (=?UTF-8?B?...?=) in "
                         "Japanese and a UTF-8 body in Japanese"))


def iso_2022_jp_message(ev: Evidence) -> Result:
    found = []
    for head, body in from_x(ev):
        raw, text = subject(head)
        if (re.search(r"=\?iso-2022-jp\?b\?", raw, re.I) and JAPANESE.search(text)
                and label(head, "charset") == "iso-2022-jp" and all(e in body for e in ESCAPES)
                and max(body, default=0) < 0x80):
            found.append((head, decoded_subject(raw, text)))
    return mime(found, _("no message from X at Y in ISO-2022-JP: subject =?ISO-2022-JP?B?...?= and a 7-bit "
                         "body with ESC $ B ... ESC ( B"))


def mislabelled(ev: Evidence) -> Result:
    found = [(head, _("labelled ISO-2022-JP, transfer encoding {encoding}, 8-bit bytes inside: 文字化け in a "
                      "mail program").format(encoding=label(head, "Content-Transfer-Encoding") or _("none")))
             for head, body in from_x(ev)
             if label(head, "charset") == "iso-2022-jp" and max(decoded(head, body), default=0) >= 0x80]
    return mime(found, _("no message from X at Y labelled ISO-2022-JP with 8-bit (UTF-8) bytes in its body"))


def iconv_limits(ev: Evidence) -> Result:
    refused = [c for c in ev.typed("client-x", r"\biconv\b.*iso-?2022-?jp") if NOT_IN_ISO_2022_JP.search(c)]
    windows = ev.typed("client-x", r"\biconv\b.*\b(cp932|windows-31j)\b")
    if refused and windows:
        return passed(_("you typed: {command}; {other}").format(command=refused[-1], other=windows[-1]))
    missing = [] if refused else [_("iconv of ① or 半角カナ to ISO-2022-JP")]
    missing += [] if windows else [_("iconv with CP932")]
    return failed(_("not typed in client-x yet: {commands}").format(commands=i18n.join(missing, _(" and "))))


def attachment_name(ev: Evidence) -> Result:
    for message in ev.mailbox(Y):
        if not re.search(rf"^Return-Path: <{re.escape(X)}>", header_block(message), re.M):
            continue
        for part in message_from_bytes(message).walk():  # compat32: the header as it came
            raw = re.sub(r"\s+", " ", str(part.get("Content-Disposition", "")))
            name = part.get_filename() or ""  # RFC 2231 decoded
            if raw.startswith("attachment") and "filename*=" in raw and JAPANESE.search(name):
                return passed(_("{header} decodes to {name}").format(header=raw[:70], name=name))
    return failed(_("no message from X at Y with an attachment named in Japanese as RFC 2231 writes it "
                    "(filename*=UTF-8''...)"))


def read_raw(ev: Evidence) -> Result:
    saved = sorted(e.time for e in ev.mailbox_events(B, Y, "saved"))
    reads = [s for s in ev.pop_sessions(B, Y) if len(saved) >= 4 and s.time > saved[3] and s.retrieved]
    return passed(_("B's log of Y's POP3 session: {counts}").format(counts=f"retr={reads[-1].retrieved}")) \
        if reads else failed(_("Y has not retrieved (RETR) mail over POP3 since four messages arrived"))


def idn_asked(ev: Evidence) -> Result:
    found = [c for s in ("client-x", "client-y", "outsider") for c in ev.typed(s, r"\bdig\b")
             if "xn--" in c.lower() or JAPANESE.search(c)]
    return passed(_("you typed: {command}").format(command=found[-1])) if found else failed(
        _("no dig of a Japanese domain name (or its xn-- form) yet"))


def handed_on_with_smtputf8(ev: Evidence) -> Result:
    wanted = f"to=<{PROVIDER_B.utf8_address}>, relay={PROVIDER_B.mx}["
    found = [line for line in ev.log(A) if wanted in line.text and "status=sent" in line.text]
    return passed(_("A's log: {line}").format(line=found[-1].text[:100])) if found else failed(
        _("A has handed no message for {address} to B").format(address=PROVIDER_B.utf8_address))


def not_stored_at_b(ev: Evidence) -> Result:
    """Dovecot 2.3's LMTP does not offer SMTPUTF8: B cannot store the message, and says so."""
    wanted = f"orig_to=<{PROVIDER_B.utf8_address}>"
    found = [line for line in ev.log(B) if wanted in line.text and "dsn=5.6.7" in line.text]
    if not found:
        return failed(_("B's log shows no delivery attempt of mail for {address} (lab logs provider-b)")
                      .format(address=PROVIDER_B.utf8_address))
    return passed(_("B's log: {line}").format(line="status=" + found[-1].text.split("status=", 1)[-1][:100]))


STEPS = [
    Step(_("A Japanese message in UTF-8 reached Y, its subject an encoded-word"), utf8_message,
         _("step 1: swaks with --header \"Subject: =?UTF-8?B?$S?=\", MIME-Version: 1.0 and a charset=UTF-8 "
           "Content-Type")),
    Step(_("A Japanese message in ISO-2022-JP reached Y"), iso_2022_jp_message,
         _("step 2: iconv -f UTF-8 -t ISO-2022-JP for the subject and the body, MIME-Version: 1.0 and "
           "charset=ISO-2022-JP")),
    Step(_("An 8-bit message labelled ISO-2022-JP with UTF-8 bytes reached Y (文字化け)"), mislabelled,
         _("step 3, by hand: MAIL FROM:<x@provider-a.test> BODY=8BITMIME, then MIME-Version: 1.0, "
           "charset=ISO-2022-JP and Content-Transfer-Encoding: 8bit on a body typed in UTF-8")),
    Step(_("iconv refused what ISO-2022-JP lacks; CP932 has it"), iconv_limits,
         _("step 4: printf '①' | iconv -f UTF-8 -t ISO-2022-JP, then the same -t CP932")),
    Step(_("An attachment named in Japanese, RFC 2231 style, reached Y"), attachment_name,
         _("step 5: s-nail ... -a 請求書.txt y@provider-b.test")),
    Step(_("Y read them raw over POP3"), read_raw,
         _("openssl s_client -starttls pop3 ...: RETR 1, RETR 2, RETR 3, RETR 4")),
    Step(_("You asked the DNS for a Japanese domain name, as xn--"), idn_asked,
         _("dig +idnin +noidnout 例え.テスト")),
    Step(_("With SMTPUTF8, A took the Japanese address and handed the message to B"), handed_on_with_smtputf8,
         _("RSET, MAIL FROM:<{sender}> SMTPUTF8, RCPT TO:<{recipient}>, DATA ...").format(
             sender=X, recipient=PROVIDER_B.utf8_address)),
    Step(_("B could not store it: its LMTP has no SMTPUTF8 (B's log)"), not_stored_at_b,
         _("lab logs provider-b --tail 20: look for orig_to=<ワイ@provider-b.test>")),
]
