"""Step 1: the lab's DNS tells everyone where each provider's mail goes (MX), and nothing
else: no access-side name of a container, no name outside the lab (the names of addresses,
reverse DNS, are in test_19)."""

import ipaddress

import pytest

from lab import config

VANTAGE_POINTS = ["client-x", "provider-a", "client-y", "provider-b", "outsider"]


def dig(container, *args: str) -> str:
    return container.output("dig", "+time=2", "+tries=2", *args)


@pytest.mark.parametrize("service", VANTAGE_POINTS)
@pytest.mark.parametrize("provider", config.PROVIDERS, ids=lambda p: p.domain)
def test_mx_names_the_provider_on_the_internet(container, settings, service, provider):
    c = container(service)
    assert dig(c, "+short", "MX", provider.domain).split() == ["10", f"{provider.mx}."]
    assert dig(c, "+short", "A", provider.mx).split() == [settings.address(provider.service)]


@pytest.mark.parametrize("provider", config.PROVIDERS, ids=lambda p: p.domain)
def test_every_name_points_into_the_internet_network(container, settings, provider):
    internet = settings.subnets[config.INTERNET]
    for name in (provider.mx, provider.smtp, provider.pop):
        answers = dig(container("client-x"), "+short", "A", name).split()
        assert answers, f"{name} does not resolve"
        assert all(ipaddress.ip_address(a) in internet for a in answers), (name, answers)


@pytest.mark.parametrize("name", [
    "client-y", "provider-b", "client-y.provider-b.test", "access-b.provider-b.test",
    "client-x", "client-x.provider-a.test",
])
def test_access_side_names_do_not_leak(container, name):
    out = dig(container("client-x"), name)
    assert "status: NXDOMAIN" in out, out


@pytest.mark.parametrize("name", ["example.com", "gmail.com", "example.test"])
def test_nothing_outside_the_lab_resolves(container, name):
    out = dig(container("provider-a"), "MX", name)
    assert "status: NXDOMAIN" in out, out
