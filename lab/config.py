"""The lab's facts in one place: its fixed topology, and the user's settings from `.env`.

The names here are the lab's public interface (README, DESIGN.md): services, networks,
domains, accounts. Everything a user may change (passwords, subnets, host ports, quota,
retry schedule) comes from `.env`, overridable from the environment (`LAB_ID=3 make up`).
lab/composeenv.py turns both into the variables that compose.yaml reads, so no
address, port or timing is written twice.

Standard library only: `make up` runs this before any virtualenv exists.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.i18n import _
from lab.provider_settings import (  # noqa: F401 (RETRY_PROFILES, ...: the names the lab imports from here)
    BY_NAME,
    DMARC_POLICIES,
    QUOTA_FULL_MODES,
    RETRY_PROFILES,
    TABLE,
    size_in_bytes,
)

REPO = Path(__file__).resolve().parent.parent
ENV_FILE = REPO / ".env"
STATE_DIR = REPO / ".lab"  # generated: per-project env files, the lab CA (git-ignored)
TLS_DIR = STATE_DIR / "tls"  # the lab CA and the providers' certificates (lab/tls.py)
# The admin's own settings of each provider, kept with the repository, never generated:
# overrides/<provider>/postfix-main.cf and dovecot.conf (lab/overrides.py); a lab
# beside it (LAB_ID=N, a class's) has its own, in overrides/<project>/<provider>/.
OVERRIDES_DIR = REPO / "overrides"
CLASS_FILE = STATE_DIR / "class.json"  # the class on this machine, if any (lab/classroom.py)
SUBMIT_SCRIPT = REPO / "lab" / "scripts" / "submit.py"  # runs inside client containers
MAIL_ROOT = "/var/mail"  # in a provider: Dovecot's homes, <domain>/<local> (dovecot.conf userdb)
SHELL_HISTORY = "/root/.bash_history"  # in every container: written as typed (images/common/bashrc)

PROJECT = "maillab"
BASE_IMAGE = "debian:bookworm-slim"  # built from Debian's packages when no registry has it
# The lab's images, built here and never pulled (maillab.test cannot exist);
# MAILLAB_IMAGE_TAG lets a second checkout build its own beside them.
IMAGE_TAG = os.environ.get("MAILLAB_IMAGE_TAG", "latest")
IMAGES = {name: f"maillab.test/{name}:{IMAGE_TAG}" for name in ("provider", "client", "dns")}
PORT_SPAN = 1995  # a lab's host ports run from HOST_PORT_BASE+25 to HOST_PORT_BASE+1000+995
LAB_ID_PORT_STRIDE = 2000  # LAB_ID=N moves a lab's host ports by 2000*N
WEB_PORT_OFFSET = 80  # `lab web` serves at 127.0.0.1:HOST_PORT_BASE+80 (10080 for LAB_ID 0)
# ... and at +88 as well: Chrome (and Chromium) refuse port 10080 (ERR_UNSAFE_PORT, on
# their list of ports once abused), so a browser is pointed at 10088.
BROWSER_PORT_OFFSET = 88


class SettingError(ValueError):
    """A value in .env (or the environment) that the lab cannot use."""

    def __init__(self, setting: str, value: str, problem: str) -> None:
        super().__init__(_("{setting}={value}: {problem}").format(setting=setting, value=repr(value),
                                                                   problem=problem))
        self.setting = setting


# --- fixed topology ------------------------------------------------------------------

INTERNET = "internet"


@dataclass(frozen=True)
class Account:
    local: str
    domain: str
    password_setting: str  # the .env variable holding its password

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain}"


@dataclass(frozen=True)
class Provider:
    service: str  # compose service, e.g. provider-a
    letter: str  # "a" or "b"
    domain: str
    access_network: str  # the network of its customers
    customer: str  # the client service dialled in to it
    accounts: tuple[Account, ...]
    host_port_offset: int  # added to HOST_PORT_BASE
    # An internationalized address (RFC 6531) for the first account: its name in
    # katakana, which only a client that says SMTPUTF8 may send to (exercise 15).
    utf8_alias: str = ""

    @property
    def utf8_address(self) -> str:
        return f"{self.utf8_alias}@{self.domain}"

    @property
    def mx(self) -> str:
        return f"mx.{self.domain}"

    @property
    def smtp(self) -> str:
        return f"smtp.{self.domain}"

    @property
    def pop(self) -> str:
        return f"pop.{self.domain}"

    @property
    def imap(self) -> str:
        return f"imap.{self.domain}"


def _accounts(domain: str, *locals_: str) -> tuple[Account, ...]:
    return tuple(Account(lp, domain, f"{lp.upper()}_PASSWORD") for lp in locals_)


PROVIDER_A = Provider(
    "provider-a", "a", "provider-a.test", "access-a", "client-x",
    _accounts("provider-a.test", "x", "x2"), 0, "エックス",
)
PROVIDER_B = Provider(
    "provider-b", "b", "provider-b.test", "access-b", "client-y",
    _accounts("provider-b.test", "y", "y2"), 1000, "ワイ",
)
PROVIDERS = (PROVIDER_A, PROVIDER_B)
ACCOUNTS = {acc.address: acc for p in PROVIDERS for acc in p.accounts}
# The story's people: X and a colleague at A, Y and a colleague at B.
X, X2 = (acc.address for acc in PROVIDER_A.accounts)
Y, Y2 = (acc.address for acc in PROVIDER_B.accounts)

def provider_of(address: str) -> Provider | None:
    """The provider of an address (or a bare domain); None for a domain outside the lab."""
    domain = address.rpartition("@")[2]
    return next((p for p in PROVIDERS if p.domain == domain), None)


def maildir(address: str) -> str:
    """An account's Maildir inside its provider's container."""
    local, domain = address.split("@")
    return f"{MAIL_ROOT}/{domain}/{local}/Maildir"


# Host number of each service on each network it joins (the last byte of its address).
# The Docker host itself is .1 of every network (compose.yaml pins it as the gateway):
# never a destination of the lab (lab/netseal.py), only the source of published ports.
DOCKER_HOST_NUMBER = 1
HOST_NUMBERS: dict[str, dict[str, int]] = {
    INTERNET: {"provider-a": 10, "provider-b": 20, "dns": 53, "outsider": 66},
    "access-a": {"provider-a": 10, "client-x": 100},
    "access-b": {"provider-b": 20, "client-y": 100},
}
SERVICES = ("dns", "provider-a", "provider-b", "client-x", "client-y", "outsider")
# A provider's milters, each on its own port of the provider's loopback (main.cf and
# each milter's configuration are written with these: images/provider/senderauth/).
MILTER_PORTS = {"sign": 8891, "verify": 8892, "dmarc": 8893}  # OpenDKIM, dkimpy-milter, OpenDMARC
DKIM_SELECTOR = "maillab"  # <selector>._domainkey.<domain>: what A and B sign with
# Each provider's ports published on 127.0.0.1, with what a desktop mail client calls them.
PUBLISHED_PORTS = {25: "SMTP", 587: "submission", 465: "submissions", 110: "POP3", 995: "POP3S",
                   143: "IMAP", 993: "IMAPS"}

# The providers' settings (switches, limits, retries) are one table of their own: each
# with its .env key, default and values (lab/provider_settings.py).
def seconds(duration: str) -> int:
    """A Postfix time value ("5s", "10m", "1d") in seconds."""
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[duration[-1]]


SUBNET_SETTINGS = {
    INTERNET: "INTERNET_SUBNET",
    "access-a": "ACCESS_A_SUBNET",
    "access-b": "ACCESS_B_SUBNET",
}
PASSWORD_RE = re.compile(r"[A-Za-z0-9_.!@#%+=~^-]{4,64}")


# --- the user's settings ----------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    lab_id: int
    project: str
    passwords: dict[str, str]  # setting name -> password
    subnets: dict[str, ipaddress.IPv4Network]  # network -> subnet, LAB_ID applied
    host_port_base: int  # LAB_ID applied
    publish_ports: bool  # host ports for desktop clients (compose.ports.yaml)
    # The providers' settings, by their name in lab/provider_settings.py's table, as
    # .env writes them ("on", "10", "10M"); settings.NAME gives each as the code uses it
    # (on/off a bool, a number an int): settings.op25b, settings.retry_profile ...
    provider: dict[str, str]

    def __getattr__(self, name: str) -> Any:
        if name in BY_NAME and "provider" in self.__dict__:
            return BY_NAME[name].typed(self.provider[name])
        raise AttributeError(name)

    @property
    def max_message_bytes(self) -> int:
        return size_in_bytes(self.provider["max_message_size"])

    def address(self, service: str, network: str = INTERNET) -> str:
        return str(self.subnets[network].network_address + HOST_NUMBERS[network][service])

    def host_address(self, network: str) -> str:
        """The Docker host's own address on a lab network (its gateway)."""
        return str(self.subnets[network].network_address + DOCKER_HOST_NUMBER)

    def service_at(self, address: str) -> str:
        """The service that has this address on some lab network ("" if none)."""
        for network, hosts in HOST_NUMBERS.items():
            for service in hosts:
                if self.address(service, network) == address:
                    return service
        return ""

    def host_port(self, provider: Provider, port: int) -> int:
        return self.host_port_base + provider.host_port_offset + port

    @property
    def web_port(self) -> int:
        """Where `lab web` listens on 127.0.0.1 (whether or not the mail ports are published)."""
        return self.host_port_base + WEB_PORT_OFFSET

    @property
    def browser_port(self) -> int:
        """The web view's second port, the one to open in a browser (see BROWSER_PORT_OFFSET)."""
        return self.host_port_base + BROWSER_PORT_OFFSET

    def password(self, address: str) -> str:
        return self.passwords[ACCOUNTS[address].password_setting]

    @property
    def env_file(self) -> Path:
        return STATE_DIR / f"{self.project}.env"

    @property
    def overrides_dir(self) -> Path:
        """Where this lab's providers' settings of the admin's own are (lab/overrides.py)."""
        return OVERRIDES_DIR if self.project == PROJECT else OVERRIDES_DIR / self.project

    @property
    def state_dir(self) -> Path:
        """This lab's own files on the host: journal, progress, traces, resolv.conf."""
        return STATE_DIR / self.project


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise SettingError(_("{file} line {number}").format(file=path.name, number=number), line,
                               _("expected NAME=value"))
        values[key.strip()] = value.strip().strip("'\"")
    return values


def _int_setting(values: dict[str, str], name: str, low: int, high: int) -> int:
    raw = values.get(name, "")
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise SettingError(name, raw, _("must be a whole number from {low} to {high}").format(
            low=low, high=high))
    return int(raw)


def _on_off(values: dict[str, str], name: str, default: str) -> bool:
    raw = values.get(name, default)
    if raw not in ("on", "off"):
        raise SettingError(name, raw, _("must be on or off"))
    return raw == "on"


def _subnet(values: dict[str, str], name: str, lab_id: int) -> ipaddress.IPv4Network:
    raw = values.get(name, "")
    try:
        net = ipaddress.IPv4Network(raw)
    except ValueError:
        raise SettingError(name, raw, _("must be an IPv4 network such as 10.80.0.0/24")) from None
    if net.prefixlen != 24:
        raise SettingError(name, raw, _("must be a /24 network (256 addresses)"))
    if not net.is_private:
        raise SettingError(name, raw, _("must lie in a private range (10/8, 172.16/12, 192.168/16)"))
    if lab_id:
        octets = str(net.network_address).split(".")
        shifted = int(octets[1]) + lab_id
        moved = f"{octets[0]}.{shifted}.{octets[2]}.0/24"
        if octets[0] != "10":
            raise SettingError(name, raw, _("LAB_ID={lab_id} moves it out of 10.0.0.0/8 (to {moved}); "
                                            "side-by-side labs need subnets in 10.0.0.0/8").format(
                lab_id=lab_id, moved=moved))
        if shifted > 255:
            raise SettingError("LAB_ID", str(lab_id),
                               _("moves {name}={raw} out of 10.0.0.0/8: with these subnets LAB_ID can "
                                 "be at most {highest}").format(
                                   name=name, raw=raw, highest=255 - int(octets[1])))
        net = ipaddress.IPv4Network(moved)
    return net


def class_labs() -> range:
    """The LAB_IDs of the class on this machine (empty: no class)."""
    if not CLASS_FILE.exists():
        return range(0)
    recorded = json.loads(CLASS_FILE.read_text())
    return range(recorded["first"], recorded["first"] + recorded["labs"])


def load(
    lab_id: int | None = None,
    project: str | None = None,
    env_file: Path = ENV_FILE,
    environ: dict[str, str] | None = None,
    in_class: bool | None = None,
) -> Settings:
    """Read .env, let the environment override it, check every value. A lab of the
    class on this machine (by default: whether CLASS_FILE names its LAB_ID) publishes
    no host port, whatever PUBLISH_PORTS says."""
    values = read_env_file(env_file) if env_file.exists() else {}
    environ = dict(os.environ) if environ is None else environ
    known = {*values, "LAB_ID", *(setting.env for setting in TABLE if setting.env)}
    values.update({k: v for k, v in environ.items() if k in known})

    if lab_id is None:
        lab_id = _int_setting({"LAB_ID": values.get("LAB_ID", "0")}, "LAB_ID", 0, 255)
    project = project or (PROJECT if lab_id == 0 else f"{PROJECT}-{lab_id}")

    passwords = {}
    for acc in ACCOUNTS.values():
        pw = values.get(acc.password_setting, "")
        if not PASSWORD_RE.fullmatch(pw):
            raise SettingError(
                acc.password_setting, pw,
                _("must be 4 to 64 of the characters A-Z a-z 0-9 _ . ! @ # % + = ~ ^ -"),
            )
        passwords[acc.password_setting] = pw

    subnets = {net: _subnet(values, name, lab_id) for net, name in SUBNET_SETTINGS.items()}
    names = list(SUBNET_SETTINGS.items())
    for i, (net, name) in enumerate(names):
        for other_net, other_name in names[i + 1:]:
            if subnets[net].overlaps(subnets[other_net]):
                raise SettingError(other_name, str(subnets[other_net]),
                                   _("overlaps {name}={subnet}; each network needs its own /24").format(
                                       name=name, subnet=subnets[net]))

    base = _int_setting(values, "HOST_PORT_BASE", 1024, 65535 - PORT_SPAN)
    publish_ports = _on_off(values, "PUBLISH_PORTS", "on")
    if in_class or (in_class is None and lab_id in class_labs()):
        publish_ports = False
    last_port = base + LAB_ID_PORT_STRIDE * lab_id + PORT_SPAN
    if publish_ports and last_port > 65535:
        highest = (65535 - PORT_SPAN - base) // LAB_ID_PORT_STRIDE
        raise SettingError("LAB_ID", str(lab_id),
                           _("needs host ports up to {last_port}, past 65535: with PUBLISH_PORTS=on and "
                             "HOST_PORT_BASE={base}, LAB_ID can be at most {highest} "
                             "(PUBLISH_PORTS=off lifts that limit)").format(
                               last_port=last_port, base=base, highest=highest))

    provider = {}
    for setting in TABLE:
        if setting.env:
            raw = values.get(setting.env, setting.default)
            if problem := setting.check(raw):
                raise SettingError(setting.env, raw, problem)
        else:  # a switch of the running lab only: at its default at every start
            raw = setting.default
        provider[setting.name] = raw

    return Settings(
        lab_id=lab_id,
        project=project,
        passwords=passwords,
        subnets=subnets,
        host_port_base=base + LAB_ID_PORT_STRIDE * lab_id,
        publish_ports=publish_ports,
        provider=provider,
    )
