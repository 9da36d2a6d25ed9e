"""Exercise 1, the tour: the learner looks around the running lab from X."""

import re
from collections.abc import Callable

from lab.checker import Evidence, Result, Step, failed, lab_is_up, passed
from lab.config import PROVIDER_A, PROVIDER_B

DOMAIN, MX = re.escape(PROVIDER_B.domain), re.escape(PROVIDER_B.mx)


def resolver_is_providers(ev: Evidence) -> Result:
    resolv = ev.run("client-x", "cat", "/etc/resolv.conf")
    resolver = ev.settings.address(PROVIDER_A.service, PROVIDER_A.access_network)
    named = re.findall(r"^nameserver\s+(\S+)", resolv, re.M)
    return passed(f"nameserver {resolver} (A's resolver)") if named == [resolver] else failed(
        f"client-x's /etc/resolv.conf should name only A's resolver, {resolver}:\n{resolv}")


def dns_names_b_mx(ev: Evidence) -> Result:
    """Ask the lab's DNS from X, as A does: MX of B's domain, then the MX host's address."""
    mx = ev.run("client-x", "dig", "+short", "MX", PROVIDER_B.domain).split()
    address = ev.run("client-x", "dig", "+short", PROVIDER_B.mx).strip()
    expected = ev.settings.address(PROVIDER_B.service)
    if mx[-1:] != [f"{PROVIDER_B.mx}."] or address != expected:
        return failed(f"MX {PROVIDER_B.domain} -> {' '.join(mx) or 'nothing'}, {PROVIDER_B.mx} -> "
                      f"{address or 'nothing'} (expected {PROVIDER_B.mx}. and {expected})")
    return passed(f"MX {PROVIDER_B.domain} -> {' '.join(mx)} -> {address}")


def typed(service: str, pattern: str, what: str) -> Callable[[Evidence], Result]:
    def test(ev: Evidence) -> Result:
        found = ev.typed(service, pattern)
        return passed(f"in {service}: {found[-1]}") if found else failed(f"no {what} typed in {service} yet")
    return test


STEPS = [
    Step("All six services run and are healthy", lab_is_up,
         "start the lab with `make up` (or `lab reset` if you changed something)"),
    Step("X's only name server is its provider's resolver", resolver_is_providers,
         "`lab reset` puts client-x's resolver back"),
    Step("The DNS names B's mail server and its address", dns_names_b_mx,
         "is the dns service running? `lab reset` starts it"),
    Step("From X you asked which server takes mail for provider-b.test",
         typed("client-x", rf"\b(dig|host|nslookup)\b.*\bmx\s.*\b{DOMAIN}|\b(dig|host)\b.*\b{DOMAIN}\s+mx\b",
               "MX lookup of provider-b.test"),
         "in client-x (`make shell SERVICE=client-x`) type: dig MX provider-b.test"),
    Step("From X you looked up the address of that mail server",
         typed("client-x", rf"\b(dig|host|nslookup|getent)\b.*\b{MX}\b", f"lookup of {PROVIDER_B.mx}"),
         f"in client-x type: dig {PROVIDER_B.mx}"),
    Step("From X you looked at the routes: where X's packets go",
         typed("client-x", r"\bip\s+(-\S+\s+)*r(o|ou|out|oute)?\b", "`ip route`"),
         "in client-x type: ip route"),
    Step("On the DNS server you read the zone file that gives these answers",
         typed("dns", r"\b(cat|less|more|head|tail|grep|view|vim?|nano|awk|sed)\b.*\.zone\b",
               "reading of a zone file (cat, less, grep, ...)"),
         "in dns (`make shell SERVICE=dns`) type: cat /run/nsd/zones/provider-b.test.zone"),
]
