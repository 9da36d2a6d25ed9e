"""Reference solutions of exercises 10-16, "after the story" (the spam wars, sender
authentication, IMAP, Japanese mail, the admin's sandbox): what a learner types, typed
the same way as in tests/solutions.py, whose helpers they use. test_14_exercises.py
runs both sets.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import formatdate

from lab.compose import Lab
from lab.config import PROVIDER_A, PROVIDER_B, SHELL_HISTORY, Y2, X, Y
from tests.harness import wait_until
from tests.rawsession import plain_token
from tests.solutions import (
    container,
    imap_by_hand,
    lab_command,
    lab_ok,
    mailbox_count,
    pop_by_hand,
    s_client,
    swaks_x_to,
    type_in_shell,
    type_into,
    wait_for_attempt,
)


def submission(lab: Lab, port: int = 587) -> str:
    """The swaks of exercise 2 as X types it, to Y: port 587 (STARTTLS) or 465."""
    tls = "--tls" if port == 587 else "--tlsc"
    return (f"swaks --server {PROVIDER_A.smtp}:{port} {tls} --auth-user {X} "
            f"--auth-password {lab.settings.password(X)} --from {X} --to {Y}")


@contextmanager
def terminal(lab: Lab, service: str, command: str) -> Iterator[None]:
    """A second terminal on `service`, as `make shell` opens one (bash in a terminal),
    with `command` typed and left running (`watch ...`) until the block ends: then
    Ctrl-C and `exit`, as a learner leaves it."""
    shell = subprocess.Popen(["docker", "exec", "-i", "-e", "TERM=xterm", lab.container(service),
                              "script", "-qfec", "bash -i", "/dev/null"],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert shell.stdin
    try:
        shell.stdin.write(f"{command}\n".encode())
        shell.stdin.flush()
        wait_until(lambda: command in container(lab, service).output("cat", SHELL_HISTORY),
                   f"`{command}` typed in {service}")
        yield
    finally:
        shell.stdin.write(b"\x03")
        shell.stdin.flush()
        shell.stdin.write(b"exit\n")
        shell.stdin.close()
        try:
            shell.wait(timeout=15)
        except subprocess.TimeoutExpired:
            shell.kill()
            shell.wait()


def smtp_session(lab: Lab, *transaction: tuple[str, str | None]) -> str:
    """openssl s_client to A's port 587 typed by hand as X: EHLO, AUTH, then `transaction`."""
    lines: list[tuple[str, str | None] | dict] = [
        ("EHLO client-x", r"^250-AUTH[\s\S]*^250 "),
        (f"AUTH PLAIN {plain_token(X, lab.settings.password(X))}", r"^235 "),
        *transaction, ("QUIT", r"^221 "),
    ]
    return type_into(lab, "client-x", s_client("smtp", PROVIDER_A.smtp, 587), lines)


def port_25_is_closed(lab: Lab) -> None:
    straight = f"swaks --server {PROVIDER_B.mx} --from {X} --to {Y}"
    type_in_shell(lab, "client-x", straight)  # refused by A's block
    lab_ok(lab, "op25b", "off")
    type_in_shell(lab, "client-x", straight, "hostname -I")  # B answers, and refuses it for SPF
    lab_ok(lab, "logs", PROVIDER_B.service, "--tail", "20")
    type_in_shell(lab, "client-x", "dig -x $(hostname -I)")
    lab_ok(lab, "op25b", "on")
    type_in_shell(lab, "client-x", straight)  # refused again
    type_in_shell(lab, "client-x", submission(lab, 587), submission(lab, 465))


def greylisting(lab: Lab) -> None:
    lab_ok(lab, "greylist", "on")
    with terminal(lab, PROVIDER_A.service, "watch -n 1 postqueue -p"):  # opened before the first attempt
        first = swaks_x_to(lab)
        wait_for_attempt(lab, PROVIDER_A.service, first, "greylisted",
                         lambda m: bool(m.attempts) and m.attempts[0].status == "deferred")
        lab_ok(lab, "logs", PROVIDER_B.service, "--tail", "20")
        wait_for_attempt(lab, PROVIDER_A.service, first, "through the greylist",
                         lambda m: bool(m.attempts) and m.attempts[-1].status == "sent",
                         timeout=lab.settings.greylist_delay + 30)
    lab_ok(lab, "trace", "--last")
    again = swaks_x_to(lab)
    wait_for_attempt(lab, PROVIDER_A.service, again, "passed at once", lambda m: bool(m.attempts))
    type_in_shell(lab, "outsider", f"swaks --server {PROVIDER_B.mx} --from offer@nowhere.example "
                  f'--to {Y} --header "Subject: once only"')
    lab_ok(lab, "greylist", "off")


def who_really_sent_this(lab: Lab) -> None:
    a = PROVIDER_A.domain
    type_in_shell(lab, "client-y", f"dig TXT {a}", f"dig TXT maillab._domainkey.{a}", f"dig TXT _dmarc.{a}",
                  f"dig +short {PROVIDER_A.mx}", f"dig -x $(dig +short {PROVIDER_A.mx})")
    type_in_shell(lab, "client-x", "dig -x $(hostname -I)")
    type_in_shell(lab, "outsider", "dig -x $(hostname -I)")
    swaks_x_to(lab)
    wait_until(lambda: mailbox_count(lab, Y) == 1, "X's message in Y's mailbox")
    pop_by_hand(lab, Y, "RETR 1")
    type_in_shell(lab, "client-x", f'{submission(lab)} --header "Subject: news from X" '
                  f'--add-header "List-Unsubscribe: <https://{a}/unsubscribe?u=y>" '
                  '--add-header "List-Unsubscribe-Post: List-Unsubscribe=One-Click"')
    wait_until(lambda: mailbox_count(lab, Y) == 2, "X's newsletter in Y's mailbox")
    pop_by_hand(lab, Y, "LIST", "TOP 2 30")
    type_in_shell(lab, "outsider", f"swaks --server {PROVIDER_B.mx} --from {X} --to {Y}")
    type_in_shell(lab, "outsider", f"swaks --server {PROVIDER_B.mx} --from bulk@nowhere.example "
                  f'--header "From: {X}" --to {Y}')
    type_in_shell(lab, "outsider", f"swaks --server {PROVIDER_B.mx} --from bulk@nowhere.example "
                  f'--to {Y} --header "Subject: an honest stranger"')
    wait_until(lambda: mailbox_count(lab, Y) == 3, "the honest stranger's message in Y's mailbox")
    pop_by_hand(lab, Y, "TOP 3 30")
    lab_ok(lab, "logs", PROVIDER_B.service, "--tail", "30")


def dmarc_the_domain_decides(lab: Lab) -> None:
    forge = f'swaks --server {PROVIDER_B.mx} --from bulk@nowhere.example --header "From: {X}" --to {Y}'
    lab_ok(lab, "dmarc", "none")
    type_in_shell(lab, "client-y", f"dig TXT _dmarc.{PROVIDER_A.domain}")
    for count, policy in ((1, "none"), (2, "quarantine")):
        if policy != "none":
            lab_ok(lab, "dmarc", policy)
        type_in_shell(lab, "outsider", forge)
        wait_until(lambda n=count: mailbox_count(lab, Y) == n, f"the forgery under p={policy} at Y")
    pop_by_hand(lab, Y, "LIST", "TOP 1 20", "TOP 2 20")
    lab_ok(lab, "dmarc", "reject")
    type_in_shell(lab, "outsider", forge)  # refused
    password = lab.settings.password(Y)

    def forward(subject: str, before: int) -> None:
        """X sends `subject`; Y finds its number (the newest, in LIST); the outsider fetches
        that number and sends it on to y2 with an envelope of its own."""
        type_in_shell(lab, "client-x", f'{submission(lab)} --header "Subject: {subject}"')
        wait_until(lambda: mailbox_count(lab, Y) == before + 1, f"X's message {subject!r} at Y")
        number = before + 1
        pop_by_hand(lab, Y, "LIST", f"TOP {number} 20")
        type_in_shell(lab, "outsider", f"N={number}",
                      f"curl -s --ssl-reqd pop3://{PROVIDER_B.pop}/$N -u {Y}:{password} > copy.eml",
                      "grep -i '^subject' copy.eml",
                      f"swaks --server {PROVIDER_B.mx} --from list@nowhere.example --to {Y2} --data copy.eml")

    lab_ok(lab, "dkim", "break")
    forward("signed with a broken key", 2)  # refused at the end of DATA (DMARC)
    # the .forward way: X's own envelope from the outsider, refused at RCPT (SPF)
    type_in_shell(lab, "outsider", f"swaks --server {PROVIDER_B.mx} --from {X} --to {Y2} --data copy.eml")
    lab_ok(lab, "dkim", "fix")
    forward("signed with the good key", 3)


def pop_or_imap(lab: Lab) -> None:
    swaks_x_to(lab)
    swaks_x_to(lab)
    wait_until(lambda: mailbox_count(lab, Y) == 2, "X's two messages in Y's mailbox")
    imap_by_hand(lab, 143, "b SELECT INBOX", "c FETCH 1:* (FLAGS)", "d FETCH 1 BODY[]", "e FETCH 1:* (FLAGS)",
                 "f GETQUOTAROOT INBOX")
    imap_by_hand(lab, 993, "b SELECT INBOX", "c FETCH 1:* (FLAGS)", "d STORE 2 +FLAGS (\\Seen)",
                 "e CREATE Archive", "f COPY 1 Archive", "g GETQUOTAROOT INBOX")
    pop_by_hand(lab, Y, "UIDL", "RETR 1", "RETR 2")  # leave a copy on the server
    pop_by_hand(lab, Y, "UIDL")  # the next visit: the same ids, nothing new
    pop_by_hand(lab, Y, "STAT", "RETR 1", "RETR 2", "DELE 1", "DELE 2")
    imap_by_hand(lab, 143, "b SELECT INBOX", 'c LIST "" *', "d SELECT Archive", "e GETQUOTAROOT INBOX")


def japanese_mail(lab: Lab) -> None:
    swaks = submission(lab)
    mime = '--add-header "MIME-Version: 1.0"'
    type_in_shell(
        lab, "client-x",
        "S=$(printf 'メールのしくみ' | base64)",
        "T=$(printf 'こんにちは、Y さん' | base64)",
        f'{swaks} --header "Subject: =?UTF-8?B?$S?=" {mime} '
        '--add-header "Content-Type: text/plain; charset=UTF-8" '
        '--add-header "Content-Transfer-Encoding: base64" --body "$T"',
        "S=$(printf '古いメール' | iconv -f UTF-8 -t ISO-2022-JP | base64)",
        "B=$(printf 'こんにちは' | iconv -f UTF-8 -t ISO-2022-JP)",
        f'{swaks} --header "Subject: =?ISO-2022-JP?B?$S?=" {mime} '
        '--add-header "Content-Type: text/plain; charset=ISO-2022-JP" '
        '--add-header "Content-Transfer-Encoding: 7bit" --body "$B"',
        "date -R")
    smtp_session(
        lab, (f"MAIL FROM:<{X}> BODY=8BITMIME", r"^250 "), (f"RCPT TO:<{Y}>", r"^250 "), ("DATA", r"^354 "),
        (f"From: {X}", None), (f"To: {Y}", None), (f"Date: {formatdate(localtime=True)}", None),
        ("Message-ID: <mojibake-1@client-x>", None), ("Subject: mojibake", None), ("MIME-Version: 1.0", None),
        ("Content-Type: text/plain; charset=ISO-2022-JP", None), ("Content-Transfer-Encoding: 8bit", None),
        ("", None), ("こんにちは", None), (".", r"^250 "))
    type_in_shell(
        lab, "client-x",
        "printf '①' | iconv -f UTF-8 -t ISO-2022-JP",
        "printf 'ｶﾀｶﾅ' | iconv -f UTF-8 -t ISO-2022-JP",
        "printf '①' | iconv -f UTF-8 -t CP932 | od -An -tx1",
        "printf '〜' | iconv -f UTF-8 -t SHIFT_JIS | od -An -tx1",
        "printf '\\x81\\x60' | iconv -f CP932 -t UTF-8 | od -An -tx1",
        "printf '金額: 1,000 円\\n' > 請求書.txt",
        f"echo '請求書をお送りします。' | s-nail -S v15-compat "
        f"-S mta=smtps://x%40{PROVIDER_A.domain}:{lab.settings.password(X)}@{PROVIDER_A.smtp} "
        f"-S from={X} -s '請求書' -a 請求書.txt {Y}")
    wait_until(lambda: mailbox_count(lab, Y) == 4, "the four Japanese messages at Y")
    pop_by_hand(lab, Y, "RETR 1", "RETR 2", "RETR 3", "RETR 4")
    type_in_shell(lab, "client-x", "dig +idnin +noidnout 例え.テスト", "date -R")
    japanese = PROVIDER_B.utf8_address
    smtp_session(
        lab, (f"MAIL FROM:<{X}>", r"^250 "), (f"RCPT TO:<{japanese}>", r"^553 5\.6\.7 "), ("RSET", r"^250 "),
        (f"MAIL FROM:<{X}> SMTPUTF8", r"^250 "), (f"RCPT TO:<{japanese}>", r"^250 "), ("DATA", r"^354 "),
        (f"From: {X}", None), (f"To: {japanese}", None), (f"Date: {formatdate(localtime=True)}", None),
        ("Message-ID: <smtputf8-1@client-x>", None), ("Subject: SMTPUTF8", None), ("", None),
        ("A Japanese address.", None), (".", r"^250 "))
    b = container(lab, PROVIDER_B.service)
    wait_until(lambda: f"orig_to=<{japanese}>" in b.log(tail=50), "B's attempt to store it")
    lab_ok(lab, "logs", PROVIDER_B.service, "--tail", "20")


def change_one_setting(lab: Lab) -> None:
    b, greet = PROVIDER_B.service, f"swaks --server {PROVIDER_B.mx} --quit-after CONNECT"
    lab_ok(lab, "postconf", b, "smtpd_banner=$myhostname ESMTP provider B mail service")
    type_in_shell(lab, "outsider", greet, "hostname -I")
    lab_ok(lab, "logs", b, "--tail", "5")
    lab_ok(lab, "postconf", b, "message_size_limit=100000")
    type_in_shell(lab, "outsider", "head -c 200000 /dev/urandom > big",
                  f"swaks --server {PROVIDER_B.mx} --from someone@nowhere.example --to {Y} --attach @big "
                  "--suppress-data")
    lab_ok(lab, "logs", b, "--tail", "10")
    lab_ok(lab, "postconf", b, "smtpd_helo_required=yes")
    # nc, typed line by line: the greeting first (a line typed before it is refused as
    # pipelining), then each line after B's reply
    type_into(lab, "outsider", ["nc", "-C", PROVIDER_B.mx, "25"], [
        {"pause": 1}, ("MAIL FROM:<someone@nowhere.example>", r"^503 5\.5\.1 "), ("EHLO outsider", r"^250 "),
        ("MAIL FROM:<someone@nowhere.example> SIZE=200000", r"^552 5\.3\.4 "), ("QUIT", r"^221 ")])
    assert lab_command(lab, "postconf", b, "smtpd_helo_required=maybe")[0] == 1  # Postfix refuses it
    type_in_shell(lab, "outsider", greet)  # B serves as before
    lab_ok(lab, "postconf", b)
    lab_ok(lab, "postconf", b, "--unset", "smtpd_banner", "--unset", "message_size_limit",
           "--unset", "smtpd_helo_required")
    type_in_shell(lab, b, "postconf smtpd_banner message_size_limit smtpd_helo_required")


SOLUTIONS: dict[int, Callable[[Lab], None]] = {
    10: port_25_is_closed, 11: greylisting, 12: who_really_sent_this, 13: dmarc_the_domain_decides,
    14: pop_or_imap, 15: japanese_mail, 16: change_one_setting,
}
