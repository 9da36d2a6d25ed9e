"""What X hears back: a delay warning and then a bounce when A gives up; a bounce (or
a wait) when Y's mailbox is full; a delivery report when X asks for one. X reads all
of them over POP from A, like any other mail."""

from __future__ import annotations

import re

import pytest

from lab import faults, maillog, switches
from lab.config import PROVIDER_A, PROVIDER_B, X, Y
from tests.harness import (
    deferred_entry,
    delivery_bound,
    delivery_reports,
    nearly_fill,
    settle,
    submit_many,
    too_big_for_the_rest,
    wait_until,
)
from tests.rawsession import pop3, pop3_login, pop3_retrieve_all
from tests.solutions import postfix_message

POP_A, POP_B = PROVIDER_A.pop, PROVIDER_B.pop


def reports_to_x(client_x, settings, about: str, count: int) -> list[list[dict[str, str]]]:
    """Wait for `count` reports mentioning `about` in X's mailbox on A; read them over POP."""
    def reports() -> list[bytes] | None:
        mail = pop3_retrieve_all(client_x, POP_A, X, settings.password(X), delete=False)
        about_it = [m for m in mail if about.encode() in m]
        return about_it if len(about_it) >= count else None

    found = wait_until(reports, f"{count} report(s) about {about} in X's mailbox", timeout=60)
    pop3_retrieve_all(client_x, POP_A, X, settings.password(X))  # read: now delete them all
    return [delivery_reports(m) for m in found]


@pytest.fixture
def x_mailbox_empty(container):
    container("provider-a").empty_mailbox(X)


@pytest.mark.disruptive
def test_a_warns_then_gives_up_and_returns_the_message(lab, settings, client_x, x_mailbox_empty):
    switches.set_retry_profile(lab, "provider-a", "short-lifetime")
    outage = faults.FAULTS["b-down"]
    outage.cause(lab)
    try:
        [(mid, code, _)] = submit_many(client_x, X, settings.password(X), Y, 1, "give-up")
        assert code == 250
        warning, bounce = reports_to_x(client_x, settings, mid, 2)
    finally:
        outage.cure(lab)
        switches.set_retry_profile(lab, "provider-a", settings.retry_profile)
    # In mailbox order (POP lists the oldest first): first the warning, then the bounce.
    [delayed], [failed] = warning, bounce
    assert (delayed["action"], failed["action"]) == ("delayed", "failed")
    for report in (delayed, failed):
        assert report["final-recipient"] == f"rfc822; {Y}"
        assert report["status"] == "4.4.1"  # no answer from B's MX
        assert report["diagnostic-code"].startswith(
            f"X-Postfix; connect to mx.provider-b.test[{settings.address('provider-b')}]:25:")
    assert "will-retry-until" in delayed


@pytest.fixture
def y_mailbox_nearly_full(container, settings):
    """Y's mailbox holds one message that leaves half the test message's size free."""
    a, b = container("provider-a"), container("provider-b")
    settle([a, b], Y)
    nearly_fill(b, settings, Y)
    yield b
    b.empty_mailbox(Y)


def test_full_mailbox_bounces_to_x_and_keeps_y_mail(client_x, client_y, settings, y_mailbox_nearly_full,
                                                     x_mailbox_empty, container):
    before = pop3(client_y, POP_B, [*pop3_login(Y, settings.password(Y)), "STAT", "QUIT"])[-2].reply
    assert before.startswith("+OK 1 ")
    [(mid, code, _)] = submit_many(client_x, X, settings.password(X), Y, 1, "over-quota",
                                   size=too_big_for_the_rest(settings))
    assert code == 250
    [[report]] = reports_to_x(client_x, settings, mid, 1)
    assert report["action"] == "failed"
    assert report["status"] == "5.2.2"
    assert "Mailbox is full" in report["diagnostic-code"]
    after = pop3(client_y, POP_B, [*pop3_login(Y, settings.password(Y)), "STAT", "TOP 1 0", "QUIT"])
    assert after[-3].reply == before  # Y's mail untouched
    assert after[-2].ok and b"Subject: filler" in after[-2].data  # and still retrievable
    assert container("provider-b").messages_with(Y, mid) == []


@pytest.mark.disruptive
def test_with_discard_the_message_is_lost_and_nobody_is_told(lab, client_x, settings, y_mailbox_nearly_full,
                                                              x_mailbox_empty):
    """The story's providers: B says 250 and throws the message away. Its log says so in
    one line, for the very session A used; X hears nothing. The control: the same
    message under QUOTA_FULL=bounce brings X a bounce, which would have come first."""
    b = y_mailbox_nearly_full
    size = too_big_for_the_rest(settings)
    before = b.messages(Y)
    switches.set_quota_full(lab, "discard")
    try:
        [lost] = submit_many(client_x, X, settings.password(X), Y, 1, "discarded", size=size)
        handed = wait_until(lambda: (m := postfix_message(lab, PROVIDER_A.service, lost.message_id))
                            and m.attempts and m.attempts[-1], "A's hand-over to B")
        assert handed.status == "sent" and handed.reason.startswith("250 2.0.0 Ok: queued as")
        b_lines = maillog.read(b.id)
        taken = maillog.messages(b_lines)[handed.next_queue_id]
        [discard] = [r for r in maillog.rejects(b_lines)
                     if r.action == "discard" and r.client == taken.client]  # this session's
        assert discard.reply == f"<{Y}>: Recipient address mailbox full: discarded at B, nobody is told"
        assert taken.attempts == []  # never stored
    finally:
        switches.set_quota_full(lab, settings.quota_full)
    assert b.messages(Y) == before  # Y's mail untouched, and nothing new
    switches.set_quota_full(lab, "bounce")
    try:
        [control] = submit_many(client_x, X, settings.password(X), Y, 1, "bounced", size=size)
        x_mail = wait_until(lambda: (mail := pop3_retrieve_all(client_x, POP_A, X, settings.password(X),
                                                               delete=False))
                            and any(control.message_id.encode() in m for m in mail) and mail,
                            "the bounce of the control message in X's mailbox")
    finally:
        switches.set_quota_full(lab, settings.quota_full)
    assert [r["status"] for m in x_mail for r in delivery_reports(m)] == ["5.2.2"]  # the control's only
    assert not [m for m in x_mail if lost.message_id.encode() in m], "X was told of the discarded message"


@pytest.mark.disruptive
def test_with_tempfail_the_message_waits_until_y_makes_room(lab, client_x, client_y, settings,
                                                            y_mailbox_nearly_full, container):
    switches.set_quota_full(lab, "tempfail")
    try:
        [sent] = submit_many(client_x, X, settings.password(X), Y, 1, "tempfail",
                             size=too_big_for_the_rest(settings))
        assert sent.code == 250
        mid = sent.message_id
        a = container("provider-a")
        waiting = wait_until(lambda: deferred_entry(a, sent.queue_id), f"{sent.queue_id} waiting at A")
        assert "452 4.2.2" in waiting["recipients"][0]["delay_reason"]
        # Y makes room by deleting the big message over POP, and A's next retry gets through.
        *_, dele, quit_ = pop3(client_y, POP_B, [*pop3_login(Y, settings.password(Y)), "DELE 1", "QUIT"])
        assert dele.ok and quit_.ok
        wait_until(lambda: container("provider-b").messages_with(Y, mid), "the message at Y",
                   timeout=delivery_bound(settings))
    finally:
        switches.set_quota_full(lab, settings.quota_full)


def test_notify_success_reports_delivery_not_reading(client_x, settings, x_mailbox_empty, container):
    [(mid, code, _)] = submit_many(client_x, X, settings.password(X), Y, 1, "dsn",
                                   rcpt_options=["NOTIFY=SUCCESS"])
    assert code == 250
    [[report]] = reports_to_x(client_x, settings, mid, 1)
    assert report["final-recipient"] == f"rfc822; {Y}"
    assert report["status"] == "2.0.0"
    # B handed the message to Dovecot's LMTP, which does not take on DSNs itself: Postfix
    # says "relayed", with the mailbox's own answer ("Saved") as the evidence.
    assert report["action"] == "relayed"
    saved = re.compile(rf"smtp; 250 2\.0\.0 <{re.escape(Y)}> \S+ Saved")
    assert saved.fullmatch(" ".join(report["diagnostic-code"].split())), report  # unfolded
    b = container("provider-b")
    assert len(b.messages_with(Y, mid)) == 1
    b.delete_message(Y, mid)
