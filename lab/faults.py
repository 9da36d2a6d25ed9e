"""Faults a learner, a test or an exercise can cause in a running lab, each with its
restore. `lab fault NAME`, `lab restore NAME` and the Make targets call these; the
switches of a provider's behaviour are in lab/switches.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lab import access, switches
from lab.compose import Lab, docker
from lab.config import INTERNET, PROVIDER_A, PROVIDER_B
from lab.i18n import _
from lab.journal import Journal

A, B = PROVIDER_A.service, PROVIDER_B.service
REFUSAL = "450 4.3.2 Service temporarily unavailable, try again later"


KEEPS = _("X can still send: A accepts the mail and keeps it. Watch A's queue with\n"
          "  make shell SERVICE=provider-a   then   postqueue -p\n"
          "and A's log with `lab logs provider-a`.")


@dataclass(frozen=True)
class Fault:
    name: str
    story: str  # what happens, in the story's words
    cause: Callable[[Lab], None]
    cure: Callable[[Lab], None]
    at: str  # the service it acts on (the web view draws it there)
    watch: str = KEEPS  # what X sees, and where to look

    def apply(self, lab: Lab) -> str:
        self.cause(lab)
        return _("{story}\n{watch} Undo: make restore FAULT={name}").format(
            story=self.story, watch=self.watch, name=self.name)

    def restore(self, lab: Lab) -> str:
        self.cure(lab)
        restored = _("Restored ({name}). A delivers what it kept at its next retry; nobody has to resend.")
        return restored.format(name=self.name)


def _stop(service: str) -> Callable[[Lab], None]:
    def stop(lab: Lab) -> None:
        lab.stop(service)
    return stop


def _start(service: str) -> Callable[[Lab], None]:
    def start(lab: Lab) -> None:
        lab.start(service)
        lab.wait_healthy(timeout=60)
    return start


def _kill(service: str) -> Callable[[Lab], None]:
    def kill(lab: Lab) -> None:
        docker("kill", "--signal", "KILL", lab.container(service))
    return kill


def _disk_full(service: str, on: bool) -> Callable[[Lab], None]:
    def fill(lab: Lab) -> None:
        lab.run(service, "disk-full", "on" if on else "off")
    return fill


def _dns_down(lab: Lab) -> None:
    lab.stop("dns")
    lab.flush_resolvers()


def _dns_up(lab: Lab) -> None:
    _start("dns")(lab)
    lab.flush_resolvers()  # forget that the DNS did not answer


def _cut(lab: Lab) -> None:
    access.disconnect(lab, B, INTERNET)


def _reconnect(lab: Lab) -> None:
    access.connect(lab, B, INTERNET)


def _refuse(lab: Lab) -> None:
    switches.postconf(lab, B, f"mx_client_restrictions=check_client_access static:{{{REFUSAL}}}")


def _accept(lab: Lab) -> None:
    switches.postconf(lab, B, "mx_client_restrictions=")


FAULTS = {f.name: f for f in (
    Fault("b-down", _("B's mail server is down: the provider-b container is stopped."),
          _stop(B), _start(B), B),
    Fault("partition", _("The line between A and B is cut: provider-b is detached from the internet "
                         "network (both still run)."), _cut, _reconnect, B),
    Fault("b-refuses", _("B is up but turns mail away for now: its port 25 answers \"{reply}\".").format(
        reply=REFUSAL), _refuse, _accept, B),
    Fault("dns-down", _("The lab's DNS is down: A cannot look up B's MX (the dns container is stopped,\n"
                        "and the providers' caches are emptied, as if B's records had reached the end of "
                        "their TTL)."),
          _dns_down, _dns_up, "dns",
          _("{keeps} Without the emptied cache, A would still know B's MX for up to 300 s (the\n"
            "records' TTL) after its last lookup, and deliver as if nothing had happened.").format(
              keeps=KEEPS)),
    Fault("b-crash", _("B's machine crashed: the provider-b container was killed (SIGKILL), nothing saved or "
                       "closed in an orderly way."), _kill(B), _start(B), B,
          _("{keeps} What B had said 250 to is on its disk; a message B stored just before\n"
            "dying, without A hearing the 250, comes again when A retries: count Y's mail.").format(
              keeps=KEEPS)),
    Fault("a-crash", _("A's machine crashed: the provider-a container was killed (SIGKILL)."),
          _kill(A), _start(A), A,
          _("X cannot send now: X's mail program keeps the message and tries again later. What A\n"
            "had accepted (250) is on its disk, and A delivers it once it is back.")),
    Fault("b-disk-full", _("The disk under B's queue is full: B refuses new mail with "
                           "452 4.3.1 Insufficient system storage."),
          _disk_full(B, True), _disk_full(B, False), B),
    Fault("a-disk-full", _("The disk under A's queue is full: A refuses X's mail with "
                           "452 4.3.1 Insufficient system storage."),
          _disk_full(A, True), _disk_full(A, False), A,
          _("X's mail program gets a temporary refusal and keeps the message; nothing is half\n"
            "accepted. Look at A's log: `lab logs provider-a`.")),
)}


def left_on(journal: Journal) -> list[str]:
    """The faults caused and not restored since the last reset, by the journal."""
    active: list[str] = []
    for entry in journal.entries():
        if entry.event == "fault":
            active.append(entry.get("name"))
        elif entry.event == "restore":
            active = [] if entry.get("name") == "all" else [f for f in active if f != entry.get("name")]
    return active


def restore_all(lab: Lab) -> None:
    for fault in FAULTS.values():
        fault.cure(lab)
