"""A classroom: a second lab beside the first (its own project, subnets and ports from
LAB_ID) delivers its own mail, and neither lab can reach the other."""

from __future__ import annotations

import pytest

from lab import config
from lab.compose import Lab
from lab.config import X, Y
from tests.conftest import TEST_LAB_ID, TEST_PROJECT
from tests.harness import Container, Provider, submit_many, wait_until


@pytest.fixture(scope="module")
def second_lab(lab):
    other = Lab(config.load(lab_id=TEST_LAB_ID - 1, project=f"{TEST_PROJECT}-2"))
    other.down(volumes=True)
    try:
        other.up()
        yield other
    finally:
        other.down(volumes=True)


def test_two_labs_have_separate_networks_and_ports(lab, second_lab):
    one, two = lab.settings, second_lab.settings
    assert not any(a.overlaps(b) for a in one.subnets.values() for b in two.subnets.values())
    assert one.host_port(config.PROVIDER_A, 587) != two.host_port(config.PROVIDER_A, 587)


def test_each_lab_delivers_its_own_mail(lab, second_lab):
    sent = {}
    for each in (lab, second_lab):
        client = Container("client-x", each.container("client-x"))
        [(mid, code, _)] = submit_many(client, X, each.settings.password(X), Y, 1, each.project)
        assert code == 250
        sent[each.project] = mid
    for each, other in ((lab, second_lab), (second_lab, lab)):
        b = Provider("provider-b", each.container("provider-b"))
        wait_until(lambda b=b, each=each: b.messages_with(Y, sent[each.project]),
                   f"the mail in {each.project}")
        assert b.messages_with(Y, sent[other.project]) == []


@pytest.mark.parametrize("service", ["client-x", "outsider", "provider-a"])
def test_no_lab_reaches_the_other(lab, second_lab, service):
    for each, other in ((lab, second_lab), (second_lab, lab)):
        for target in ("provider-a", "provider-b", "dns"):
            address = other.settings.address(target)
            port = "53" if target == "dns" else "25"
            # Inside a lab a connection takes milliseconds: 2 s without one is no way through
            # (Docker drops packets between the labs' bridges, which would wait for minutes).
            probe = Container(service, each.container(service)).run(
                "timeout", "2", "bash", "-c", f"exec 3<>/dev/tcp/{address}/{port}", check=False)
            assert probe.returncode != 0, f"{each.project} {service} reached {other.project} {target}"
