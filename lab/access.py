"""The story's dial-up: a customer is on its provider's access network only while
connected. `lab hangup x` takes client-x off access-a (it keeps running, with no
network but loopback); `lab dial x` puts it back, with its address and routes.
"""

from __future__ import annotations

from lab.compose import Lab, LabError, docker
from lab.config import PROVIDERS, Provider

CUSTOMERS = {p.customer.removeprefix("client-"): p for p in PROVIDERS}  # "x" -> provider A


def customer_provider(who: str) -> Provider:
    """The provider a customer ("x" or "y") dials in to."""
    try:
        return CUSTOMERS[who]
    except KeyError:
        raise LabError(f"no customer {who!r}: choose {' or '.join(CUSTOMERS)}") from None


def network_name(lab: Lab, network: str) -> str:
    return f"{lab.project}_{network}"


def attached_networks(lab: Lab, service: str) -> list[str]:
    """The lab networks a service's container is on now (without the project prefix)."""
    found = lab.networks()
    if service not in found:
        lab.container(service)  # says that the service is not running, and what to do
    return found[service]


def is_online(lab: Lab, who: str) -> bool:
    provider = customer_provider(who)
    return provider.access_network in attached_networks(lab, provider.customer)


def connect(lab: Lab, service: str, network: str) -> None:
    """Attach a service to a lab network at its own address, and restore its routes."""
    if network not in attached_networks(lab, service):
        docker("network", "connect", "--ip", lab.settings.address(service, network),
               network_name(lab, network), lab.container(service))
    lab.seal([service])  # the routes left with the link (the filter stays: lab/netseal.py)


def disconnect(lab: Lab, service: str, network: str) -> None:
    if network in attached_networks(lab, service):
        docker("network", "disconnect", network_name(lab, network), lab.container(service))


def dial(lab: Lab, who: str) -> str:
    provider = customer_provider(who)
    was_online = is_online(lab, who)
    connect(lab, provider.customer, provider.access_network)
    if was_online:
        return f"{who.upper()} was already connected to {provider.access_network}."
    return (f"{who.upper()} dialled in: {provider.customer} is on {provider.access_network} again "
            f"({lab.settings.address(provider.customer, provider.access_network)}) and can reach "
            f"{provider.smtp} and {provider.pop}.")


def hangup(lab: Lab, who: str) -> str:
    provider = customer_provider(who)
    if not is_online(lab, who):
        return f"{who.upper()} was already offline."
    disconnect(lab, provider.customer, provider.access_network)
    return (f"{who.upper()} hung up: {provider.customer} is off {provider.access_network} and cannot "
            f"reach anything. Mail for {who.upper()} waits at {provider.service}. "
            f"Reconnect: lab dial {who}")
