"""After the story, 1: Outbound Port 25 Blocking. A provider refuses to forward its own
customers' connections to port 25 of any other host (a TCP reset from its packet
filter: the customer's program fails at once); customers submit through their own
provider's port 587 or 465, which stay open everywhere. Servers on the internet still
reach every MX."""

from __future__ import annotations

import json

import pytest

from lab import switches
from lab.config import PROVIDER_A, PROVIDER_B
from tests.harness import Container, client_in_log

# A TCP connect from inside a client: how it ended and how long it took. "refused" is
# the provider's reset; a dropped packet would be "timeout" after 5 s.
CONNECT = """
import errno, json, socket, ssl, sys, time
started = time.monotonic()
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
    if sys.argv[2] == "465":  # submission with TLS from the first byte: the greeting comes inside
        s = ssl.create_default_context().wrap_socket(s, server_hostname=sys.argv[1])
    greeting = s.recv(200).decode(errors="replace")
    s.close()
    result = "greeting " + greeting.split()[0] if greeting else "connected"
except ConnectionRefusedError:
    result = "refused"
except (TimeoutError, socket.timeout):
    result = "timeout"
except OSError as err:
    result = errno.errorcode.get(err.errno, str(err))
print(json.dumps({"result": result, "seconds": time.monotonic() - started}))
"""


def connect(client: Container, host: str, port: int) -> dict:
    return json.loads(client.output("python3", "-c", CONNECT, host, str(port)))


def blocked_count(lab, provider) -> int:
    return switches.state(lab)[provider.service].blocked


@pytest.mark.parametrize(("who", "target"), [
    ("client-x", PROVIDER_B.mx), ("client-x", "address of provider-b"), ("client-y", PROVIDER_A.mx),
])
def test_a_customer_cannot_reach_another_mx(lab, container, settings, who, target):
    assert settings.op25b, "the lab starts with OP25B=on (.env)"
    gateway = PROVIDER_A if who == "client-x" else PROVIDER_B
    host = settings.address("provider-b") if target.startswith("address") else target
    before = blocked_count(lab, gateway)
    outcome = connect(container(who), host, 25)
    assert outcome["result"] == "refused", outcome  # at once: a reset, not a timeout
    print(f"{who} -> {target}:25 refused after {outcome['seconds'] * 1000:.0f} ms")
    assert blocked_count(lab, gateway) == before + 1  # the provider's own rule refused it


@pytest.mark.parametrize(("who", "host", "port"), [
    ("client-x", PROVIDER_A.mx, 25),  # its own provider's MX: not forwarded, not blocked
    ("client-x", PROVIDER_B.smtp, 587),  # submission anywhere stays open (RFC 5068)
    ("client-x", PROVIDER_B.smtp, 465),  # ... with TLS from the start too (RFC 8314)
    ("client-x", PROVIDER_A.smtp, 465),
    ("client-y", PROVIDER_B.mx, 25),
    ("client-y", PROVIDER_A.smtp, 587),
    ("client-y", PROVIDER_A.smtp, 465),
    ("outsider", PROVIDER_A.mx, 25),  # a server on the internet is no provider's customer
    ("outsider", PROVIDER_B.mx, 25),
])
def test_what_stays_open(container, who, host, port):
    assert connect(container(who), host, port)["result"] == "greeting 220"


@pytest.mark.disruptive
def test_the_switch_both_ways(lab, container, settings):
    x = container("client-x")
    try:
        switches.set_op25b(lab, False)
        assert switches.state(lab)[PROVIDER_A.service].op25b is False
        assert connect(x, PROVIDER_B.mx, 25)["result"] == "greeting 220"  # the story's days
        b_log = container(PROVIDER_B.service).log(tail=20)
        assert f"connect from {client_in_log(settings, 'client-x')}:" in b_log  # X itself
    finally:
        switches.set_op25b(lab, True)
    assert all(p.op25b for p in switches.state(lab).values())
    assert connect(x, PROVIDER_B.mx, 25)["result"] == "refused"
