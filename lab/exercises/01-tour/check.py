"""Exercise 1, the tour: the learner looks around the running lab from X."""

import re
from collections.abc import Callable

from lab.checker import Evidence, Result, Step, failed, lab_is_up, passed
from lab.config import PROVIDER_A, PROVIDER_B
from lab.i18n import _

DOMAIN, MX = re.escape(PROVIDER_B.domain), re.escape(PROVIDER_B.mx)


def resolver_is_providers(ev: Evidence) -> Result:
    resolv = ev.run("client-x", "cat", "/etc/resolv.conf")
    resolver = ev.settings.address(PROVIDER_A.service, PROVIDER_A.access_network)
    named = re.findall(r"^nameserver\s+(\S+)", resolv, re.M)
    return passed(_("nameserver {address} (A's resolver)").format(address=resolver)) if named == [resolver] \
        else failed(_("client-x's /etc/resolv.conf should name only A's resolver, {address}:\n{file}").format(
            address=resolver, file=resolv))


def dns_names_b_mx(ev: Evidence) -> Result:
    """Ask the lab's DNS from X, as A does: MX of B's domain, then the MX host's address."""
    mx = ev.run("client-x", "dig", "+short", "MX", PROVIDER_B.domain).split()
    address = ev.run("client-x", "dig", "+short", PROVIDER_B.mx).strip()
    expected = ev.settings.address(PROVIDER_B.service)
    if mx[-1:] != [f"{PROVIDER_B.mx}."] or address != expected:
        return failed(_("MX {domain} -> {mx}, {host} -> {address} (expected {host}. and {expected})").format(
            domain=PROVIDER_B.domain, mx=" ".join(mx) or _("nothing"), host=PROVIDER_B.mx,
            address=address or _("nothing"), expected=expected))
    return passed(_("MX {domain} -> {mx} -> {address}").format(domain=PROVIDER_B.domain, mx=" ".join(mx),
                                                               address=address))


def typed(service: str, pattern: str, missing: str) -> Callable[[Evidence], Result]:
    """A step passed by a command typed in `service`; `missing` says what is not typed yet."""
    def test(ev: Evidence) -> Result:
        found = ev.typed(service, pattern)
        return passed(_("in {service} you typed: {command}").format(service=service, command=found[-1])) \
            if found else failed(missing)
    return test


STEPS = [
    Step(_("All six services run and are healthy"), lab_is_up,
         _("start the lab with `make up` (or `lab reset` if you changed something)")),
    Step(_("X's only name server is its provider's resolver"), resolver_is_providers,
         _("`lab reset` puts client-x's resolver back")),
    Step(_("The DNS names B's mail server and its address"), dns_names_b_mx,
         _("is the dns service running? `lab reset` starts it")),
    Step(_("From X you asked which server takes mail for provider-b.test"),
         typed("client-x", rf"\b(dig|host|nslookup)\b.*\bmx\s.*\b{DOMAIN}|\b(dig|host)\b.*\b{DOMAIN}\s+mx\b",
               _("no MX lookup of provider-b.test typed in client-x yet")),
         _("in client-x (`make shell SERVICE=client-x`) type: dig MX provider-b.test")),
    Step(_("From X you looked up the address of that mail server"),
         typed("client-x", rf"\b(dig|host|nslookup|getent)\b.*\b{MX}\b",
               _("no lookup of {host} typed in client-x yet").format(host=PROVIDER_B.mx)),
         _("in client-x type: dig {host}").format(host=PROVIDER_B.mx)),
    Step(_("From X you looked at the routes: where X's packets go"),
         typed("client-x", r"\bip\s+(-\S+\s+)*r(o|ou|out|oute)?\b", _("no `ip route` typed in client-x yet")),
         _("in client-x type: ip route")),
    Step(_("On the DNS server you read the zone file that gives these answers"),
         typed("dns", r"\b(cat|less|more|head|tail|grep|view|vim?|nano|awk|sed)\b.*\.zone\b",
               _("no reading of a zone file (cat, less, grep, ...) typed in dns yet")),
         _("in dns (`make shell SERVICE=dns`) type: cat /run/nsd/zones/provider-b.test.zone")),
]
