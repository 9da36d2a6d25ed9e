"""What the web view makes of the providers' log lines, without a lab: where a message
is drawn, which steps are done or failed, who was refused. The lines are real Postfix
lines (as `docker logs --timestamps` gives them), read by the real parser and trace.

The browser tests (test_23) see these on a live lab; here each case is pinned down,
including orders a live lab produces only sometimes: B storing a message before A has
logged B's 250 once left the message drawn at B.
"""

from __future__ import annotations

import asyncio
from collections import deque

import pytest

from lab import config, maillog
from lab.compose import Lab
from lab.config import X, Y
from lab.web import live, views

SETTINGS = config.load(lab_id=0, project="maillab-views", environ=config.read_env_file(config.ENV_FILE))
A_ADDRESS, B_ADDRESS = SETTINGS.address("provider-a"), SETTINGS.address("provider-b")
X_ADDRESS = SETTINGS.address("client-x", "access-a")
OUTSIDER = SETTINGS.address("outsider")
MESSAGE_ID = "<views-1@maillab.test>"


def lines(*entries: tuple[float, str]) -> list[maillog.LogLine]:
    """Log lines at 10:50:40 plus the given fraction of seconds, as Docker stamps them."""
    text = "\n".join(f"2026-11-29T10:50:{40 + int(at):02d}.{round(at % 1 * 1e6):06d}000Z "
                     f"Nov 29 10:50:40 mx {line}" for at, line in entries)
    return maillog.parse(text)


def submitted_at_a(*outcome: tuple[float, str]) -> list[maillog.LogLine]:
    return lines(
        (0.10, f"postfix/submission/smtpd[140]: 1A2B3C4D5E: client=dialup[{X_ADDRESS}]:48754, "
               f"sasl_method=PLAIN, sasl_username={X}"),
        (0.11, f"postfix/cleanup[141]: 1A2B3C4D5E: message-id={MESSAGE_ID}"),
        (0.12, f"postfix/qmgr[131]: 1A2B3C4D5E: from=<{X}>, size=600, nrcpt=1 (queue active)"),
        *outcome)


def stored_at_b(at: float) -> list[maillog.LogLine]:
    return lines(
        (0.20, f"postfix/smtpd[137]: 9F8E7D6C5B: client=mx.provider-a.test[{A_ADDRESS}]:46158"),
        (0.21, f"postfix/cleanup[247]: 9F8E7D6C5B: message-id={MESSAGE_ID}"),
        (0.22, f"postfix/qmgr[131]: 9F8E7D6C5B: from=<{X}>, size=1993, nrcpt=1 (queue active)"),
        (at, f"postfix/lmtp[248]: 9F8E7D6C5B: to=<{Y}>, relay=mx.provider-b.test[private/dovecot-lmtp], "
             "delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <y@provider-b.test> "
             "4gAiLoADDGv5AAAA8OVi7Q Saved)"))


SENT = (0.40, f"postfix/smtp[142]: 1A2B3C4D5E: to=<{Y}>, relay=mx.provider-b.test[{B_ADDRESS}]:25, "
              "delay=0.3, delays=0/0/0/0.3, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 9F8E7D6C5B)")


def only_journey(a: list[maillog.LogLine], b: list[maillog.LogLine]) -> dict:
    [journey] = views.mail(SETTINGS, {"provider-a": a, "provider-b": b}, None)["journeys"]
    assert journey["id"] == MESSAGE_ID
    return journey


@pytest.mark.parametrize("stored", [0.30, 0.50], ids=["B stores before A logs the 250", "after"])
def test_a_delivered_message_is_drawn_in_the_mailbox(stored):
    journey = only_journey(submitted_at_a(SENT), stored_at_b(stored))
    assert (journey["place"], journey["mailbox_at"], journey["step"]) == ("mailbox", "provider-b", 5)
    assert journey["done"] == [1, 2, 3, 4, 5] and journey["failed"] == []
    assert journey["lanes"] == ["X", "A", "DNS", "B", "Y"] and journey["sender"] == "client-x"
    assert journey["outcome"]["en"] == f"in {Y}'s mailbox at provider-b"
    assert journey["outcome"]["ja"] == f"provider-b の {Y} のメールボックスに配送されています"  # for its page
    assert [e["story"] for e in journey["events"]] == [1, 2, 3, 4, 5]


def test_a_message_waiting_at_a_says_why_and_its_mx_was_found():
    deferred = (3.2, f"postfix/smtp[142]: 1A2B3C4D5E: to=<{Y}>, relay=none, delay=3, delays=0/0/3/0, "
                     f"dsn=4.4.1, status=deferred (connect to mx.provider-b.test[{B_ADDRESS}]:25: "
                     "No route to host)")
    journey = only_journey(submitted_at_a(deferred), [])
    assert (journey["place"], journey["step"]) == ("provider-a", 4)
    assert journey["done"] == [1, 2, 3] and journey["failed"] == [4]
    assert journey["outcome"]["en"].startswith("waiting in provider-a's queue (1A2B3C4D5E): connect to")


def test_a_bounce_travels_back_to_its_sender():
    bounced = (0.40, f"postfix/smtp[142]: 1A2B3C4D5E: to=<{Y}>, relay=mx.provider-b.test[{B_ADDRESS}]:25, "
                     "delay=0.3, delays=0/0/0/0.3, dsn=5.2.2, status=bounced (host mx.provider-b.test"
                     f"[{B_ADDRESS}] said: 552 5.2.2 <{Y}>: Mailbox is full (in reply to RCPT TO command))")
    notice = (0.41, "postfix/bounce[143]: 1A2B3C4D5E: sender non-delivery notification: 7C7C7C7C7C")
    journey = only_journey(submitted_at_a(bounced, notice), [])
    assert journey["place"] == "client-x" and journey["failed"] == [4]
    assert journey["outcome"]["en"].endswith(f"returned to {X} (7C7C7C7C7C)")


def test_refusals_say_who_was_stopped_where():
    a = lines(
        (0.5, f"postfix/smtpd[150]: NOQUEUE: reject: RCPT from unknown[{OUTSIDER}]:40000: 554 5.7.1 "
              "<victim@elsewhere.test>: Relay access denied; from=<spam@elsewhere.test> "
              "to=<victim@elsewhere.test> proto=ESMTP helo=<spam.example>"),
        (0.6, f"postfix/submission/smtpd[151]: warning: dialup[{X_ADDRESS}]:48760: SASL PLAIN "
              f"authentication failed: (reason unavailable), sasl_username={X}"))
    refused = views.mail(SETTINGS, {"provider-a": a, "provider-b": []}, None)["refused"]
    assert [(r["at"], r["who"], r["what"]) for r in refused] == [
        ("provider-a", "client-x", "login"), ("provider-a", "outsider", "reject")]  # newest first
    assert "Relay access denied" in refused[1]["reply"]["en"] == refused[1]["reply"]["ja"]  # the server's own


def test_only_what_came_after_the_last_reset_is_shown():
    a, b = submitted_at_a(SENT), stored_at_b(0.30)
    assert views.mail(SETTINGS, {"provider-a": a, "provider-b": b}, since=a[-1].time + 1) == {
        "journeys": [], "refused": []}



def test_a_page_open_for_days_keeps_a_window_of_lines_not_all_of_them():
    """`lab web` keeps the last LOG_WINDOW lines of each provider's log: a busy lab
    followed for days costs it a bounded memory (what it shows comes from them)."""
    line = ("2026-11-29T10:50:40.100000000Z Nov 29 10:50:40 mx postfix/smtpd[1]: "
            "connect from unknown[10.80.0.66]:{}\n")

    async def follow(count: int) -> int:
        following = live.LiveLab(Lab(SETTINGS))
        stream = asyncio.StreamReader()
        stream.feed_data("".join(line.format(n) for n in range(count)).encode())
        stream.feed_eof()
        await following._read("provider-a", stream, deque(maxlen=500))
        return len(following.logs["provider-a"])

    assert asyncio.run(follow(live.LOG_WINDOW + 5000)) == live.LOG_WINDOW
