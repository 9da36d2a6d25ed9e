"""Probes of a running lab from a chosen vantage point: a client container, or the
Docker host itself through the ports published on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

from lab import relaycheck
from lab.compose import Lab, LabError, docker_exec
from lab.config import PROVIDERS, Provider

HOST = "host"
VANTAGE_POINTS = ("outsider", "client-x", "client-y", HOST)
NOWHERE = "nowhere.example"  # a third-party domain that exists nowhere
RELAYCHECK_SOURCE = Path(relaycheck.__file__).read_bytes()


def relay_check(lab: Lab, vantage: str, provider: Provider, port: int = 25) -> list[relaycheck.Attempt]:
    """The relay battery against `provider`, from `vantage`; third parties are the other
    provider's domain and a domain that exists nowhere."""
    other = next(p for p in PROVIDERS if p is not provider)
    names = [provider.mx, provider.domain]
    server_ip = lab.settings.address(provider.service)
    third_parties = [other.domain, NOWHERE]
    if vantage == HOST:
        port = lab.settings.host_port(provider, port)
        return relaycheck.battery("127.0.0.1", port, names, server_ip, third_parties)
    args = [provider.mx, str(port), ",".join(names), server_ip, *third_parties, "--json"]
    done = docker_exec(lab.container(vantage), ["python3", "-", *args], input=RELAYCHECK_SOURCE)
    if done.returncode not in (0, 1):  # 1: something relayed, still a valid report
        raise LabError(f"relay check from {vantage} failed: {done.stderr.decode().strip()}")
    return [relaycheck.Attempt(**row) for row in json.loads(done.stdout)]

