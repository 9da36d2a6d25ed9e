"""Reference solutions of the exercises (lab/exercises/): what a learner types, typed
into the same containers the same way (an interactive bash, openssl s_client line by
line, the `lab` command). Kept here, out of the learner's path; TEACHERS.md points here.
Exercises 1-9 (the story) are here with the helpers; 10-15 in tests/solutions_after.py.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from email.utils import formatdate
from pathlib import Path

from lab import cli, config, maillog
from lab.compose import Lab
from lab.config import PROVIDER_A, PROVIDER_B, Y2, X, Y
from lab.journal import Journal
from lab.mailbox import count_mailbox, mailbox_service
from tests.harness import Container, wait_until
from tests.rawsession import plain_token

TYPIST = (Path(__file__).parent / "clients" / "typist.py").read_bytes()
BIG_FILE = "/root/big"  # exercise 7's attachment


def lab_command(lab: Lab, *argv: str) -> tuple[int, str]:
    """`lab ARGV...` against the test lab: (exit code, what it printed)."""
    out = io.StringIO()
    with redirect_stdout(out):
        code = cli.main(list(argv), lab=lab)
    return code, out.getvalue()


def lab_ok(lab: Lab, *argv: str) -> str:
    """`lab ARGV...`, which must succeed; what it printed."""
    code, out = lab_command(lab, *argv)
    assert code == 0, f"lab {' '.join(argv)} exited {code}:\n{out}"
    return out


def trace_saying(lab: Lab, message_id: str, words: str) -> str:
    """`lab trace` of a message once it says `words`: the lines it is drawn from reach
    the containers' logs a moment apart."""
    def traced() -> str | None:
        out = lab_ok(lab, "trace", message_id)
        return out if words in out else None

    return wait_until(traced, f"the trace of {message_id} to say {words!r}")


def postfix_message(lab: Lab, service: str, message_id: str) -> maillog.Message | None:
    """What a provider's log says of the message with this Message-ID (the first copy),
    read from the last reset on (every solution starts from one)."""
    lines = maillog.read(lab.container(service), Journal(lab.settings).since)
    return next((m for m in maillog.messages(lines).values() if m.message_id == message_id), None)


def wait_for_attempt(lab: Lab, service: str, message_id: str, what: str,
                     test: Callable[[maillog.Message], bool], timeout: float = 30) -> maillog.Message:
    """Wait until the provider's log shows `test` true of that message."""
    return wait_until(lambda: (m := postfix_message(lab, service, message_id)) and test(m) and m,
                      f"{message_id} {what} at {service}", timeout=timeout)


def container(lab: Lab, service: str) -> Container:
    return Container(service, lab.container(service))


def type_in_shell(lab: Lab, service: str, *commands: str) -> str:
    """Type commands at an interactive bash in `service`: they land in its history."""
    script = "".join(f"{c}\n" for c in commands).encode()
    return container(lab, service).run("bash", "-i", input=script, check=False).stdout.decode()


def type_into(lab: Lab, service: str, command: list[str], lines: list[tuple[str, str | None] | dict]) -> str:
    """Run `command` in `service` and type `lines`, each waiting for its reply regex
    ({"pause": s}: stop typing for s seconds)."""
    spec = json.dumps({"command": command, "lines": lines})
    return container(lab, service).run("python3", "-", spec, input=TYPIST).stdout.decode()


def s_client(protocol: str, server: str, port: int) -> list[str]:
    return ["openssl", "s_client", "-starttls", protocol, "-connect", f"{server}:{port}", "-crlf", "-quiet"]


def smtp_by_hand(lab: Lab, rcpt_options: str = "", headers: tuple[str, ...] = (),
                 subject: str = "Exercise 2 by hand", wrong_password_first: bool = False) -> str:
    password = lab.settings.password(X)
    # The whole EHLO reply: s_client may first print "250 CHUNKING", the last line of the
    # EHLO it sent itself before STARTTLS.
    lines: list[tuple[str, str | None]] = [("EHLO client-x", r"^250-AUTH[\s\S]*^250 ")]
    if wrong_password_first:
        lines.append((f"AUTH PLAIN {plain_token(X, 'not-the-password')}", r"^535 "))
    lines += [
        (f"AUTH PLAIN {plain_token(X, password)}", r"^235 "),
        (f"MAIL FROM:<{X}>", r"^250 "),
        (f"RCPT TO:<{Y}>{rcpt_options}", r"^250 "),
        ("DATA", r"^354 "),
        (f"From: {X}", None), (f"To: {Y}", None), (f"Subject: {subject}", None),
        (f"Date: {formatdate(localtime=True)}", None),
        (f"Message-ID: <by-hand-{uuid.uuid4().hex}@client-x>", None),
        *((h, None) for h in headers),
        ("", None), ("Typed line by line in openssl s_client.", None),
        (".", r"^250 "),
        ("QUIT", r"^221 "),
    ]
    return type_into(lab, "client-x", s_client("smtp", PROVIDER_A.smtp, 587), lines)


def swaks_x_to(lab: Lab, recipient: str = Y, *extra: str) -> str:
    """X sends with swaks, as exercise 2 shows; the Message-ID swaks gave the message
    (read from A's log by the queue id in A's reply, which swaks always prints)."""
    out = container(lab, "client-x").output(
        "swaks", "--server", f"{PROVIDER_A.smtp}:587", "--tls", "--auth-user", X,
        "--auth-password", lab.settings.password(X), "--from", X, "--to", recipient, *extra)
    queued = re.search(r"250 2\.0\.0 Ok: queued as ([0-9A-F]+)", out)
    assert queued, out

    def message_id() -> str:
        lines = maillog.read(lab.container(PROVIDER_A.service), Journal(lab.settings).since)
        message = maillog.messages(lines).get(queued.group(1))
        return message.message_id if message else ""
    return wait_until(message_id, f"the Message-ID of {queued.group(1)} in A's log")


def pop_by_hand(lab: Lab, address: str, *commands: str) -> str:
    """POP3 typed in the client's interactive shell: openssl s_client reads the lines
    bash has not read (bash reads a pipe one byte at a time)."""
    provider = config.provider_of(address)
    client = provider.customer
    login = [f"USER {address}", f"PASS {lab.settings.password(address)}"]
    command = " ".join(s_client("pop3", provider.pop, 110))
    return type_in_shell(lab, client, command, *login, *commands, "QUIT")


def imap_by_hand(lab: Lab, port: int, *commands: str) -> str:
    """IMAP typed in client-y's shell as Y, in openssl s_client (STARTTLS on 143, TLS
    from the start on 993), logging in first and out last."""
    connect = f"-connect {PROVIDER_B.imap}:{port} -crlf -quiet"
    command = f"openssl s_client {'-starttls imap ' if port == 143 else ''}{connect}"
    login = f"a LOGIN {Y} {lab.settings.password(Y)}"
    return type_in_shell(lab, "client-y", command, login, *commands, "z LOGOUT")


def mailbox_count(lab: Lab, address: str) -> int:
    return count_mailbox(lab.container(mailbox_service(address)), address)


def wait_for_check(lab: Lab, number: int, timeout: float = 40) -> None:
    """Poll `lab check N` until every step passes (the mail may still be on its way)."""
    wait_until(lambda: lab_command(lab, "check", str(number))[0] == 0, f"exercise {number}'s check to pass",
               timeout=timeout, interval=1, context=lambda: lab_command(lab, "check", str(number))[1])


# --- the exercises ------------------------------------------------------------------------


def tour(lab: Lab) -> None:
    type_in_shell(lab, "client-x", f"dig MX {PROVIDER_B.domain}", f"dig {PROVIDER_B.mx}", "ip route")
    type_in_shell(lab, "dns", f"cat /run/nsd/zones/{PROVIDER_B.domain}.zone")


def smtp_by_hand_and_swaks(lab: Lab) -> None:
    smtp_by_hand(lab, wrong_password_first=True)
    swaks_x_to(lab)


def follow_the_relay(lab: Lab) -> None:
    mid = swaks_x_to(lab)
    wait_until(lambda: (out := lab_ok(lab, "trace", "--last")).count("LMTP into") and mid in out,
               "the trace of the message to its delivery at B")
    lab_ok(lab, "logs", PROVIDER_A.service)
    pop_by_hand(lab, Y, "TOP 1 0")


def pop_by_hand_exercise(lab: Lab) -> None:
    swaks_x_to(lab)
    wait_until(lambda: mailbox_count(lab, Y) == 1, "the message in Y's mailbox")
    pop_by_hand(lab, Y, "STAT", "LIST", "UIDL", "RETR 1", "DELE 1")
    # Step 4: a session that sees the empty mailbox, X sending meanwhile (another
    # terminal), STAT again in the same session; then the new message deleted too.
    session = [(f"USER {Y}", r"^\+OK"), (f"PASS {lab.settings.password(Y)}", r"^\+OK Logged in"),
               ("STAT", r"^\+OK 0 0"), {"pause": 8}, ("STAT", r"^\+OK 0 0"), ("QUIT", r"^\+OK")]
    b = container(lab, PROVIDER_B.service)
    since = time.time()
    with ThreadPoolExecutor(1) as terminal:
        typing = terminal.submit(type_into, lab, "client-y", s_client("pop3", PROVIDER_B.pop, 110), session)
        wait_until(lambda: f"Login: user=<{Y}>" in b.log(since=since - 1), "Y's second POP3 login")
        swaks_x_to(lab)
        wait_until(lambda: mailbox_count(lab, Y) == 1, "X's second message in Y's mailbox")
        typing.result(timeout=60)
    pop_by_hand(lab, Y, "STAT", "RETR 1", "DELE 1")


def open_relay(lab: Lab) -> None:
    lab_ok(lab, "open-relay", "on")
    spam_to = ",".join([Y, Y2, f"postmaster@{PROVIDER_B.domain}"])
    container(lab, "outsider").output("swaks", "--server", PROVIDER_A.mx, "--from", "spam@nowhere.example",
                                      "--to", spam_to, "--header", "Subject: cheap pills")
    wait_until(lambda: mailbox_count(lab, Y2) == 1, "the spam at B")
    assert lab_command(lab, "relay-check", "--server", PROVIDER_A.service)[0] == 1
    lab_ok(lab, "open-relay", "off")
    lab_ok(lab, "relay-check", "--server", PROVIDER_A.service)


def when_b_is_down(lab: Lab) -> None:
    lab_ok(lab, "fault", "b-down")
    mid = swaks_x_to(lab)
    wait_for_attempt(lab, PROVIDER_A.service, mid, "deferred",
                     lambda m: any(a.status == "deferred" for a in m.attempts))
    type_in_shell(lab, PROVIDER_A.service, "postqueue -p")
    lab_ok(lab, "logs", PROVIDER_A.service, "--tail", "20")
    lab_ok(lab, "restore", "b-down")
    wait_for_attempt(lab, PROVIDER_A.service, mid, "delivered by A's own retry",
                     lambda m: any(a.status == "sent" for a in m.attempts))
    type_in_shell(lab, PROVIDER_A.service, "postqueue -p")
    lab_ok(lab, "trace", "--last")


def quota(lab: Lab) -> None:
    container(lab, "client-x").run("sh", "-c", f"head -c 3M /dev/urandom > {BIG_FILE}")
    # 3 x 4 MB (base64) into a 10 MB mailbox: the third does not fit. A learner types
    # them seconds apart: the first two are in the mailbox when the third is offered.
    for stored in (1, 2):
        swaks_x_to(lab, Y, "--attach", f"@{BIG_FILE}", "--suppress-data")
        wait_until(lambda n=stored: mailbox_count(lab, Y) == n, f"big message {stored} at Y")
    third = swaks_x_to(lab, Y, "--attach", f"@{BIG_FILE}", "--suppress-data")
    wait_for_attempt(lab, PROVIDER_A.service, third, "returned to X",
                     lambda m: any(kind == "non-delivery" for _, kind, _ in m.notices))
    lab_ok(lab, "quota-full", "tempfail")
    waiting = swaks_x_to(lab, Y, "--attach", f"@{BIG_FILE}", "--suppress-data")
    wait_for_attempt(lab, PROVIDER_A.service, waiting, "refused with 452 4.2.2",
                     lambda m: any(a.dsn == "4.2.2" for a in m.attempts))
    pop_by_hand(lab, Y, "DELE 1", "DELE 2")
    wait_for_attempt(lab, PROVIDER_A.service, waiting, "delivered",
                     lambda m: bool(m.attempts) and m.attempts[-1].status == "sent")
    wait_until(lambda: mailbox_count(lab, Y) == 1, "the waiting message at Y", timeout=30)
    lab_ok(lab, "quota-full", "discard")
    for _ in range(2):  # the first still fits; the second is thrown away
        thrown = swaks_x_to(lab, Y, "--attach", f"@{BIG_FILE}", "--suppress-data")
        wait_for_attempt(lab, PROVIDER_A.service, thrown, "handed to B",
                         lambda m: bool(m.attempts) and m.attempts[-1].status == "sent")
    lab_ok(lab, "quota-full", "bounce")


def what_delivered_means(lab: Lab) -> None:
    smtp_by_hand(lab, rcpt_options=" NOTIFY=SUCCESS", subject="Exercise 8: did it arrive?")
    wait_until(lambda: mailbox_count(lab, X) == 1, "the delivery report in X's mailbox")
    pop_by_hand(lab, X, "RETR 1")
    smtp_by_hand(lab, subject="Exercise 8: did you read it?",
                 headers=(f"Disposition-Notification-To: {X}",))
    forty = (f"for i in $(seq 1 40); do swaks --server {PROVIDER_A.smtp}:587 --tls --auth-user {X} "
             f"--auth-password {lab.settings.password(X)} --from {X} --to {Y2} "
             '--header "Subject: count $i" --silent 2; done')
    with ThreadPoolExecutor(1) as terminal:  # the loop in one terminal, the crash in another
        sending = terminal.submit(type_in_shell, lab, "client-x", forty)
        wait_until(lambda: mailbox_count(lab, Y2) >= 5, "X's first messages at Y2")
        lab_ok(lab, "fault", "b-crash")
        lab_ok(lab, "restore", "b-crash")
        sending.result(timeout=120)
    wait_until(lambda: mailbox_count(lab, Y2) >= 40, "the 40 messages at Y2", timeout=60)
    pop_by_hand(lab, Y2, "STAT")


def dial_up(lab: Lab) -> None:
    lab_ok(lab, "fault", "partition")
    mid = swaks_x_to(lab)
    lab_ok(lab, "hangup", "x")
    lab_ok(lab, "hangup", "y")
    lab_ok(lab, "restore", "partition")
    wait_for_attempt(lab, PROVIDER_A.service, mid, "handed to B",
                     lambda m: bool(m.attempts) and m.attempts[-1].status == "sent")
    wait_until(lambda: mailbox_count(lab, Y) == 1, "the message at B", timeout=30)
    lab_ok(lab, "dial", "y")
    pop_by_hand(lab, Y, "RETR 1")
    lab_ok(lab, "dial", "x")


SOLUTIONS: dict[int, Callable[[Lab], None]] = {  # the story's; 10-15 are in tests/solutions_after.py
    1: tour, 2: smtp_by_hand_and_swaks, 3: follow_the_relay, 4: pop_by_hand_exercise, 5: open_relay,
    6: when_b_is_down, 7: quota, 8: what_delivered_means, 9: dial_up,
}
