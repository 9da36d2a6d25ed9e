"""Faults a learner, a test or an exercise can cause in a running lab, each with its
restore, and the live switches of a provider's behaviour (retry schedule, full
mailboxes). `lab fault NAME`, `lab restore NAME` and the Make targets call these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lab import access
from lab.compose import Lab, LabError
from lab.config import INTERNET, PROVIDER_A, PROVIDER_B, QUOTA_FULL_MODES, RETRY_PROFILES

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
    _postconf(lab, B, f"mx_client_restrictions=check_client_access static:{{{REFUSAL}}}")


def _accept(lab: Lab) -> None:
    _postconf(lab, B, "mx_client_restrictions=")


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


# --- live switches --------------------------------------------------------------------


def _postconf(lab: Lab, service: str, *settings: str) -> None:
    lab.run(service, "postconf", "-e", *settings)
    lab.run(service, "postfix", "reload")


def set_retry_profile(lab: Lab, service: str, profile: str) -> None:
    """Switch a running provider's Postfix to another retry schedule (RETRY_PROFILES)."""
    if profile not in RETRY_PROFILES:
        raise LabError(f"no retry profile {profile!r}; choose one of {', '.join(RETRY_PROFILES)}")
    _postconf(lab, service, *(f"{k}={v}" for k, v in RETRY_PROFILES[profile].items()))


# The open-relay switch, for exercise 5 only: the classic mistake of trusting every
# network ("mynetworks = 0.0.0.0/0"), which lets anyone relay through A's port 25.
OPEN_RELAY_MYNETWORKS = "0.0.0.0/0"
TEMPLATES = "/etc/maillab/templates/postfix"  # the image's main.cf: the safe value


def open_relay(lab: Lab, on: bool, service: str = PROVIDER_A.service) -> str:
    """Make `service` an open relay (on), or put back the image's own mynetworks (off)."""
    if on:
        value = OPEN_RELAY_MYNETWORKS
    else:
        value = lab.run(service, "postconf", "-c", TEMPLATES, "-h", "mynetworks").strip()
    _postconf(lab, service, f"mynetworks={value}")
    return value


def is_open_relay(lab: Lab, service: str = PROVIDER_A.service) -> bool:
    return lab.run(service, "postconf", "-h", "mynetworks").strip() == OPEN_RELAY_MYNETWORKS


def set_quota_full(lab: Lab, service: str, mode: str) -> None:
    """What a full mailbox answers on a running provider: bounce or tempfail."""
    if mode not in QUOTA_FULL_MODES:
        raise LabError(f"no mode {mode!r}; choose one of {', '.join(QUOTA_FULL_MODES)}")
    lab.run(service, "quota-full-mode", mode)
