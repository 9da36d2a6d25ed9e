"""What a provider holds in an account's mailbox, read from outside: the messages of an
INBOX byte for byte, their Message-IDs and headers, the verdicts in them. The checks,
`lab trace`, the web view, the bench and the tests all read mailboxes through here.
Standard library only.
"""

from __future__ import annotations

import base64
import re

from lab import config
from lab.docker import LabError, docker_exec
from lab.i18n import _


def mailbox_service(address: str) -> str:
    """The service that keeps this lab account's mailbox."""
    provider = config.provider_of(address)
    assert provider, f"{address} is not a lab account"
    return provider.service


# The INBOX of an account, as files of its Maildir (new/ and cur/), oldest first. Dovecot
# makes the Maildir at the first delivery or login; `doveadm mailbox status` makes it
# here for an account that has had neither, so an error is an error, never "no mail".
_MAILDIR_FILES = """set -eu
[ -d "$1/cur" ] || doveadm mailbox status -u "$2" messages INBOX >/dev/null
cd "$1"
files() { find new cur -type f -printf '%T@ %p\\n' | sort -n | cut -d' ' -f2-; }
files"""


def _mailbox_files(container: str, address: str, then: str = "") -> str:
    script = _MAILDIR_FILES + then
    done = docker_exec(container, ["sh", "-c", script, "sh", config.maildir(address), address])
    if done.returncode != 0:
        raise LabError(_("cannot read {address}'s mailbox: {error}").format(
            address=address, error=done.stderr.decode(errors="replace").strip()))
    return done.stdout.decode()


def read_mailbox(container: str, address: str) -> list[bytes]:
    """Every message in an account's INBOX, oldest first; the container is its provider's.
    Raises LabError if the mailbox cannot be read."""
    out = _mailbox_files(container, address, then=' | while read -r f; do base64 -w0 "$f"; echo; done')
    return [base64.b64decode(line) for line in out.split()]


def message_ids(messages: list[bytes]) -> list[str]:
    """The Message-ID of each message, in order (duplicates kept; "" where none)."""
    ids = []
    for m in messages:
        match = re.search(rb"^Message-ID:\s*(<[^>]+>)", m.split(b"\n\n", 1)[0], re.IGNORECASE | re.MULTILINE)
        ids.append(match.group(1).decode() if match else "")
    return ids


def header_block(message: bytes) -> str:
    """A message's header lines, folded lines joined into one."""
    return re.sub(r"\r?\n[ \t]+", " ", message.split(b"\n\n", 1)[0].decode(errors="replace"))


def auth_results(message: bytes, authserv: str) -> dict[str, str]:
    """spf/dkim/dmarc -> result, as the server named `authserv` recorded them in its own
    Authentication-Results header (the only one left: others are removed on entry)."""
    ours = re.findall(rf"^Authentication-Results:\s*{re.escape(authserv)};(.*)$", header_block(message),
                      re.M | re.I)
    return dict(re.findall(r"\b(spf|dkim|dmarc)=(\w+)", " ".join(ours)))


def count_mailbox(container: str, address: str) -> int:
    """How many messages an account's INBOX holds (without reading them)."""
    return len(_mailbox_files(container, address).split())
