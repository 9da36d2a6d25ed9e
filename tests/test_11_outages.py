"""When B cannot take mail, A keeps it and retries by itself: the sender gets 250 at
once, the queue says why it waits, and after the fault is undone the mail arrives with
nobody flushing anything, exactly once, even across container recreation."""

from __future__ import annotations

import re

import pytest

from lab import faults
from lab.config import Y2, X, Y
from lab.mailbox import message_ids
from tests.harness import (
    Container,
    Submitted,
    deferred,
    deferred_entry,
    delivery_bound,
    settle,
    submit_many,
    wait_until,
)

B_MX = r"mx\.provider-b\.test\[{ip}\]"
CAUSES = {  # what A's queue says while the fault lasts (postqueue -j delay_reason)
    "b-down": B_MX + r":25: (No route to host|Connection timed out)",
    "partition": B_MX + r":25: (No route to host|Connection timed out)",
    "b-refuses": B_MX + r" said: 450 4\.3\.2 .*Service temporarily unavailable, try again later "
                 r"\(in reply to RCPT TO command\)",
    "dns-down": r"Name service error for name=provider-b\.test type=MX: Host not found, try again",
}


@pytest.fixture
def fault(lab):
    """fault(name) causes it; it is undone after the test whatever happens."""
    caused = []

    def cause(name: str) -> faults.Fault:
        caused.append(faults.FAULTS[name])
        caused[-1].cause(lab)
        return caused[-1]

    yield cause
    for f in caused:
        f.cure(lab)


def submit_as_x(lab, count: int, tag: str, recipient: str = Y, **options) -> list[Submitted]:
    """X submits `count` messages to A by address (the DNS may be down)."""
    client = Container("client-x", lab.container("client-x"))
    results = submit_many(client, X, lab.settings.password(X), recipient, count, tag,
                          host=lab.settings.address("provider-a"), **options)
    assert all(r.code == 250 for r in results), results
    return results


def in_queue(provider, queue_id: str) -> dict | None:
    """The queue entry of one message, by its queue id (None: not in the queue)."""
    return next((m for m in provider.queue() if m["queue_id"] == queue_id), None)


@pytest.mark.disruptive
@pytest.mark.parametrize("name", list(CAUSES))
def test_a_keeps_the_mail_and_retries_by_itself(lab, settings, fault, provider_a, container, name):
    f = fault(name)
    [sent] = submit_as_x(lab, 1, f"outage-{name}")  # 250 at once: X need not retry
    cause = re.compile(CAUSES[name].format(ip=re.escape(settings.address("provider-b"))))
    waiting = wait_until(lambda: deferred_entry(provider_a, sent.queue_id),
                         f"{sent.queue_id} deferred in A's queue", context=lambda: provider_a.log(tail=10))
    [recipient] = waiting["recipients"]
    assert recipient["address"] == Y
    assert cause.search(recipient["delay_reason"]), recipient["delay_reason"]
    assert re.search(rf"{sent.queue_id}: to=<{Y}>, .*dsn=4\.\d\.\d, status=deferred", provider_a.log())

    f.cure(lab)
    b = container("provider-b")
    wait_until(lambda: b.messages_with(Y, sent.message_id), f"{sent.message_id} at Y after the restore",
               timeout=delivery_bound(settings), context=lambda: provider_a.log(tail=10))
    wait_until(lambda: in_queue(provider_a, sent.queue_id) is None, f"{sent.queue_id} gone from A's queue")
    b.delete_message(Y, sent.message_id)


@pytest.mark.disruptive
def test_exactly_once_around_an_outage(lab, settings, fault, provider_a, container):
    """100 messages: 20 before B goes down, 60 while it is down, 20 after it is back.
    Every Message-ID arrives exactly once; nothing is lost or duplicated. B goes down
    between transactions: a stop in the middle of one may deliver a message twice
    (RFC 1047), which test_18's crash tests count."""
    b = container("provider-b")
    settle([provider_a, b], Y2)
    b.empty_mailbox(Y2)
    sent = submit_as_x(lab, 20, "volume-before", recipient=Y2)
    settle([provider_a, b], Y2)  # the 20 are stored before B goes down
    outage = fault("b-down")
    during = submit_as_x(lab, 60, "volume-during", recipient=Y2)
    during_ids = {s.queue_id for s in during}
    wait_until(lambda: during_ids <= {m["queue_id"] for m in deferred(provider_a)},
               "the 60 messages deferred on A")
    outage.cure(lab)
    sent += during + submit_as_x(lab, 20, "volume-after", recipient=Y2)
    b = container("provider-b")
    settle([provider_a, b], Y2)  # nothing more can arrive: count now
    received = message_ids(b.messages(Y2))
    mids = [s.message_id for s in sent]
    lost = set(mids) - set(received)
    duplicated = {mid for mid in received if received.count(mid) > 1}
    assert (len(mids), lost, duplicated) == (100, set(), set())
    assert sorted(received) == sorted(mids)
    b.empty_mailbox(Y2)


@pytest.mark.disruptive
def test_queue_and_mailboxes_survive_recreated_containers(lab, settings, fault, container):
    outage = fault("b-down")
    sent = submit_as_x(lab, 5, "persist")
    queue_ids = {s.queue_id for s in sent}
    wait_until(lambda: queue_ids <= {m["queue_id"] for m in deferred(container("provider-a"))},
               "the 5 messages deferred on A")

    lab.recreate("provider-a")
    kept = {m["queue_id"] for m in container("provider-a").queue()}
    assert queue_ids <= kept, f"A's new container lost queued mail: {queue_ids - kept}"

    outage.cure(lab)
    wait_until(lambda: all(container("provider-b").messages_with(Y, s.message_id) for s in sent),
               "the 5 messages at Y", timeout=delivery_bound(settings))

    lab.recreate("provider-b")
    b = container("provider-b")
    assert all(len(b.messages_with(Y, s.message_id)) == 1 for s in sent), "B's new container lost Y's mail"
    for s in sent:
        b.delete_message(Y, s.message_id)
