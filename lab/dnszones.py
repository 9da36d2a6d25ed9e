"""The DNS of the lab's internet, written on the host from .env and the lab's DKIM keys:
one source for every name, address and sender-authentication record.

`write(settings, dmarc_policy)` renders the templates in lab/zones/ into
.lab/<project>/zones/, with zones.conf listing them for NSD; the dns container serves
that directory (compose.yaml) and `reload` makes a running NSD read it again (after
`lab dmarc`). DKIM keys are made per lab at the first start, like the lab CA: the
private halves stay under .lab/<project>/dkim/ and are mounted into their provider
only, never into git or an image.
"""

from __future__ import annotations

import base64
import ipaddress
import subprocess
import time
from pathlib import Path
from string import Template

from lab.config import DKIM_SELECTOR, INTERNET, PROVIDERS, Provider, Settings

TEMPLATES = Path(__file__).parent / "zones"
SELECTOR = DKIM_SELECTOR  # <selector>._domainkey.<domain> (lab/config.py)
# Where each domain asks for DMARC aggregate reports (rua=): its postmaster, which every
# domain must have (RFC 5321) and which reaches its first account (images/provider/configure).
DMARC_REPORTS = "postmaster@{domain}"
# The names of the internet network's addresses. The outsider has none: a stranger's
# machine, as many spam sources are.
INTERNET_NAMES = {**{p.service: f"{p.mx}." for p in PROVIDERS}, "dns": "ns.test."}


class ZoneTemplate(Template):
    """Only ${NAME} is filled in: $ORIGIN and $TTL are the zone file's own."""

    pattern = r"\$(?:(?P<escaped>(?!))|\{(?P<braced>[A-Z_]+)\}|(?P<named>(?!))|(?P<invalid>(?!)))"


def dkim_dir(settings: Settings, provider: Provider) -> Path:
    """The provider's keys: good.key (published) and broken.key (never published, for
    `lab dkim break`). Mounted into that provider alone."""
    return settings.state_dir / "dkim" / provider.service


def ensure_dkim_keys(settings: Settings) -> None:
    for provider in PROVIDERS:
        keys = dkim_dir(settings, provider)
        keys.mkdir(parents=True, exist_ok=True)
        for name in ("good.key", "broken.key"):
            if not (keys / name).exists():
                subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                                "-out", str(keys / name)], check=True, capture_output=True, umask=0o077)
            # The owner's alone (an older lab made them readable by all): the provider's
            # root copies the one in use for OpenDKIM alone (images/provider/senderauth/dkim-key).
            (keys / name).chmod(0o600)


def dkim_public_key(settings: Settings, provider: Provider) -> str:
    """The good key's public half, base64 DER, as DKIM's p= tag wants it."""
    der = subprocess.run(["openssl", "pkey", "-in", str(dkim_dir(settings, provider) / "good.key"),
                          "-pubout", "-outform", "DER"], check=True, capture_output=True).stdout
    return base64.b64encode(der).decode()


def _txt_strings(text: str, size: int = 250) -> str:
    return " ".join(f'"{text[i:i + size]}"' for i in range(0, len(text), size))


def dialup_name(address: ipaddress.IPv4Address, provider: Provider) -> str:
    return f"dialup-{str(address).replace('.', '-')}.{provider.domain}"


def _customers(settings: Settings, provider: Provider) -> list[ipaddress.IPv4Address]:
    """Every address of the provider's access network but its own (the gateway)."""
    subnet = settings.subnets[provider.access_network]
    gateway = settings.address(provider.service, provider.access_network)
    return [a for a in subnet.hosts() if str(a) != gateway and a != subnet.network_address + 1]


def _reverse_origin(subnet: ipaddress.IPv4Network) -> str:
    a, b, c, _ = str(subnet.network_address).split(".")
    return f"{c}.{b}.{a}.in-addr.arpa"


def zones(settings: Settings, dmarc_policy: str) -> dict[str, str]:
    """zone name -> zone text."""
    serial = str(int(time.time()))
    render = {name: ZoneTemplate((TEMPLATES / f"{name}.zone").read_text())
              for name in ("root", "provider", "reverse")}
    found: dict[str, str] = {}
    for p in PROVIDERS:
        ip = settings.address(p.service)
        dialup = [f"{dialup_name(a, p).removesuffix('.' + p.domain)}  A  {a}"
                  for a in _customers(settings, p)]
        found[p.domain] = render["provider"].substitute(
            DOMAIN=p.domain, MX=p.mx.removesuffix(f".{p.domain}"), IP=ip, SERIAL=serial, SELECTOR=SELECTOR,
            DMARC_POLICY=dmarc_policy,
            DMARC_REPORTS=DMARC_REPORTS.format(domain=p.domain),
            DKIM_STRINGS=_txt_strings(f"v=DKIM1; k=rsa; p={dkim_public_key(settings, p)}"),
            DIALUP_RECORDS="\n".join(dialup))
    networks = {INTERNET: {settings.address(s): name for s, name in INTERNET_NAMES.items()}}
    for p in PROVIDERS:
        networks[p.access_network] = {str(a): dialup_name(a, p) + "." for a in _customers(settings, p)}
    reverse = []
    for network, names in networks.items():
        subnet = settings.subnets[network]
        origin = _reverse_origin(subnet)
        ptrs = [f"{address.rsplit('.', 1)[1]}  PTR  {name}" for address, name in names.items()]
        found[origin] = render["reverse"].substitute(
            NETWORK=network, SUBNET=subnet, ORIGIN=origin, SERIAL=serial, PTR_RECORDS="\n".join(ptrs))
        reverse.append(f"{origin}. NS ns.test.")
    found["."] = render["root"].substitute(SERIAL=serial, DNS_IP=settings.address("dns"),
                                           REVERSE_DELEGATIONS="\n".join(reverse))
    return found


def zone_file(name: str) -> str:
    return "root.zone" if name == "." else f"{name}.zone"


def write(settings: Settings, dmarc_policy: str) -> Path:
    """Render every zone into .lab/<project>/zones/ (what the dns container serves)."""
    ensure_dkim_keys(settings)
    target = settings.state_dir / "zones"
    target.mkdir(parents=True, exist_ok=True)
    rendered = zones(settings, dmarc_policy)
    for name, text in rendered.items():
        (target / zone_file(name)).write_text(text)
    (target / "zones.conf").write_text("".join(
        f'zone:\n    name: "{name}"\n    zonefile: {zone_file(name)}\n' for name in rendered))
    return target

