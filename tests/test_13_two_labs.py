"""A classroom: a second lab beside the first (its own project, subnets and ports from
LAB_ID) delivers its own mail, and neither lab can reach the other."""

from __future__ import annotations

import ipaddress
import json

import pytest

from lab import config
from lab.compose import Lab, docker
from lab.config import X, Y
from tests.conftest import PORTS_LAB
from tests.harness import Container, Provider, submit_many, wait_until

pytestmark = PORTS_LAB  # the second lab is the suite's lab with published ports

# What a TCP probe from bash can end with: connected, or one of the ways of not
# getting through. Anything else (a missing tool, a typo) is an error, not "unreachable".
PROBE = """
if timeout 2 bash -c 'exec 3<>/dev/tcp/$0/$1' "$1" "$2" 2>/tmp/probe.err; then echo connected
elif [ $? -eq 124 ]; then echo timeout
elif grep -q 'No route to host' /tmp/probe.err; then echo no-route
elif grep -q 'Network is unreachable' /tmp/probe.err; then echo unreachable
elif grep -q 'Connection refused' /tmp/probe.err; then echo refused
else cat /tmp/probe.err; exit 3
fi
"""
NOT_THROUGH = {"timeout", "no-route", "unreachable"}  # "refused" would mean: a host answered


def probe(lab: Lab, service: str, address: str, port: int) -> str:
    done = Container(service, lab.container(service)).run("bash", "-c", PROBE, "probe", address, str(port),
                                                          check=False)
    assert done.returncode == 0, f"the probe itself failed in {service}: {done.stdout!r} {done.stderr!r}"
    return done.stdout.decode().strip()


def live_subnets(lab: Lab) -> list[ipaddress.IPv4Network]:
    """The subnets of the Docker networks the lab's containers are attached to now."""
    networks = {n for cid in lab.containers().values()
                for n in json.loads(docker("inspect", cid))[0]["NetworkSettings"]["Networks"]}
    info = json.loads(docker("network", "inspect", *networks))
    return [ipaddress.IPv4Network(cfg["Subnet"]) for net in info for cfg in net["IPAM"]["Config"]]


def test_two_labs_have_separate_networks_and_ports(lab, ports_lab):
    one, two = live_subnets(lab), live_subnets(ports_lab)
    assert len(one) == len(two) == 3
    assert not any(a.overlaps(b) for a in one for b in two), (one, two)
    published = docker("port", ports_lab.container("provider-a"))
    assert f"127.0.0.1:{ports_lab.settings.host_port(config.PROVIDER_A, 587)}" in published
    assert docker("port", lab.container("provider-a")).strip() == ""  # the workers' labs publish none


def test_each_lab_delivers_its_own_mail(lab, ports_lab):
    sent = {}
    for each in (lab, ports_lab):
        client = Container("client-x", each.container("client-x"))
        [(mid, code, _)] = submit_many(client, X, each.settings.password(X), Y, 1, each.project)
        assert code == 250
        sent[each.project] = mid
    for each, other in ((lab, ports_lab), (ports_lab, lab)):
        b = Provider("provider-b", each.container("provider-b"))
        wait_until(lambda b=b, each=each: b.messages_with(Y, sent[each.project]),
                   f"the mail in {each.project}")
        assert b.messages_with(Y, sent[other.project]) == []
        b.delete_message(Y, sent[each.project])


@pytest.mark.parametrize("service", ["client-x", "outsider", "provider-a"])
def test_no_lab_reaches_the_other(lab, ports_lab, service):
    """The same probe that reaches the lab's own servers gets nowhere in the other lab."""
    for each, other in ((lab, ports_lab), (ports_lab, lab)):
        # 587, not 25: a customer's port 25 is blocked beyond its own provider (OP25B)
        for target, port in (("provider-a", 587), ("provider-b", 587), ("dns", 53)):
            own = probe(each, service, each.settings.address(target), port)
            assert own == "connected", f"{each.project} {service} -> its own {target}: {own}"
            theirs = probe(each, service, other.settings.address(target), port)
            assert theirs in NOT_THROUGH, f"{each.project} {service} -> {other.project} {target}: {theirs}"
