"""What a provider holds right now: the messages in Postfix's queue (and when each is
tried next), and each mailbox's count and size against its quota. Read in one
`docker exec` per provider; `lab web` shows them live.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from lab.compose import Lab
from lab.config import Provider

QUEUE_DIRECTORY = "/var/spool/postfix"
# postqueue -j, then each deferred file's modification time: Postfix sets it to the time
# of the next attempt (the queue manager skips the file until then).
READ_QUEUE = f"postqueue -j; echo ---; find {QUEUE_DIRECTORY}/deferred -type f -printf '%f %T@\\n'"


@dataclass(frozen=True)
class Queued:
    queue_id: str
    queue: str  # active, deferred, hold, incoming, maildrop
    sender: str
    recipients: tuple[str, ...]
    reason: str  # why the last attempt failed ("" if none yet)
    arrived: float
    next_try: float  # seconds since the epoch; 0 when not deferred


def queue(lab: Lab, provider: Provider) -> list[Queued]:
    entries, _, times = lab.run(provider.service, "sh", "-c", READ_QUEUE).partition("---\n")
    next_try = {name: float(when) for name, when in (line.split() for line in times.splitlines())}
    found = []
    for line in entries.splitlines():
        m = json.loads(line)
        reasons = [r.get("delay_reason", "") for r in m["recipients"] if r.get("delay_reason")]
        found.append(Queued(m["queue_id"], m["queue_name"], m["sender"],
                            tuple(r["address"] for r in m["recipients"]), reasons[0] if reasons else "",
                            float(m["arrival_time"]), next_try.get(m["queue_id"], 0.0)))
    return sorted(found, key=lambda q: q.arrived)


@dataclass(frozen=True)
class Mailbox:
    address: str
    messages: int
    kib: int
    quota_kib: int  # 0: no limit


def mailboxes(lab: Lab, provider: Provider) -> list[Mailbox]:
    """Every account's mailbox at a provider (doveadm quota get; the userdb is static,
    so the accounts are listed from the lab's config, not by doveadm -A)."""
    users = " ".join(a.address for a in provider.accounts)
    out = lab.run(provider.service, "sh", "-c",
                  f"for u in {users}; do echo \"user=$u\"; doveadm -f tab quota get -u \"$u\"; done")
    found, user, values = [], "", {}
    for line in [*out.splitlines(), "user="]:
        if line.startswith("user="):
            if user:
                found.append(Mailbox(user, values.get("MESSAGE", (0, 0))[0], *values.get("STORAGE", (0, 0))))
            user, values = line.removeprefix("user="), {}
        elif (cells := line.split("\t")) and len(cells) >= 4 and cells[1] in ("STORAGE", "MESSAGE"):
            values[cells[1]] = (int(cells[2]), int(cells[3]) if cells[3].isdigit() else 0)
    return found
