"""The sealed lab (README, "Security"): whatever root does inside any of the six
containers, nothing it sends leaves the lab's three subnets. A listener on the Docker
host's own address in each lab network (this machine, nothing beyond it) proves it:
it hears a control probe from the host's side, and nothing from the lab, not even
after root in each container tried every way out it has (routes, the packet filter,
raw sockets, Docker's embedded DNS, an outside resolver, mail to an address literal).
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from lab import config, switches
from lab.compose import docker
from lab.config import IMAGES, PROVIDER_A, SERVICES, SUBNET_SETTINGS, X
from tests.harness import CLIENT_SCRIPTS, Container, submit, swaks, wait_until

MAIL_PORT = 25  # where an address literal's mail goes (Postfix knows no other port)


@dataclass
class Listener:
    container: str
    addresses: list[str]  # the host's own, one on each lab network
    port: int  # a free port of this machine's, beside MAIL_PORT
    subnets: list[ipaddress.IPv4Network]  # the lab's: what comes from there came from the lab

    def lines(self) -> list[str]:
        said = docker("logs", self.container)
        assert docker("inspect", "--format", "{{.State.Running}}", self.container).strip() == "true", (
            f"the host's listener stopped:\n{said}")
        return [line for line in said.splitlines() if line[:4] in ("tcp ", "udp ")]

    def _from_lab(self, line: str) -> bool:
        peer = ipaddress.IPv4Address(line.split(" from ")[1])
        return any(peer in subnet for subnet in self.subnets)

    def controls(self) -> int:
        """Connections and datagrams from the host's own side (the control probes)."""
        return sum(not self._from_lab(line) for line in self.lines())

    def heard(self) -> list[str]:
        """What reached the host from the lab (no NAT lies between: a lab container's
        packet would bear its own address)."""
        return [line for line in self.lines() if self._from_lab(line)]

    def probe(self, ports: tuple[int, ...] | None = None) -> None:
        """The control: the host's side reaches every address and port, and the listener
        hears each (and, listening in order, whatever came before them)."""
        ports = ports or (self.port,)
        before = self.controls()
        script = "; ".join(f"exec 3<>/dev/tcp/{a}/{p}; exec 3>&-; echo x >/dev/udp/{a}/{p}"
                           for a in self.addresses for p in ports)
        done = on_the_host(script)
        assert done.returncode == 0, done.stderr
        expected = before + 2 * len(self.addresses) * len(ports)
        wait_until(lambda: self.controls() >= expected, "the listener to hear the control probe")

    def heard_nothing_from_the_lab(self) -> None:
        self.probe()  # anything sent before it has arrived by now
        assert self.heard() == [], f"the Docker host heard from the lab: {self.heard()}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return probe.getsockname()[1]


def on_the_host(script: str) -> subprocess.CompletedProcess[str]:
    """bash on the Docker host's network (in a container there: Docker Desktop's host
    network is its VM's, where the lab's networks are)."""
    return subprocess.run(["docker", "run", "--rm", "--network", "host", "--cap-drop", "ALL",
                           "--entrypoint", "bash", IMAGES["provider"], "-c", script],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def listener(lab) -> Iterator[Listener]:
    s = lab.settings
    found = Listener("", [s.host_address(n) for n in SUBNET_SETTINGS], _free_port(),
                     [s.subnets[n] for n in SUBNET_SETTINGS])
    ports = f"{MAIL_PORT},{found.port}"
    found.container = docker(
        "run", "-d", "--network", "host", "--cap-drop", "ALL", "--cap-add", "NET_BIND_SERVICE",
        "--entrypoint", "python3", IMAGES["provider"], "-u", "-c",
        (CLIENT_SCRIPTS / "listener.py").read_text(), ",".join(found.addresses), ports).strip()
    try:
        wait_until(lambda: "listening" in docker("logs", found.container) or
                   "Error" in docker("logs", found.container), "the host's listener to listen")
        assert "listening" in docker("logs", found.container), (
            f"the listener could not bind {ports} on {found.addresses} (is something of this machine "
            f"listening there?): {docker('logs', found.container)}")
        found.probe((MAIL_PORT, found.port))
        yield found
    finally:
        docker("rm", "-f", found.container, check=False)


def attempt(container: Container, script: str) -> str:
    """Run `script` as root in the container (bash); what it printed, errors included."""
    done = container.run("bash", "-c", script, check=False, timeout=120)
    return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")


PYTHON = {"provider-a", "provider-b", "client-x", "client-y", "outsider"}  # python3 is there
DIG = PYTHON  # and dig (the DNS has NSD's tools only)
RAW = """
import socket
for family, kind, proto in ((socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                            (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW),
                            (socket.AF_PACKET, socket.SOCK_RAW, 0x0300)):
    try:
        socket.socket(family, kind, proto)
        print("RAW SOCKET OPENED")
    except PermissionError:
        print("raw socket refused")
"""


BROADCAST = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
for address in sys.argv[2:]:
    try:
        s.sendto(b"broadcast", (address, int(sys.argv[1])))
    except OSError as err:
        print(address, err)
"""


@pytest.mark.parametrize("service", SERVICES)
def test_root_in_any_container_finds_no_way_out(container, listener: Listener, service: str):
    c = container(service)
    host = listener.addresses[0]
    said = attempt(c, f"ip route add default via {host}; ip route replace default via {host}; "
                      "ip route flush table main; ip link set eth0 down")
    assert said.count("Operation not permitted") == 4, said
    if service.startswith("provider"):
        assert "Operation not permitted" in attempt(c, "nft flush ruleset"), "root changed the packet filter"
    if service in PYTHON:
        said = attempt(c, f"python3 -c '{RAW}'")
        assert said.split() == ["raw", "socket", "refused"] * 3, said
    for address in listener.addresses:
        for port in (MAIL_PORT, listener.port):
            said = attempt(c, f"timeout 5 bash -c 'exec 3<>/dev/tcp/{address}/{port}' && echo CONNECTED; "
                              f"echo x > /dev/udp/{address}/{port}")
            assert "CONNECTED" not in said
    if service in PYTHON:  # a directed broadcast reaches every host of a link, the host's too
        edges = [str(a) for n in listener.subnets for a in (n.broadcast_address, n.network_address)]
        attempt(c, f"python3 -c '{BROADCAST}' {listener.port} {' '.join(edges)}")
        if service in DIG:
            attempt(c, f"dig +time=1 +tries=1 -p {listener.port} @{address} example.com")
    if service in DIG:  # Docker's embedded DNS would ask the host's resolvers
        said = attempt(c, "dig +time=1 +tries=1 @127.0.0.11 example.com")
        assert "ANSWER SECTION" not in said and ("refused" in said or "timed out" in said), said
    listener.heard_nothing_from_the_lab()


def test_the_routes_were_set_from_outside(container, settings):
    """A customer's only way is its provider, every other machine has no default route."""
    for service in SERVICES:
        routes = container(service).output("ip", "-4", "route", "show", "default").strip()
        provider = next((p for p in config.PROVIDERS if p.customer == service), None)
        expected = (f"default via {settings.address(provider.service, provider.access_network)} dev eth0"
                    if provider else "")
        assert routes == expected, f"{service}: {routes!r}"


def test_mail_to_the_host_by_address_literal_is_refused_from_x_and_through_an_open_relay(
        lab, settings, client_x, outsider, listener: Listener):
    for address in listener.addresses:
        session = submit(client_x, X, settings.password(X), f"probe@[{address}]")
        assert session.reply("RCPT") == (
            f"554 5.7.1 <probe@[{address}]>: Recipient address rejected: "
            f"this lab delivers only inside itself: [{address}] is the Docker host")
        for disguised in (address.rpartition(".")[0] + ".001", address.rpartition(".")[0] + ".255",
                          address.rpartition(".")[0] + ".0", "010." + address.partition(".")[2]):
            session = submit(client_x, X, settings.password(X), f"probe@[{disguised}]")
            assert session.reply("RCPT") == (
                f"554 5.7.1 <probe@[{disguised}]>: Recipient address rejected: "
                "this lab delivers only inside itself: that address is not one of its machines"), disguised
    switches.open_relay(lab, True)
    try:
        for literal in ("[10.255.255.53]", f"[{listener.addresses[0]}]"):
            session = swaks(outsider, "--server", PROVIDER_A.mx, "--from", "spam@nowhere.example",
                            "--to", f"probe@{literal}")
            refused = f"554 5.7.1 <probe@{literal}>: Recipient address rejected:"
            assert session.reply("RCPT").startswith(refused), session.transcript
    finally:
        switches.open_relay(lab, False)
    listener.heard_nothing_from_the_lab()


@pytest.mark.disruptive
def test_a_provider_whose_root_lets_it_deliver_there_still_cannot(lab, settings, client_x, provider_a,
                                                                  listener: Listener):
    """Root in A removes the lab's own refusal of foreign address literals: Postfix then
    tries, and the packet filter, which root cannot change, stops every attempt."""
    address = listener.addresses[1]
    provider_a.run("postconf", "-e", "smtpd_relay_restrictions=permit_mynetworks, permit_sasl_authenticated, "
                   "reject_unauth_destination")
    provider_a.run("postfix", "reload")
    try:
        session = submit(client_x, X, settings.password(X), f"probe@[{address}]")
        assert session.data_reply.startswith("250 "), session.transcript
        queue_id = session.queue_id
        reason = wait_until(lambda: next((r.get("delay_reason", "") for m in provider_a.queue()
                                          if m["queue_id"] == queue_id for r in m["recipients"]
                                          if r.get("delay_reason")), ""),
                            "A's reason for not delivering to the Docker host")
        assert f"connect to {address}[{address}]:25: " in reason, reason
        listener.heard_nothing_from_the_lab()
    finally:
        provider_a.run("postsuper", "-d", "ALL")
        provider_a.run("configure", "--reload")
    assert provider_a.postconf("smtpd_relay_restrictions").startswith(
        "check_recipient_access regexp:/etc/postfix/lab-destinations")
