"""Step 7: on the internet, B's port 25 takes mail for B's own users from anyone (it is
their MX), but A refuses to carry a stranger's mail to B (no third-party relay)."""

import time

from lab.config import PROVIDER_A, PROVIDER_B, Y
from tests.harness import make_message, new_helo, refusals, swaks, wait_until

STRANGER = "someone@outside.example"


def test_outsider_delivers_to_y_at_b_mx(outsider, provider_b):
    message = make_message(STRANGER, Y, subject="to y through B's MX")
    session = swaks(outsider, "--server", PROVIDER_B.mx, "--port", "25",
                    "--from", STRANGER, "--to", Y, message=message.as_bytes())
    assert session.data_reply.startswith("250 2.0.0 Ok: queued as ")
    mid = message["Message-ID"]
    wait_until(lambda: provider_b.messages_with(Y, mid), "the outsider's mail at Y")
    provider_b.delete_message(Y, mid)


def test_outsider_cannot_relay_through_a(outsider, provider_a, settings):
    message, helo = make_message(STRANGER, Y, subject="relay attempt"), new_helo("relay-attempt")
    started = time.time()
    session = swaks(outsider, "--server", PROVIDER_A.mx, "--port", "25",
                    "--from", STRANGER, "--to", Y, message=message.as_bytes(), helo=helo)
    assert session.reply("RCPT") == f"554 5.7.1 <{Y}>: Relay access denied"
    assert "DATA" not in [s for s, _ in session.exchanges]
    # A's log: this session's one recipient refused before any queue file existed.
    [refused] = refusals(provider_a, helo, started)
    assert f"RCPT from unknown[{settings.address('outsider')}]:" in refused
    assert f"from=<{STRANGER}> to=<{Y}>" in refused
    assert message["Message-ID"] not in provider_a.log(since=started - 1)
