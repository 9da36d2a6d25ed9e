"""Y reads with IMAP too: the same accounts and the same Maildir as POP3, so a message is
one message whichever way it is read; the mail stays on the server, and what one
device does (read, delete) every other device sees. The same standards as POP3: no
login before TLS, one answer for a wrong password and an unknown user, the quota the
provider enforces, visible."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from lab import config, maillog, netseal
from lab.config import PROVIDER_B, Y
from tests.harness import fill_mailbox, make_message, submit, wait_until
from tests.imapsession import imap, imap_login
from tests.rawsession import plain_token, pop3, pop3_login
from tests.solutions import lab_command

IMAP_B = PROVIDER_B.imap
SUBJECT = "メールのしくみ: IMAP で読む"
BODY = "Y さんへ\nメールはサーバに残ります。どの端末からも同じものが見えます。\n"
TIMING = r" \(\d+\.\d+ \+ \d+\.\d+(?: \+ \d+\.\d+)? secs\)\."  # Dovecot's timing of a command
FLOOD = (Path(__file__).parent / "clients" / "flood.py").read_text()


@pytest.fixture
def y_login(settings) -> list[str]:
    return imap_login(Y, settings.password(Y))


@pytest.fixture
def one_message_for_y(client_x, empty_y_mailbox, settings) -> bytes:
    message = make_message(config.X, Y, subject=SUBJECT, body=BODY)
    submit(client_x, config.X, settings.password(config.X), Y, message)
    wait_until(lambda: empty_y_mailbox.messages_with(Y, message["Message-ID"]), "the message in Y's Maildir")
    return message.as_bytes()


def test_imap_and_pop3_show_the_same_message_byte_for_byte(client_y, one_message_for_y, y_login, settings):
    sent = one_message_for_y
    greeting, starttls, login, select, flags, fetch, flags_after, uid, logout = imap(
        client_y, IMAP_B, [*y_login, "SELECT INBOX", "FETCH 1 (FLAGS)", "FETCH 1 (RFC822.SIZE BODY[])",
                           "FETCH 1 (FLAGS)", "FETCH 1 (UID)", "LOGOUT"])
    assert greeting.raw.endswith(b" provider-b.test IMAP ready (maillab)\r\n")
    assert b"LOGINDISABLED" in greeting.raw
    assert starttls.status == "OK Begin TLS negotiation now."
    assert login.ok and login.status.endswith("] Logged in"), login.raw
    assert "* 1 EXISTS" in select.untagged and re.fullmatch(r"OK \[READ-WRITE\] Select completed" + TIMING,
                                                           select.status)
    assert flags.untagged == ["* 1 FETCH (FLAGS (\\Recent))"]  # new: nobody has read it yet

    [body] = fetch.literals
    size = int(re.search(rb"RFC822\.SIZE (\d+)", fetch.raw).group(1))
    assert len(body) == size  # the size announced is the size delivered, CRLF line ends
    assert body.endswith(sent) and b"\n" not in body.replace(b"\r\n", b"")
    assert BODY.replace("\n", "\r\n").encode() in body
    assert flags_after.untagged == ["* 1 FETCH (FLAGS (\\Seen \\Recent))"]  # reading it marked it read
    assert logout.untagged == ["* BYE Logging out"] and logout.ok

    # POP3 sees the very same message: same bytes, and a UIDL made of IMAP's UIDVALIDITY and UID.
    pop = pop3(client_y, PROVIDER_B.pop, [*pop3_login(Y, settings.password(Y)), "STAT", "UIDL 1", "RETR 1",
                                          "QUIT"])
    stat, uidl, retr = pop[4], pop[5], pop[6]
    assert stat.reply == f"+OK 1 {size}" and retr.data == body
    uidvalidity = int(re.search(rb"UIDVALIDITY (\d+)", select.raw).group(1))
    imap_uid = int(re.search(r"UID (\d+)", uid.untagged[0]).group(1))
    assert uidl.reply == f"+OK 1 {imap_uid:08x}{uidvalidity:08x}"


def test_what_one_device_does_the_other_sees(client_y, one_message_for_y, y_login, settings, container):
    """Two devices (client-y, and the same account from the outsider's address): one
    flags the message, the other sees the flag; one deletes it, it is gone for both,
    and for POP3 too."""
    phone = container("outsider")
    started = time.time()
    flag = imap(client_y, IMAP_B, [*y_login, "SELECT INBOX", "STORE 1 +FLAGS (\\Seen \\Flagged)", "LOGOUT"])
    assert flag[4].ok and flag[4].untagged == ["* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent))"]
    seen = imap(phone, IMAP_B, [*y_login, "EXAMINE INBOX", "FETCH 1 (FLAGS)", "LOGOUT"])
    assert seen[4].untagged == ["* 1 FETCH (FLAGS (\\Flagged \\Seen))"]

    expunge = imap(phone, IMAP_B, [*y_login, "SELECT INBOX", "STORE 1 +FLAGS.SILENT (\\Deleted)", "EXPUNGE",
                                   "LOGOUT"])
    assert expunge[5].untagged == ["* 1 EXPUNGE"] and expunge[5].ok
    after = imap(client_y, IMAP_B, [*y_login, "STATUS INBOX (MESSAGES)", "LOGOUT"])
    assert after[3].untagged == ["* STATUS INBOX (MESSAGES 0)"]
    assert pop3(client_y, PROVIDER_B.pop, [*pop3_login(Y, settings.password(Y)), "STAT", "QUIT"])[-2].reply \
        == "+OK 0 0"

    # B's log holds each step, by Message-ID and session, as `lab trace` reads it.
    b = container(PROVIDER_B.service)
    lines = maillog.read(b.id, since=started - 1)
    message_id = re.search(rb"Message-ID: (<[^>]+>)", one_message_for_y).group(1).decode()
    events = [(e.event, e.flags) for e in maillog.mailbox_events(lines)
              if e.message_id == message_id and e.program == "imap"]
    assert events == [("seen", "\\Flagged \\Seen \\Recent"), ("expunged", "")]
    sessions = [(s.address, s.tls, s.deleted) for s in maillog.read_sessions(lines, "imap")
                if s.time >= started and s.user == Y]
    laptop, phone_at = settings.address("client-y", "access-b"), settings.address("outsider")
    assert sessions == [(laptop, True, 0), (phone_at, True, 0), (phone_at, True, 1), (laptop, True, 0)]


def test_imaps_on_993(client_y, y_login):
    greeting, login, logout = imap(client_y, IMAP_B, [*y_login, "LOGOUT"], tls="imaps")
    assert b"LOGINDISABLED" not in greeting.raw and b"AUTH=PLAIN" in greeting.raw
    assert login.ok and logout.ok


def test_no_login_before_starttls(client_y, y_login, settings):
    token = f"AUTHENTICATE PLAIN {plain_token(Y, settings.password(Y))}"
    greeting, login, authenticate, logout = imap(client_y, IMAP_B, [*y_login, token, "LOGOUT"], tls="none")
    assert b"STARTTLS LOGINDISABLED" in greeting.raw and b"AUTH=" not in greeting.raw
    privacy = "NO [PRIVACYREQUIRED]"
    assert login.status == f"{privacy} Plaintext authentication disallowed on non-secure (SSL/TLS) " \
                           "connections."
    assert authenticate.status == f"{privacy} Authentication not allowed until SSL/TLS is enabled."
    # Dovecot tells the user what a plaintext LOGIN just did to the password:
    assert login.untagged == ["* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your "
                              "client did it anyway. If anyone was listening, the password was exposed."]
    assert logout.ok


def test_wrong_password_and_unknown_user_get_one_answer(client_y):
    replies = imap(client_y, IMAP_B, [*imap_login(Y, "wrong"), *imap_login("nobody@provider-b.test", "wrong"),
                                      "LOGOUT"])
    assert replies[2].status == replies[3].status == "NO [AUTHENTICATIONFAILED] Authentication failed."


def test_quota_is_visible_and_is_the_one_b_enforces(client_y, empty_y_mailbox, y_login, settings):
    limit_kib = config.size_in_bytes(settings.mailbox_quota) // 1024
    before = imap(client_y, IMAP_B, [*y_login, "GETQUOTAROOT INBOX", "LOGOUT"])[3]
    assert before.untagged == ['* QUOTAROOT INBOX "User quota"',
                               f'* QUOTA "User quota" (STORAGE 0 {limit_kib})']
    fill_mailbox(empty_y_mailbox, Y, 300 * 1024)
    after = imap(client_y, IMAP_B, [*y_login, "GETQUOTAROOT INBOX", "LOGOUT"])[3]
    used = int(re.search(r"STORAGE (\d+) ", after.untagged[1]).group(1))
    doveadm = empty_y_mailbox.output("doveadm", "-f", "tab", "quota", "get", "-u", Y)
    storage = next(line.split("\t") for line in doveadm.splitlines() if "\tSTORAGE\t" in line)
    assert 300 <= used < 320 and storage[2:4] == [str(used), str(limit_kib)], doveadm


def test_after_bad_input_the_session_goes_on(client_y, y_login):
    replies = imap(client_y, IMAP_B, [*y_login, "MAKE MONEY FAST", "FETCH 1:* (FLAGS)", "SELECT INBOX",
                                      "FETCH x (FLAGS)", "A" * 70000, "NOOP", "LOGOUT"])
    unknown, no_mailbox, select, bad_set, too_long, noop, logout = replies[3:]
    assert re.fullmatch(r"BAD Error in IMAP command MAKE: Unknown command" + TIMING, unknown.status)
    assert re.fullmatch(r"BAD No mailbox selected" + TIMING, no_mailbox.status)
    assert select.ok
    assert re.fullmatch(r"BAD Error in IMAP command FETCH: Invalid messageset" + TIMING, bad_set.status)
    assert re.fullmatch(r"BAD Error in IMAP command: Too long argument" + TIMING, too_long.status)
    assert noop.ok and logout.ok


def test_eleven_logins_at_once_the_last_is_refused(client_y, y_login):
    """One account from one address: ten sessions at once (a mail program keeps one per
    folder it watches), not eleven."""
    script = """
import socket, ssl, sys, time
ctx = ssl.create_default_context()
held = []
for n in range(11):
    s = ctx.wrap_socket(socket.create_connection((sys.argv[1], 993), timeout=10), server_hostname=sys.argv[1])
    s.recv(4096)
    s.sendall(sys.argv[2].encode() + b"\\r\\n")
    reply = b""
    while not reply.endswith(b"\\r\\n") or b"a1 " not in reply:
        reply += s.recv(4096)
    held.append(s)
    print(reply.decode().splitlines()[-1])
"""
    done = client_y.run("python3", "-c", script, IMAP_B, f"a1 {y_login[0]}")
    answers = done.stdout.decode().splitlines()
    assert len(answers) == 11 and all(a.startswith("a1 OK ") for a in answers[:10]), answers
    assert answers[10] == ("a1 NO [LIMIT] Maximum number of connections from user+IP exceeded "
                           "(mail_max_userip_connections=10)"), answers


def test_a_stranger_s_flood_does_not_keep_y_out(lab, container, client_y, y_login):
    """200 connections held by one stranger: 20 are let in, the rest refused by B's
    packet filter, and Y logs in meanwhile as always."""
    outsider = container("outsider")

    def refused() -> int:
        return int(netseal.filter_state(lab, PROVIDER_B)["refused"])

    refused_before = refused()
    spec = {"host": PROVIDER_B.mx, "port": 143, "connections": 200, "hold": 10, "rapid": 0}
    flood = subprocess.Popen(["docker", "exec", outsider.id, "python3", "-c", FLOOD, json.dumps(spec)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: refused() > refused_before, "B refusing the flood")
        login = imap(client_y, IMAP_B, [*y_login, "LOGOUT"])
        assert login[2].ok, login[2].raw
    finally:
        out, _ = flood.communicate(timeout=60)
    result = json.loads(out)
    assert sum(n for g, n in result["greetings"].items() if g.startswith("* OK")) == 20, result
    assert result["failed"] == 180, result
    assert imap(outsider, IMAP_B, ["LOGOUT"], tls="none")[1].ok  # and the stranger is served again after


def test_trace_shows_imap_reading(lab, one_message_for_y, client_y, y_login):
    """`lab trace` shows step 6 over IMAP as it does over POP3: read on the server, then
    expunged."""
    message_id = re.search(rb"Message-ID: (<[^>]+>)", one_message_for_y).group(1).decode()
    replies = imap(client_y, IMAP_B, [*y_login, "SELECT INBOX", "FETCH 1 BODY[]",
                                      "STORE 1 +FLAGS (\\Deleted)", "EXPUNGE", "LOGOUT"])
    assert all(r.ok for r in replies[2:]), replies
    code, out = lab_command(lab, "trace", message_id)
    assert code == 0, out
    assert f"(6) retrieval: IMAP login as {Y}, read it (now \\Seen on every device)" in out, out
    assert f"(6) retrieval: IMAP login as {Y}, expunged it: gone from every device" in out, out
    assert f"Now: expunged by {Y} over IMAP" in out, out

