"""Exercise 15: Japanese mail. UTF-8 and ISO-2022-JP as they travel, 文字化け from a
wrong label, and an internationalized address that needs SMTPUTF8. (A's 553 5.6.7 to
a Japanese address without SMTPUTF8 is a reply Postfix does not log: the check cannot
see that step; tests/test_10_bad_input.py proves the refusal.)"""

import re
from email.header import decode_header

from lab.checker import Evidence, Result, Step, failed, header_block, passed
from lab.config import PROVIDER_A, PROVIDER_B, X, Y

A, B = PROVIDER_A.service, PROVIDER_B.service
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")  # kana and kanji
ESCAPES = (b"\x1b$B", b"\x1b(B")  # ISO-2022-JP into kanji, back to ASCII


def from_x(ev: Evidence) -> list[tuple[str, bytes]]:
    """(headers, body) of the messages at Y that X sent."""
    found = []
    for message in ev.mailbox(Y):
        head = header_block(message)
        if re.search(rf"^Return-Path: <{re.escape(X)}>", head, re.M):
            body = message.replace(b"\r\n", b"\n").split(b"\n\n", 1)[-1]
            found.append((head, body))
    return found


def charset(head: str) -> str:
    match = re.search(r"^Content-Type:.*charset=\"?([\w-]+)", head, re.M | re.I)
    return match.group(1).lower() if match else ""


def subject(head: str) -> tuple[str, str]:
    """(the raw Subject line, what it decodes to)."""
    match = re.search(r"^Subject: ?(.*(?:\n[ \t].*)*)", head, re.M)
    raw = match.group(1) if match else ""
    try:
        text = "".join(part.decode(cs or "ascii") if isinstance(part, bytes) else part
                       for part, cs in decode_header(raw))
    except (LookupError, UnicodeDecodeError):
        text = ""
    return raw, text


def utf8_message(ev: Evidence) -> Result:
    for head, body in from_x(ev):
        raw, text = subject(head)
        encoded = re.search(r"=\?utf-8\?[bq]\?", raw, re.I) and JAPANESE.search(text)
        if encoded and charset(head) == "utf-8" and JAPANESE.search(body.decode("utf-8", "replace")):
            return passed(f"Subject: {raw[:40]} = {text}")
    return failed("no message from X at Y with a UTF-8 encoded-word subject (=?UTF-8?B?...?=) in Japanese "
                  "and a UTF-8 body in Japanese")


def iso_2022_jp_message(ev: Evidence) -> Result:
    for head, body in from_x(ev):
        raw, text = subject(head)
        if (re.search(r"=\?iso-2022-jp\?b\?", raw, re.I) and JAPANESE.search(text)
                and charset(head) == "iso-2022-jp" and all(e in body for e in ESCAPES)
                and max(body, default=0) < 0x80):
            return passed(f"Subject: {raw[:40]} = {text}")
    return failed("no message from X at Y in ISO-2022-JP: subject =?ISO-2022-JP?B?...?= and a 7-bit body "
                  "with ESC $ B ... ESC ( B")


def mislabelled(ev: Evidence) -> Result:
    for head, body in from_x(ev):
        if charset(head) == "iso-2022-jp" and max(body, default=0) >= 0x80:
            return passed("labelled ISO-2022-JP, but 8-bit bytes inside: 文字化け in a mail program")
    return failed("no message from X at Y labelled ISO-2022-JP with 8-bit (UTF-8) bytes in its body")


def read_raw(ev: Evidence) -> Result:
    saved = sorted(e.time for e in ev.mailbox_events(B, Y, "saved"))
    reads = [s for s in ev.pop_sessions(B, Y) if len(saved) >= 3 and s.time > saved[2] and s.retrieved]
    return passed(f"RETR of {reads[-1].retrieved} message(s)") if reads else failed(
        "Y has not retrieved (RETR) mail over POP3 since three messages arrived")


def handed_on_with_smtputf8(ev: Evidence) -> Result:
    wanted = f"to=<{PROVIDER_B.utf8_address}>, relay={PROVIDER_B.mx}["
    found = [line for line in ev.log(A) if wanted in line.text and "status=sent" in line.text]
    return passed(found[-1].text[:100]) if found else failed(
        f"A has handed no message for {PROVIDER_B.utf8_address} to B")


def not_stored_at_b(ev: Evidence) -> Result:
    """Dovecot 2.3's LMTP does not offer SMTPUTF8: B cannot store the message, and says so."""
    wanted = f"orig_to=<{PROVIDER_B.utf8_address}>"
    found = [line for line in ev.log(B) if wanted in line.text and "dsn=5.6.7" in line.text]
    return passed(found[-1].text.split("status=", 1)[-1][:100]) if found else failed(
        f"B's log shows no delivery attempt of mail for {PROVIDER_B.utf8_address} (lab logs provider-b)")


STEPS = [
    Step("A Japanese message in UTF-8 reached Y, its subject an encoded-word", utf8_message,
         "step 1: swaks with --header \"Subject: =?UTF-8?B?$S?=\" and a charset=UTF-8 Content-Type"),
    Step("A Japanese message in ISO-2022-JP reached Y", iso_2022_jp_message,
         "step 2: iconv -f UTF-8 -t ISO-2022-JP for the subject and the body, and charset=ISO-2022-JP"),
    Step("A message labelled ISO-2022-JP with UTF-8 bytes reached Y (文字化け)", mislabelled,
         "step 3: charset=ISO-2022-JP on a body typed in UTF-8"),
    Step("Y read them raw over POP3", read_raw,
         "openssl s_client -starttls pop3 ...: RETR 1, RETR 2, RETR 3"),
    Step("With SMTPUTF8, A took the Japanese address and handed the message to B", handed_on_with_smtputf8,
         f"RSET, MAIL FROM:<{X}> SMTPUTF8, RCPT TO:<{PROVIDER_B.utf8_address}>, DATA ..."),
    Step("B could not store it: its LMTP has no SMTPUTF8 (B's log)", not_stored_at_b,
         "lab logs provider-b --tail 20: look for orig_to=<ワイ@provider-b.test>"),
]
