"""The sealed lab: each container's network is set from outside it, at every start.

No lab container holds NET_ADMIN or NET_RAW (compose.yaml), so nothing in one, root
included, can change its routes or its packet filter. What needs them runs here, in a
throwaway container of the provider image that shares the target's network namespace
and alone holds NET_ADMIN (`docker run --network container:ID`): its programs come from
the image, never from the target's own files, which a learner may have changed.

- `seal`: the packet filter (the lab's subnets are the only destinations; never the
  Docker host, nor Docker's embedded DNS) and the routes of the lab's internet
  (images/common/lab-seal). A container waits until sealed (images/common/lab-sealed).
- the providers' switches that live in the packet filter: the port 25 block
  (images/provider/op25b) and the limit of readers per address (reader-limit).

Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from lab.config import IMAGES, INTERNET, PROVIDERS, PUBLISHED_PORTS, SUBNET_SETTINGS, Provider
from lab.docker import docker

if TYPE_CHECKING:
    from lab.compose import Lab

CUSTOMERS = {p.customer: p for p in PROVIDERS}  # client-x -> provider A


def seal_env(lab: Lab, service: str) -> dict[str, str]:
    """What images/common/lab-seal needs to seal `service` (its header says what each is)."""
    s = lab.settings
    env = {
        "LAB_SUBNETS": " ".join(str(s.subnets[n]) for n in SUBNET_SETTINGS),
        "LAB_HOSTS": " ".join(s.host_address(n) for n in SUBNET_SETTINGS),
        "LAB_EDGES": " ".join(str(a) for n in SUBNET_SETTINGS
                              for a in (s.subnets[n].network_address, s.subnets[n].broadcast_address)),
        "LAB_OPEN_PORTS": "",
        "LAB_FORWARD": "no",
        "LAB_GATEWAY": "",
        "LAB_ROUTES": "",
    }
    if service in CUSTOMERS:  # all it reaches, it reaches through its provider
        provider = CUSTOMERS[service]
        env["LAB_GATEWAY"] = s.address(provider.service, provider.access_network)
        return env
    # on the internet: each access network lies behind its provider (one of them is
    # a provider's own, and on its link)
    env["LAB_ROUTES"] = " ".join(f"{s.subnets[p.access_network]}={s.address(p.service, INTERNET)}"
                                 for p in PROVIDERS if p.service != service)
    if any(p.service == service for p in PROVIDERS):
        env["LAB_FORWARD"] = "yes"
        if s.publish_ports:
            env["LAB_OPEN_PORTS"] = " ".join(str(port) for port in PUBLISHED_PORTS)
    return env


def netadmin(lab: Lab, service: str, *command: str, env: dict[str, str] | None = None) -> str:
    """Run one of the provider image's network tools inside `service`'s network, with
    NET_ADMIN for that one command; its output."""
    env = env or {}
    return docker(
        "run", "--rm", "--network", f"container:{lab.container(service)}",
        "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--security-opt", "no-new-privileges:true",
        "--log-driver", "none", *(arg for k, v in env.items() for arg in ("-e", f"{k}={v}")),
        "--entrypoint", command[0], IMAGES["provider"], *command[1:])


# A provider sealed for the first time since it started (its table of switches is not
# there yet) gets its port 25 block as .env says and its readers' limit; sealed again,
# it keeps whatever `lab op25b` set since.
FIRST_SWITCHES = ('lab-seal && if ! nft list table ip maillab >/dev/null 2>&1; '
                  'then op25b "$LAB_OP25B" && reader-limit; fi')


def seal(lab: Lab, services: Iterable[str]) -> None:
    """Seal these services' containers (running ones), all at once: one throwaway
    container each."""
    def one(service: str) -> None:
        provider = next((p for p in PROVIDERS if p.service == service), None)
        if provider is None:
            netadmin(lab, service, "lab-seal", env=seal_env(lab, service))
            return
        netadmin(lab, service, "sh", "-c", FIRST_SWITCHES, env={
            **seal_env(lab, service), **filter_env(lab, provider),
            "LAB_OP25B": "on" if lab.settings.op25b else "off"})

    services = list(services)
    with ThreadPoolExecutor(max(1, len(services))) as pool:
        list(pool.map(one, services))


def set_op25b(lab: Lab, provider: Provider, on: bool) -> None:
    netadmin(lab, provider.service, "op25b", "on" if on else "off", env=filter_env(lab, provider))


def reset_op25b(lab: Lab, provider: Provider) -> None:
    """The block as .env says, and its count of refusals back to 0 (`lab reset`)."""
    set_op25b(lab, provider, lab.settings.op25b)
    netadmin(lab, provider.service, "op25b", "reset-count", env=filter_env(lab, provider))


def filter_state(lab: Lab, provider: Provider) -> dict[str, str]:
    """The switches the provider's packet filter holds: op25b, blocked, refused (readers)."""
    out = netadmin(lab, provider.service, "sh", "-c", "op25b status; reader-limit status",
                   env=filter_env(lab, provider))
    return dict(pair.split("=", 1) for pair in out.split() if "=" in pair)


def filter_env(lab: Lab, provider: Provider) -> dict[str, str]:
    """What the provider's filter scripts need (op25b: its customers' network)."""
    return {"LAB_ACCESS_SUBNET": str(lab.settings.subnets[provider.access_network])}
