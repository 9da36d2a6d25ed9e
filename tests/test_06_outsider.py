"""Step 7: on the internet, B's port 25 takes mail for B's own users from anyone (it is
their MX), but A refuses to carry a stranger's mail to B (no third-party relay)."""

from lab.config import PROVIDER_A, PROVIDER_B, Y
from tests.harness import make_message, swaks, wait_until

STRANGER = "someone@outside.example"


def test_outsider_delivers_to_y_at_b_mx(outsider, provider_b):
    message = make_message(STRANGER, Y, subject="to y through B's MX")
    session = swaks(outsider, "--server", PROVIDER_B.mx, "--port", "25",
                    "--from", STRANGER, "--to", Y, message=message.as_bytes())
    assert session.data_reply.startswith("250 2.0.0 Ok: queued as ")
    wait_until(lambda: provider_b.messages_with(Y, message["Message-ID"]), "the outsider's mail at Y")


def test_outsider_cannot_relay_through_a(outsider, provider_a, provider_b):
    message = make_message(STRANGER, Y, subject="relay attempt")
    session = swaks(outsider, "--server", PROVIDER_A.mx, "--port", "25",
                    "--from", STRANGER, "--to", Y, message=message.as_bytes())
    assert session.reply("RCPT") == f"554 5.7.1 <{Y}>: Relay access denied"
    assert "DATA" not in [s for s, _ in session.exchanges]
    assert provider_a.queue() == []
