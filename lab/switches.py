"""The lab switches on a running lab, and what they are set to now: each is a row of
the table of provider settings (lab/provider_settings.py), which says how it reaches a
provider (its script, the packet filter, Postfix settings, the DNS) and how it is read
back; `lab reset` (the providers' `configure`) puts back .env's values.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from lab import dnszones, netseal
from lab.compose import Lab, LabError
from lab.config import PROVIDERS, Provider
from lab.i18n import _
from lab.provider_settings import (
    BY_NAME,
    FILTER,
    POSTCONF,
    SCRIPT,
    SWITCHES,
    ZONE,
    Setting,
)

SCRIPTS = tuple(s for s in SWITCHES if s.applied in (SCRIPT, ZONE))  # read by lab-switches inside
POSTCONF_KEYS = tuple(dict.fromkeys(k for s in SWITCHES if s.applied == POSTCONF
                                    for values in s.postconf.values() for k in values))


@dataclass(frozen=True)
class Live:
    """What one provider's switches are set to now, by their names in the table, as .env
    writes them ("on", "reject", "lab"; "custom" for settings no value of the table
    makes); live.NAME gives each as the code uses it (live.op25b is a bool)."""

    service: str
    values: dict[str, str]
    blocked: int  # connections the port 25 block refused since the last reset

    def __getattr__(self, name: str) -> Any:
        if name in BY_NAME and "values" in self.__dict__:
            return BY_NAME[name].typed(self.values.get(name, "?"))
        raise AttributeError(name)

    def on(self) -> list[str]:
        """The switches in words, as `lab status` and the web view show them."""
        facts = {"greylist_delay": self.values.get("greylist_delay", "?")}
        return [w for s in SWITCHES if (w := s.words(self.values.get(s.name, "?"), **facts))]


def _read_postconf(setting: Setting, postconf: dict[str, str]) -> str:
    """The value whose Postfix settings the provider has now ("custom": none of them);
    a value naming None for a key is "the lab's own", whatever else that key holds."""
    for value, keys in setting.postconf.items():
        if all(want is None or postconf.get(k) == want for k, want in keys.items()) \
                and not any(want is None for want in keys.values()):
            return value
    return next((value for value, keys in setting.postconf.items() if None in keys.values()), "custom")


def state(lab: Lab, providers: tuple[Provider, ...] = PROVIDERS) -> dict[str, Live]:
    """provider service -> its switches, read from both providers at once: their scripts
    and Postfix from inside (lab-switches), the packet filter from outside (netseal)."""
    if not providers:
        return {}

    def read(p: Provider) -> Live:
        out = lab.run(p.service, "lab-switches", *(s.program for s in SCRIPTS), "--", *POSTCONF_KEYS)
        said = dict(pair.split("=", 1) for line in out.splitlines() for pair in line.split() if "=" in pair)
        filtered = netseal.filter_state(lab, p)
        values = {s.name: said.get(s.name, "?") for s in SCRIPTS}
        values.update({s.name: filtered.get(s.name, "?") for s in SWITCHES if s.applied == FILTER})
        values.update({s.name: _read_postconf(s, said) for s in SWITCHES if s.applied == POSTCONF})
        values["greylist_delay"] = said.get("greylist_delay", "?")
        return Live(p.service, values, int(filtered.get("blocked", "0") or 0))

    with ThreadPoolExecutor(len(providers)) as pool:
        return {p.service: live for p, live in zip(providers, pool.map(read, providers))}


def targets(setting: Setting, service: str | None = None) -> tuple[Provider, ...]:
    """The providers a live change acts on: the one named, the row's own, or both."""
    named = service or setting.only
    return tuple(p for p in PROVIDERS if not named or p.service == named)


def switch(lab: Lab, name: str, value: str, service: str | None = None) -> None:
    """Set a switch of the table on the running lab (`lab op25b off`, `lab dkim break`)."""
    setting = BY_NAME[name]
    value = setting.aliases.get(value, value)
    if value not in setting.choices:
        words = ", ".join(setting.aliases or setting.choices)
        raise LabError(_("no {command} {value}; choose one of {words}").format(
            command=setting.command, value=repr(value), words=words))
    chosen = targets(setting, service)
    if setting.applied == ZONE:
        return _publish(lab, setting, value)
    with ThreadPoolExecutor(len(chosen)) as pool:
        list(pool.map(lambda p: _apply(lab, setting, value, p), chosen))


def _apply(lab: Lab, setting: Setting, value: str, p: Provider) -> None:
    if setting.applied == SCRIPT:
        lab.run(p.service, setting.program, value)
    elif setting.applied == FILTER:
        netseal.netadmin(lab, p.service, setting.program, value, env=netseal.filter_env(lab, p))
    else:  # POSTCONF: a None is the lab's own value
        keys = setting.postconf[value]
        own = {k: lab.run(p.service, "lab-overrides", "lab-value", k).strip()
               for k, v in keys.items() if v is None}
        postconf(lab, p.service, *(f"{k}={own.get(k, v)}" for k, v in keys.items()))


def _publish(lab: Lab, setting: Setting, value: str) -> None:
    """A ZONE switch (dmarc): the zones are written again, the lab's DNS reloads them,
    the resolvers forget the old answer; returns once both providers read the new one."""
    dnszones.write(lab.settings, value)
    lab.run("dns", "load-zones", "--reload")
    lab.flush_resolvers()  # else they answer the old policy until its TTL runs out
    deadline = time.monotonic() + 10
    while any(live.values.get(setting.name) != value for live in state(lab).values()):
        if time.monotonic() > deadline:
            raise LabError(_("the lab's DNS still publishes another {name} than {value}").format(
                name=setting.name, value=repr(value)))
        time.sleep(0.2)


def postconf(lab: Lab, service: str, *settings: str) -> None:
    """Change a running provider's Postfix settings (images/provider/lab-postconf)."""
    lab.run(service, "lab-postconf", *settings)


# The switches by name, for the code that flips one (tests, faults, the bench).

def set_op25b(lab: Lab, on: bool) -> None:
    switch(lab, "op25b", "on" if on else "off")


def set_greylist(lab: Lab, on: bool) -> None:
    switch(lab, "greylist", "on" if on else "off")


def set_retry_profile(lab: Lab, service: str, profile: str) -> None:
    switch(lab, "retry_profile", profile, service)


def set_quota_full(lab: Lab, mode: str) -> None:
    switch(lab, "quota_full", mode)


def set_dmarc(lab: Lab, policy: str) -> None:
    switch(lab, "dmarc", policy)


def set_dkim_key(lab: Lab, key: str) -> None:
    switch(lab, "dkim_key", key)


def open_relay(lab: Lab, on: bool) -> None:
    switch(lab, "open_relay", "on" if on else "off")


def is_open_relay(lab: Lab) -> bool:
    a = targets(BY_NAME["open_relay"])
    return state(lab, a)[a[0].service].open_relay
