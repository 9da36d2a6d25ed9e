"""The class's links: one secret per learner and one for the teacher (`lab class links`).

A learner's link opens that learner's lab on the class server (lab/web/classserver.py)
and nothing else; the teacher's opens the class page and every lab. A secret is 256
random bits (URL-safe), kept in .lab/class-links.json, which only the teacher's account
may read (0600 from its first byte), and compared in constant time. `--renew K`
replaces learner K's secret: the class server reads the file again as soon as it
changes, and the old link stops working at once.

Learner K (1..N) works in the class's K-th lab, LAB_ID first+K-1 (lab/classroom.py).
Standard library only.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from lab import config
from lab.docker import LabError
from lab.i18n import _

TEACHER = 0  # the teacher's "lab" in Links.role()


def links_file() -> Path:
    """Beside the class's record (config.CLASS_FILE), so a test's class keeps its own."""
    return config.CLASS_FILE.with_name("class-links.json")


def web_file() -> Path:
    """Where `lab class web` says it listens, for `lab class links` to write the URLs."""
    return config.CLASS_FILE.with_name("class-web.json")


@dataclass
class Links:
    teacher: str = ""
    learners: dict[int, str] = field(default_factory=dict)  # LAB_ID -> secret

    def role(self, secret: str) -> int | None:
        """The LAB_ID this secret opens (TEACHER for the teacher's), or None. Every
        secret is compared, each in constant time: how long it takes tells nothing."""
        found = None
        given = secret.encode()
        for lab_id, known in [(TEACHER, self.teacher), *self.learners.items()]:
            if known and hmac.compare_digest(given, known.encode()):
                found = lab_id
        return found


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def read(path: Path | None = None) -> Links:
    path = path or links_file()
    if not path.exists():
        return Links()
    data = json.loads(path.read_text())
    return Links(data.get("teacher", ""), {int(k): v for k, v in data.get("learners", {}).items()})


def write(links: Links, path: Path | None = None) -> None:
    """Write the secrets readable by this account alone, from the first byte (a new file
    renamed over the old one: a reader never sees half of it)."""
    path = path or links_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"teacher": links.teacher, "learners": {str(k): v for k, v in links.learners.items()}}, out)
    os.chmod(partial, 0o600)
    os.replace(partial, path)


def ensure(ids: range) -> Links:
    """The class's links, a secret made for each lab of `ids` that has none (and for the
    teacher); labs no longer in the class lose theirs."""
    if not ids:
        raise LabError(_("no class on this machine: start one with `lab class up N`"))
    links = read()
    changed = not links.teacher or set(links.learners) != set(ids)
    links.teacher = links.teacher or new_secret()
    links.learners = {n: links.learners.get(n) or new_secret() for n in ids}
    if changed or not links_file().exists():
        write(links)
    return links


def renew(ids: range, learner: int) -> Links:
    """A new secret for learner K (1..N): the old link stops working."""
    if not 1 <= learner <= len(ids):
        raise LabError(_("the class has learners 1 to {count}: lab class links --renew K").format(
            count=len(ids)))
    links = ensure(ids)
    links.learners[ids[learner - 1]] = new_secret()
    write(links)
    return links


def base_url() -> str:
    """The class server's address as `lab class web` last said it (http://127.0.0.1:
    port of lab 0's web view if it never ran)."""
    if web_file().exists():
        return json.loads(web_file().read_text())["url"]
    return f"http://127.0.0.1:{config.load(lab_id=0, in_class=False).browser_port}"


def table(links: Links, ids: range, base: str) -> str:
    """CSV for a mail merge: learner,lab,url, one row per learner, then the teacher."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["learner", "lab", "url"])
    for learner, lab_id in enumerate(ids, 1):
        writer.writerow([learner, lab_id, f"{base}/join/{links.learners[lab_id]}"])
    writer.writerow(["teacher", "", f"{base}/join/{links.teacher}"])
    return out.getvalue()
