"""The lab switches: settings of the providers' behaviour that a learner flips on a
running lab (`lab op25b on`, `lab greylist on`, ...), each with its default in .env,
which `lab reset` (the providers' `configure`) puts back. The provider side of each is
a script in images/provider/; `lab-switches` there reports them all at once.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lab import dnszones, netseal
from lab.compose import Lab, LabError
from lab.config import (
    DMARC_POLICIES,
    PROVIDER_A,
    PROVIDER_B,
    PROVIDERS,
    QUOTA_FULL_MODES,
    RETRY_PROFILES,
    Provider,
)

# The open-relay switch, for exercise 5 only: the classic mistake of trusting every
# network ("mynetworks = 0.0.0.0/0"), which lets anyone relay through A's port 25.
OPEN_RELAY_MYNETWORKS = "0.0.0.0/0"
TEMPLATES = "/etc/maillab/templates/postfix"  # the image's main.cf: the safe value


@dataclass(frozen=True)
class ProviderSwitches:
    """What one provider's switches are set to now."""

    service: str
    op25b: bool
    blocked: int  # connections the port 25 block has refused since the last reset
    greylist: bool
    greylist_delay: int
    open_relay: bool
    quota_full: str
    retry_profile: str  # a name of RETRY_PROFILES, or "custom"
    dkim_key: str  # good (the key the DNS publishes) or broken (`lab dkim break`)
    dmarc: str  # the policy its domain publishes: none, quarantine or reject


    def on(self) -> list[str]:
        """The switches that differ from a plain provider of the story, in words."""
        words = []
        if self.open_relay:
            words.append("OPEN RELAY")
        if self.op25b:
            words.append("port 25 blocked for customers")
        if self.greylist:
            words.append(f"greylisting ({self.greylist_delay} s)")
        words.append(f"DMARC p={self.dmarc}")
        if self.dkim_key != "good":
            words.append(f"DKIM key {self.dkim_key.upper()}")
        words.append(f"full mailbox: {self.quota_full}")
        words.append(f"retries: {self.retry_profile}")
        return words


def _parse(service: str, out: str) -> ProviderSwitches:
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    schedule = {k: values.get(k, "") for k in next(iter(RETRY_PROFILES.values()))}
    profile = next((name for name, p in RETRY_PROFILES.items() if p == schedule), "custom")
    return ProviderSwitches(
        service=service, op25b=values.get("op25b") == "on", blocked=int(values.get("blocked", "0") or 0),
        greylist=values.get("greylist") == "on", greylist_delay=int(values.get("delay", "0") or 0),
        open_relay=values.get("mynetworks") == OPEN_RELAY_MYNETWORKS,
        quota_full=values.get("quota_full", "?"), retry_profile=profile,
        dkim_key=values.get("dkim_key", "?"), dmarc=values.get("dmarc", "") or "?",
    )


def state(lab: Lab, providers: tuple[Provider, ...] = PROVIDERS) -> dict[str, ProviderSwitches]:
    """provider service -> its switches, read from the providers (both) at once: the
    daemons' from inside (lab-switches), the packet filter's from outside (lab/netseal.py)."""
    if not providers:
        return {}

    def read(p: Provider) -> str:
        filtered = netseal.filter_state(lab, p)
        return lab.run(p.service, "lab-switches") + "".join(f"{k}={v}\n" for k, v in filtered.items())

    with ThreadPoolExecutor(len(providers)) as pool:
        outs = pool.map(read, providers)
    return {p.service: _parse(p.service, out) for p, out in zip(providers, outs)}


def _on_both(lab: Lab, *command: str) -> None:
    with ThreadPoolExecutor(len(PROVIDERS)) as pool:
        list(pool.map(lambda p: lab.run(p.service, *command), PROVIDERS))


def postconf(lab: Lab, service: str, *settings: str) -> None:
    """Change a running provider's Postfix settings (images/provider/lab-postconf)."""
    lab.run(service, "lab-postconf", *settings)


def set_op25b(lab: Lab, on: bool) -> None:
    """Both providers block (on) or let through (off) their customers' port 25."""
    with ThreadPoolExecutor(len(PROVIDERS)) as pool:
        list(pool.map(lambda p: netseal.set_op25b(lab, p, on), PROVIDERS))


def set_greylist(lab: Lab, on: bool) -> None:
    """Both providers greylist (on) mail arriving on port 25, or stop (off)."""
    _on_both(lab, "greylist", "on" if on else "off")


def set_retry_profile(lab: Lab, service: str, profile: str) -> None:
    """Switch a running provider's Postfix to another retry schedule (RETRY_PROFILES)."""
    if profile not in RETRY_PROFILES:
        raise LabError(f"no retry profile {profile!r}; choose one of {', '.join(RETRY_PROFILES)}")
    postconf(lab, service, *(f"{k}={v}" for k, v in RETRY_PROFILES[profile].items()))


def open_relay(lab: Lab, on: bool, service: str = PROVIDER_A.service) -> str:
    """Make `service` an open relay (on), or put back the image's own mynetworks (off)."""
    if on:
        value = OPEN_RELAY_MYNETWORKS
    else:
        value = lab.run(service, "postconf", "-c", TEMPLATES, "-h", "mynetworks").strip()
    postconf(lab, service, f"mynetworks={value}")
    return value


def is_open_relay(lab: Lab, service: str = PROVIDER_A.service) -> bool:
    return lab.run(service, "postconf", "-h", "mynetworks").strip() == OPEN_RELAY_MYNETWORKS


def set_quota_full(lab: Lab, mode: str, service: str = PROVIDER_B.service) -> None:
    """What a full mailbox answers on a running provider: bounce, tempfail or discard."""
    if mode not in QUOTA_FULL_MODES:
        raise LabError(f"no mode {mode!r}; choose one of {', '.join(QUOTA_FULL_MODES)}")
    lab.run(service, "quota-full-mode", mode)


def set_dmarc(lab: Lab, policy: str) -> None:
    """Both domains publish DMARC policy `policy`: the zones are written again and the
    lab's DNS reloads them; returns once both providers read the new record."""
    if policy not in DMARC_POLICIES:
        raise LabError(f"no DMARC policy {policy!r}; choose one of {', '.join(DMARC_POLICIES)}")
    dnszones.write(lab.settings, policy)
    lab.run("dns", "load-zones", "--reload")
    lab.flush_resolvers()  # else they answer the old policy until its TTL runs out
    deadline = time.monotonic() + 10
    while any(s.dmarc != policy for s in state(lab).values()):
        if time.monotonic() > deadline:
            raise LabError(f"the lab's DNS still publishes another DMARC policy than {policy!r}")
        time.sleep(0.2)


def set_dkim_key(lab: Lab, key: str, service: str = PROVIDER_A.service) -> None:
    """Which key the provider signs with: good (published) or broken (not published)."""
    lab.run(service, "dkim-key", key)
