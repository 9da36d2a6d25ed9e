"""Probes of a running lab from a chosen vantage point: a client container, or the
Docker host itself through the ports published on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

from lab import relaycheck, tls
from lab.compose import Lab, LabError, docker_exec
from lab.config import PROVIDERS, Provider

HOST = "host"
VANTAGE_POINTS = ("outsider", "client-x", "client-y", HOST)
NOWHERE = "nowhere.example"  # a third-party domain that exists nowhere
RELAYCHECK_SOURCE = Path(relaycheck.__file__).read_bytes()


def relay_check(lab: Lab, vantage: str, provider: Provider, port: int = 25) -> list[relaycheck.Attempt]:
    """The relay battery against `provider`, from `vantage`; third parties are the other
    provider's domain and a domain that exists nowhere. Every attempt of one run says
    the same EHLO name of its own (Attempt.helo). On 587 and 465 each attempt starts
    TLS first, as the port demands."""
    other = next(p for p in PROVIDERS if p is not provider)
    names = [provider.mx, provider.domain]
    server_ip = lab.settings.address(provider.service)
    third_parties = [other.domain, NOWHERE]
    helo = relaycheck.new_helo()
    how = relaycheck.TLS_BY_PORT.get(port, "none")
    if vantage == HOST:
        if not lab.settings.publish_ports:
            raise LabError(f"lab {lab.project} publishes no host ports (PUBLISH_PORTS=off): "
                           "check from a container instead (--from outsider)")
        port = lab.settings.host_port(provider, port)
        return relaycheck.battery("127.0.0.1", port, names, server_ip, third_parties, helo, how,
                                  str(tls.CA_CERT))
    args = [provider.mx, str(port), ",".join(names), server_ip, *third_parties, "--json", f"--helo={helo}",
            f"--tls={how}"]
    done = docker_exec(lab.container(vantage), ["python3", "-", *args], input=RELAYCHECK_SOURCE)
    if done.returncode not in (0, 1):  # 1: something relayed, still a valid report
        raise LabError(f"relay check from {vantage} failed: {done.stderr.decode().strip()}")
    return [relaycheck.Attempt(**row) for row in json.loads(done.stdout)]

