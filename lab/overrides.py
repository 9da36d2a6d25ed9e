"""A mail admin's sandbox: settings of the admin's own over the lab's, per provider.

They live with the repository, in overrides/<provider>/postfix-main.cf (main.cf syntax)
and overrides/<provider>/dovecot.conf (a dovecot.conf fragment), written by hand or by
`lab postconf` / `lab doveconf`, mounted read-only into the provider and applied after
the lab's own settings at every start (images/provider/lab-overrides, dovecot.conf's
last line): they survive `lab reset`, `make down`/`make up` and a crash, and only
`lab reset --overrides` (or deleting the files) clears them.

`lab postconf` asks Postfix itself first: the settings are tried on a copy of the
running provider's configuration in a throwaway container (images/provider/try-postfix),
and what Postfix says is wrong is the refusal, word for word, before anything is
written; the provider keeps serving. `lab doveconf` asks doveconf the same way.
Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lab.config import IMAGES, PROVIDERS, REPO, TLS_DIR, Provider, Settings
from lab.docker import LabError, docker_exec, docker_fed
from lab.i18n import _
from lab.journal import Journal

if TYPE_CHECKING:
    from lab.compose import Lab

POSTFIX_FILE = "postfix-main.cf"
DOVECOT_FILE = "dovecot.conf"
# Who may relay is the one thing the sandbox does not offer: the lab is never an open
# relay but through exercise 5's labelled switch (lab open-relay).
RELAY_SETTINGS = ("mynetworks", "mynetworks_style", "smtpd_relay_restrictions", "relay_domains",
                  "permit_mx_backup_networks")
# key, or Dovecot's "section/key" ("plugin/quota_rule", "protocol imap/mail_max_userip_connections")
KEY = re.compile(r"([a-z][a-z0-9_]*( [a-z0-9_]+)?/)?[a-z][a-z0-9_]*")
HEADER = ("# {what} settings of your own for {service}, over the lab's (README, \"A mail admin's\n"
          "# sandbox\"): read at every start; `lab reset --overrides` clears them.\n")


@dataclass(frozen=True)
class Change:
    key: str
    value: str | None  # None: back to the lab's own value

    @property
    def postconf_argument(self) -> str:
        return f"{self.key}={self.value}" if self.value is not None else f"-{self.key}"


def folder(settings: Settings, provider: Provider) -> Path:
    return settings.overrides_dir / provider.service


def ensure_folders(settings: Settings) -> None:
    """Each provider's folder exists before Compose mounts it (Docker would make it
    root's own)."""
    for p in PROVIDERS:
        folder(settings, p).mkdir(parents=True, exist_ok=True)


def changes(settings: list[str], unset: list[str]) -> list[Change]:
    """KEY=VALUE and --unset KEY, checked for their form (Postfix or Dovecot checks the rest)."""
    found = []
    for setting in settings:
        key, sep, value = setting.partition("=")
        key = key.strip()
        if not sep or not KEY.fullmatch(key):
            raise LabError(_("{setting}: write KEY=VALUE, e.g. smtpd_banner='$myhostname ESMTP'").format(
                setting=repr(setting)))
        found.append(Change(key, value.strip()))
    found += [Change(key.strip(), None) for key in unset]
    if not found:
        raise LabError(_("say what to set (KEY=VALUE) or to unset (--unset KEY)"))
    return found


# --- the files -------------------------------------------------------------------------


def read(settings: Settings, provider: Provider, name: str) -> dict[str, str]:
    """The settings of one overrides file: KEY -> VALUE, in their order (Dovecot's
    section/key for a setting in a section)."""
    path = folder(settings, provider) / name
    if not path.exists():
        return {}
    found: dict[str, str] = {}
    section = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].rstrip() if name == DOVECOT_FILE else line.rstrip()
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if name == POSTFIX_FILE and text[0] in " \t" and found:  # a continued value
            last = next(reversed(found))
            found[last] = f"{found[last]} {text.strip()}"
        elif m := re.fullmatch(r"\s*([a-z][a-z0-9_]*(?: [a-z0-9_]+)?)\s*\{", text):
            section = m.group(1)
        elif text.strip() == "}":
            section = ""
        elif "=" in text:
            key, _, value = text.partition("=")
            found[f"{section}/{key.strip()}" if section else key.strip()] = value.strip()
    return found


def render(provider: Provider, name: str, settings: dict[str, str]) -> str:
    what = "Postfix" if name == POSTFIX_FILE else "Dovecot"
    lines = [HEADER.format(what=what, service=provider.service)]
    sections: dict[str, list[str]] = {}
    for key, value in settings.items():
        section, _, plain = key.rpartition("/")
        sections.setdefault(section, []).append(f"{plain} = {value}")
    lines += sections.pop("", [])
    for section, body in sections.items():
        lines += [f"{section} {{", *(f"  {line}" for line in body), "}"]
    return "\n".join(lines) + "\n"


def write(settings: Settings, provider: Provider, name: str, values: dict[str, str]) -> None:
    path = folder(settings, provider) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if values:
        path.write_text(render(provider, name, values), encoding="utf-8")
    else:
        path.unlink(missing_ok=True)


def merged(current: dict[str, str], wanted: list[Change]) -> dict[str, str]:
    found = dict(current)
    for change in wanted:
        if change.value is None:
            found.pop(change.key, None)
        else:
            found[change.key] = change.value
    return found


def differences(settings: Settings, provider: Provider) -> list[str]:
    """What differs from the lab's own settings, one "key = value" each (lab status,
    the web view, the class)."""
    return [f"{key} = {value}" for name in (POSTFIX_FILE, DOVECOT_FILE)
            for key, value in read(settings, provider, name).items()]


# --- trying, writing, applying --------------------------------------------------------


def postconf(lab: Lab, provider: Provider, wanted: list[Change]) -> str:
    """Try the changes on Postfix, then keep them and make the running Postfix use them."""
    relay = [c.key for c in wanted if c.key in RELAY_SETTINGS]
    if relay:
        raise LabError(_("{key} decides who may relay, which the sandbox leaves to the lab: it is never "
                         "an open relay but through exercise 5's switch (lab open-relay on)").format(
            key=relay[0]))
    said = _try_postfix(lab, provider, wanted)
    if said:
        _refused(lab, "postconf", provider, wanted, said)
        raise LabError(_("Postfix refuses it, nothing was written and {service} serves as before:\n"
                         "{said}").format(service=provider.service, said=said))
    write(lab.settings, provider, POSTFIX_FILE, merged(read(lab.settings, provider, POSTFIX_FILE), wanted))
    live = [c.postconf_argument for c in wanted if c.value is not None]
    for c in wanted:
        if c.value is None:
            own = lab.run(provider.service, "lab-overrides", "lab-value", c.key).strip()
            live.append(f"{c.key}={own}" if own else f"-{c.key}")
    lab.run(provider.service, "lab-postconf", *live)
    for c in wanted:
        Journal(lab.settings).record("postconf", provider=provider.service, key=c.key, value=c.value)
    return _said(lab.settings, provider, wanted, "Postfix")


def _try_postfix(lab: Lab, provider: Provider, wanted: list[Change]) -> str:
    """What Postfix says of the changes, on a copy of the running provider's /etc/postfix."""
    copy = docker_exec(lab.container(provider.service), ["tar", "-C", "/etc/postfix", "-cf", "-", "."])
    if copy.returncode:
        raise LabError(_("{service}: cannot read its Postfix configuration: {error}").format(
            service=provider.service, error=copy.stderr.decode()))
    # (no network, no volume: a Postfix of its own, with the provider's certificates)
    trial = docker_fed(
        "run", "--rm", "-i", "--network", "none", "--cap-drop", "ALL",
        *(arg for cap in ("SETUID", "SETGID", "CHOWN", "DAC_OVERRIDE", "FOWNER", "NET_BIND_SERVICE", "KILL")
          for arg in ("--cap-add", cap)),
        "--security-opt", "no-new-privileges:true", "--log-driver", "none",
        "-v", f"{TLS_DIR / 'ca.crt'}:/etc/maillab/tls/ca.crt:ro",
        "-v", f"{TLS_DIR / f'{provider.service}.crt'}:/etc/maillab/tls/server.crt:ro",
        "-v", f"{TLS_DIR / f'{provider.service}.key'}:/etc/maillab/tls/server.key:ro",
        "--entrypoint", "try-postfix", IMAGES["provider"], *(c.postconf_argument for c in wanted),
        input=copy.stdout)
    said = trial.stdout.decode(errors="replace").strip()
    if trial.returncode == 1 and said:
        return said
    if trial.returncode:  # the trial itself did not run: nothing is known, nothing is kept
        raise LabError(_("could not try the settings on a copy of {service}'s Postfix: {error}").format(
            service=provider.service, error=trial.stderr.decode(errors="replace").strip() or said))
    return ""


def doveconf(lab: Lab, provider: Provider, wanted: list[Change]) -> str:
    """Try the changes on Dovecot (doveconf), then keep them and have Dovecot reload."""
    candidate = merged(read(lab.settings, provider, DOVECOT_FILE), wanted)
    tried = docker_exec(lab.container(provider.service), ["try-dovecot"],
                        input=render(provider, DOVECOT_FILE, candidate).encode())
    if tried.returncode:
        said = (tried.stdout + tried.stderr).decode(errors="replace").strip()
        _refused(lab, "doveconf", provider, wanted, said)
        raise LabError(_("Dovecot refuses it, nothing was written and {service} serves as before:\n"
                         "{said}").format(service=provider.service, said=said))
    write(lab.settings, provider, DOVECOT_FILE, candidate)
    lab.run(provider.service, "doveadm", "reload")
    for c in wanted:
        Journal(lab.settings).record("doveconf", provider=provider.service, key=c.key, value=c.value)
    return _said(lab.settings, provider, wanted, "Dovecot")


def _refused(lab: Lab, command: str, provider: Provider, wanted: list[Change], said: str) -> None:
    """A refusal is journaled too (postconf-refused, doveconf-refused): a check can see
    that the admin tried a setting and read the daemon's answer (exercise 16). One line
    each, as `lab class status` shows a lab's last action: the daemon's first complaint."""
    Journal(lab.settings).record(f"{command}-refused", provider=provider.service,
                                 settings=" ".join(c.postconf_argument for c in wanted),
                                 said=said.splitlines()[0] if said else "")


def _said(settings: Settings, provider: Provider, wanted: list[Change], daemon: str) -> str:
    done = [f"  {c.key} = {c.value}" if c.value is not None else
            "  " + str(_("{key}: back to the lab's own value").format(key=c.key)) for c in wanted]
    runs = _("{service}'s {daemon} now runs with:").format(service=provider.service, daemon=daemon)
    kept = _("Kept in {folder}/ and read at every start; `lab status` lists them, `lab reset --overrides` "
             "clears them.").format(folder=folder(settings, provider).relative_to(REPO))
    return "\n".join([str(runs), *done, str(kept)])


def clear(settings: Settings) -> list[str]:
    """Delete this lab's overrides files (`lab reset --overrides`); the files it deleted."""
    gone = []
    for p in PROVIDERS:
        for name in (POSTFIX_FILE, DOVECOT_FILE):
            path = folder(settings, p) / name
            if path.exists():
                path.unlink()
                gone.append(str(path.relative_to(REPO)))
    return gone
