"""The bench's faults: X's mail program submits messages to Y2 (4 sessions, resending
as a mail program does), the fault strikes once mail flows, is undone a few seconds
later, and Y2's mailbox is counted by Message-ID: submitted, accepted, delivered, lost,
duplicated (RFC 1047: a crash between B's storing a message and A's reading the 250
makes A send it again)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable

from lab import config, faults
from lab.bench.report import say
from lab.compose import Lab, LabError, docker_exec
from lab.docker import exec_command
from lab.mailbox import count_mailbox, message_ids, read_mailbox

MEASURED = ("b-down", "b-crash", "a-crash", "b-disk-full", "a-disk-full")
OUTAGE_S = 3  # how long each fault lasts
B, Y2 = config.PROVIDER_B.service, config.Y2


def _mailbox(lab: Lab) -> list[str]:
    return message_ids(read_mailbox(lab.container(B), Y2))


def until(test: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    """Poll `test` every `interval` until it holds (True) or `timeout` runs out (False)."""
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def submit_in_background(lab: Lab, total: int, tag: str, retry: int) -> subprocess.Popen:
    """X's mail program submitting `total` messages to Y2 in 4 sessions, resending for up
    to `retry` seconds when A is gone or answers 4xx (lab/scripts/submit.py); its JSON
    report comes on the process's stdout."""
    spec = {"host": config.PROVIDER_A.smtp, "user": config.X, "password": lab.settings.password(config.X),
            "recipient": Y2, "tag": tag, "sessions": 4, "per_session": total // 4, "retry": retry}
    return subprocess.Popen(exec_command(lab.container("client-x"), "python3", "-c",
                                         config.SUBMIT_SCRIPT.read_text(), json.dumps(spec)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def across(lab: Lab, name: str, total: int) -> dict:
    fault = faults.FAULTS[name]
    docker_exec(lab.container(B), ["doveadm", "expunge", "-u", Y2, "mailbox", "INBOX", "all"])
    load = submit_in_background(lab, total, name, retry=120)
    try:
        if not until(lambda: count_mailbox(lab.container(B), Y2) >= total // 20, 120):
            load.kill()
            say(f"{name}: no mail flowed to Y2 within 120 s; not measured")
            return {"submitted": total, "error": "no mail flowed to Y2 before the fault"}
        fault.cause(lab)
        time.sleep(OUTAGE_S)
    finally:
        fault.cure(lab)
    out, err = load.communicate(timeout=600)
    if load.returncode:
        raise LabError(f"bench: the submissions across {name} failed: {err.decode()[-300:]}")
    accepted = {row[0] for row in json.loads(out)["results"] if row[1] == 250}
    until(lambda: accepted <= set(_mailbox(lab)), 180)  # what is missing then is lost
    received = _mailbox(lab)
    result = {"submitted": total, "accepted": len(accepted), "delivered": len(accepted & set(received)),
              "lost": len(accepted - set(received)),
              "duplicated": sum(received.count(m) - 1 for m in accepted if received.count(m) > 1)}
    say(f"{name}: {result}")
    return result


def each(lab: Lab, total: int = 300) -> dict[str, dict]:
    return {name: across(lab, name, total) for name in MEASURED}
