"""Steps 3 and 4: A looks up B's MX and hands the message over; B stores it in Y's
Maildir, exactly once. The proof is in A's log and in the message's Received: headers."""

import re
import time
from email import message_from_bytes
from email.policy import default

import pytest

from lab.config import X, Y
from tests.harness import make_message, submit, wait_until


@pytest.fixture
def delivered(client_x, provider_a, provider_b, settings):
    """A message from X to Y, submitted and waited for until it sits in Y's Maildir."""
    message = make_message(X, Y, subject="relay by MX")
    mid = message["Message-ID"]
    started = time.time()
    submit(client_x, X, settings.password(X), Y, message)
    stored = wait_until(lambda: provider_b.messages_with(Y, mid), f"{mid} in Y's Maildir",
                        context=lambda: provider_a.log(tail=15) + provider_b.log(tail=15))
    yield mid, stored, started
    provider_b.delete_message(Y, mid)


def test_a_relays_to_the_host_named_by_b_mx(delivered, provider_a, settings):
    mid, _, started = delivered
    log = provider_a.log(since=started - 1)
    queue_id = re.search(rf"(\w+): message-id={re.escape(mid)}", log).group(1)
    b_ip = settings.address("provider-b")
    sent = re.search(rf"{queue_id}: to=<{Y}>, relay=(\S+), .*status=sent", log)
    assert sent, log[-2000:]
    # The MX of provider-b.test is mx.provider-b.test: A found it in the lab's DNS.
    assert sent.group(1) == f"mx.provider-b.test[{b_ip}]:25"
    assert f"Trusted TLS connection established to mx.provider-b.test[{b_ip}]:25" in log


def test_received_headers_trace_the_path(delivered, settings):
    _, [stored], _ = delivered
    received = message_from_bytes(stored, policy=default).get_all("Received")
    # Read bottom-up: X -> A (authenticated submission), A -> B (SMTP), B -> mailbox (LMTP).
    by_x, a_to_b, lmtp = reversed(received)
    assert f"[{settings.address('client-x', 'access-a')}]" in by_x
    assert "by mx.provider-a.test (Postfix) with ESMTPSA" in by_x
    assert f"[{settings.address('provider-a')}]" in a_to_b
    assert "by mx.provider-b.test (Postfix) with ESMTPS" in a_to_b
    assert "with LMTP" in lmtp


def test_stored_once_in_y_maildir(delivered, provider_a, provider_b):
    """Counted only once both providers are done with the message (A removed it from its
    queue after B's 250, B after LMTP's): a late second copy would be seen."""
    mid, stored, started = delivered
    since = started - 1
    a_id = re.search(rf"(\w+): message-id={re.escape(mid)}", provider_a.log(since=since)).group(1)
    b_id = wait_until(lambda: re.findall(rf"(\w+): message-id={re.escape(mid)}", provider_b.log(since=since)),
                      "B's queue id")
    assert len(b_id) == 1, f"B took the message {len(b_id)} times: {b_id}"
    for provider, queue_id in ((provider_a, a_id), (provider_b, b_id[0])):
        done = re.compile(rf"{queue_id}: removed$", re.MULTILINE)
        wait_until(lambda p=provider, d=done: d.search(p.log(since=since)),
                   f"{provider.service} done with {queue_id}")
    assert provider_b.messages_with(Y, mid) == stored and len(stored) == 1
