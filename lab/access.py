"""The story's dial-up: a customer is on its provider's access network only while
connected. `lab hangup x` takes client-x off access-a (it keeps running, with no
network but loopback); `lab dial x` puts it back, with its address and routes.
"""

from __future__ import annotations

from lab import i18n
from lab.compose import Lab, LabError, docker
from lab.config import PROVIDERS, Provider
from lab.i18n import _

CUSTOMERS = {p.customer.removeprefix("client-"): p for p in PROVIDERS}  # "x" -> provider A


def customer_provider(who: str) -> Provider:
    """The provider a customer ("x" or "y") dials in to."""
    try:
        return CUSTOMERS[who]
    except KeyError:
        raise LabError(_("no customer '{who}': choose {choices}").format(
            who=who, choices=i18n.join(list(CUSTOMERS), _(" or ")))) from None


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
    """Connect a customer; what happened, as a sentence for the learner."""
    provider = customer_provider(who)
    was_online = is_online(lab, who)
    connect(lab, provider.customer, provider.access_network)
    if was_online:
        return _("{who} was already connected to {network}.").format(who=who.upper(),
                                                                      network=provider.access_network)
    return _("{who} dialled in: {customer} is on {network} again ({address}) and can reach {smtp} and "
             "{pop}.").format(who=who.upper(), customer=provider.customer, network=provider.access_network,
                               address=lab.settings.address(provider.customer, provider.access_network),
                               smtp=provider.smtp, pop=provider.pop)


def hangup(lab: Lab, who: str) -> str:
    """Cut a customer off; what happened, as a sentence for the learner."""
    provider = customer_provider(who)
    if not is_online(lab, who):
        return _("{who} was already offline.").format(who=who.upper())
    disconnect(lab, provider.customer, provider.access_network)
    return _("{who} hung up: {customer} is off {network} and cannot reach anything. Mail for {who} waits at "
             "{service}. Reconnect: lab dial {name}").format(
        who=who.upper(), customer=provider.customer, network=provider.access_network,
        service=provider.service, name=who)
