"""What X hears back: a delay warning and then a bounce when A gives up; a bounce (or
a wait) when Y's mailbox is full; a delivery report when X asks for one. X reads all
of them over POP from A, like any other mail."""

from __future__ import annotations

import re

import pytest

from lab import config, faults
from lab.config import PROVIDER_A, PROVIDER_B, X, Y
from tests.harness import (
    deferred_entry,
    delivery_bound,
    delivery_reports,
    fill_mailbox,
    pop3,
    pop3_login,
    pop3_retrieve_all,
    settle,
    submit_many,
    wait_until,
)

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
    faults.set_retry_profile(lab, "provider-a", "short-lifetime")
    outage = faults.FAULTS["b-down"]
    outage.cause(lab)
    try:
        [(mid, code, _)] = submit_many(client_x, X, settings.password(X), Y, 1, "give-up")
        assert code == 250
        warning, bounce = reports_to_x(client_x, settings, mid, 2)
    finally:
        outage.cure(lab)
        faults.set_retry_profile(lab, "provider-a", settings.retry_profile)
    # In mailbox order (POP lists the oldest first): first the warning, then the bounce.
    [delayed], [failed] = warning, bounce
    assert (delayed["action"], failed["action"]) == ("delayed", "failed")
    for report in (delayed, failed):
        assert report["final-recipient"] == f"rfc822; {Y}"
        assert report["status"] == "4.4.1"  # no answer from B's MX
        assert report["diagnostic-code"].startswith(
            f"X-Postfix; connect to mx.provider-b.test[{settings.address('provider-b')}]:25:")
    assert "will-retry-until" in delayed


def too_big_for_the_rest(settings) -> int:
    """The size of the test message that cannot fit once the mailbox is nearly full:
    a tenth of the quota (1 MB of 10 MB), and under the message size limit."""
    return min(config.size_in_bytes(settings.mailbox_quota) // 10, settings.max_message_bytes // 2)


@pytest.fixture
def y_mailbox_nearly_full(container, settings):
    """Y's mailbox holds one message that leaves half the test message's size free."""
    a, b = container("provider-a"), container("provider-b")
    settle([a, b], Y)
    b.empty_mailbox(Y)
    quota = config.size_in_bytes(settings.mailbox_quota)
    fill_mailbox(b, Y, quota - too_big_for_the_rest(settings) // 2)
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
def test_with_tempfail_the_message_waits_until_y_makes_room(lab, client_x, client_y, settings,
                                                            y_mailbox_nearly_full, container):
    faults.set_quota_full(lab, "provider-b", "tempfail")
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
        faults.set_quota_full(lab, "provider-b", settings.quota_full)


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
