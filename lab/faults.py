"""Faults a learner, a test or an exercise can cause in a running lab, each with its
restore. `lab fault NAME`, `lab restore NAME` and the Make targets call these; the
switches of a provider's behaviour are in lab/switches.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lab import access, switches
from lab.compose import Lab
from lab.config import INTERNET, PROVIDER_B

B = PROVIDER_B.service
REFUSAL = "450 4.3.2 Service temporarily unavailable, try again later"


@dataclass(frozen=True)
class Fault:
    name: str
    story: str  # what happens, in the story's words
    cause: Callable[[Lab], None]
    cure: Callable[[Lab], None]

    def apply(self, lab: Lab) -> str:
        self.cause(lab)
        return (f"{self.story}\n"
                "X can still send: A accepts the mail and keeps it. Watch A's queue with\n"
                "  make shell SERVICE=provider-a   then   postqueue -p\n"
                f"and A's log with `docker logs -f` on provider-a. Undo: make restore FAULT={self.name}")

    def restore(self, lab: Lab) -> str:
        self.cure(lab)
        return f"Restored ({self.name}). A delivers what it kept at its next retry; nobody has to resend."


def _stop(service: str) -> Callable[[Lab], None]:
    def stop(lab: Lab) -> None:
        lab.stop(service)
    return stop


def _start(service: str) -> Callable[[Lab], None]:
    def start(lab: Lab) -> None:
        lab.start(service)
        lab.wait_healthy(timeout=60)
    return start


def _cut(lab: Lab) -> None:
    access.disconnect(lab, B, INTERNET)


def _reconnect(lab: Lab) -> None:
    access.connect(lab, B, INTERNET)


def _refuse(lab: Lab) -> None:
    switches.postconf(lab, B, f"mx_client_restrictions=check_client_access static:{{{REFUSAL}}}")


def _accept(lab: Lab) -> None:
    switches.postconf(lab, B, "mx_client_restrictions=")


FAULTS = {f.name: f for f in (
    Fault("b-down", "B's mail server is down: the provider-b container is stopped.",
          _stop(B), _start(B)),
    Fault("partition", "The line between A and B is cut: provider-b is detached from the internet "
          "network (both still run).", _cut, _reconnect),
    Fault("b-refuses", f"B is up but turns mail away for now: its port 25 answers \"{REFUSAL}\".",
          _refuse, _accept),
    Fault("dns-down", "The lab's DNS is down: A cannot look up B's MX (the dns container is stopped).",
          _stop("dns"), _start("dns")),
)}


def restore_all(lab: Lab) -> None:
    for fault in FAULTS.values():
        fault.cure(lab)
