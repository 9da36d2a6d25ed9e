"""Step 1: the lab's DNS tells everyone where each provider's mail goes (MX), and nothing
else: no access-side name of a container, no name outside the lab (the names of addresses,
reverse DNS, are in test_19). Providers and their customers ask through the provider's
caching resolver, which keeps each answer for its TTL."""

import ipaddress
import re

import pytest

from lab import config
from tests.harness import wait_until

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


def answer_ttl(out: str, name: str, rtype: str) -> int:
    match = re.search(rf"^{re.escape(name)}\.\s+(\d+)\s+IN\s+{rtype}\s", out, re.M)
    assert match, out
    return int(match.group(1))


@pytest.mark.parametrize("customer", ["client-x", "client-y"])
def test_customers_ask_their_providers_caching_resolver(container, settings, customer):
    """As at home: the customer's resolver is its provider's, recursion is available (no
    warning), and a second answer comes from the cache, its TTL counting down."""
    provider = next(p for p in config.PROVIDERS if p.customer == customer)
    c = container(customer)
    first = dig(c, "MX", provider.domain)
    resolver = settings.address(provider.service, provider.access_network)
    assert f";; SERVER: {resolver}#53" in first and " ra" in first.split("flags:")[1].split(";")[0], first
    assert "recursion requested but not available" not in first
    ttl = answer_ttl(first, provider.domain, "MX")
    assert ttl <= 300
    wait_until(lambda: answer_ttl(dig(c, "MX", provider.domain), provider.domain, "MX") < ttl,
               "a cached answer with its TTL counted down", interval=0.5)


@pytest.mark.disruptive
def test_while_the_dns_is_down_the_cache_answers_until_flushed(lab, container):
    """The difference between "the DNS is down" and "the cache has not expired yet"."""
    a, x = container(config.PROVIDER_A.service), container("client-x")
    domain = config.PROVIDER_B.domain
    assert dig(x, "+short", "MX", domain).split() == ["10", f"{config.PROVIDER_B.mx}."]  # now cached at A
    lab.stop("dns")
    try:
        assert dig(x, "+short", "MX", domain).split() == ["10", f"{config.PROVIDER_B.mx}."]
        a.run("resolver", "flush")  # as if the TTL had run out
        done = x.run("dig", "+time=3", "+tries=1", "MX", domain, check=False)
        out = done.stdout.decode()
        assert "status: SERVFAIL" in out or "no servers could be reached" in out, out  # nobody knows now
    finally:
        lab.start("dns")
        lab.wait_healthy(timeout=60)
        lab.flush_resolvers()
    assert dig(x, "+short", "MX", domain).split() == ["10", f"{config.PROVIDER_B.mx}."]
