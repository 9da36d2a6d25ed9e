"""Faults and switches: what goes wrong between the providers, and the settings a
learner flips on a running lab. Every one is undone by `lab restore` or `lab reset`."""

from __future__ import annotations

import argparse

from lab import config, faults, probes, relaycheck, switches
from lab.commands import Exit, command
from lab.compose import Lab
from lab.i18n import _
from lab.journal import Journal
from lab.provider_settings import SWITCHES, Setting


def _relay_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="vantage", default="outsider", choices=probes.VANTAGE_POINTS,
                        help="where the attempts come from (host: through the published ports)")
    parser.add_argument("--server", default="provider-a", choices=[p.service for p in config.PROVIDERS])
    parser.add_argument("--port", type=int, default=25, choices=(25, 587, 465))


@command("relay-check", _relay_check_arguments)
def relay_check(lab: Lab, args: argparse.Namespace) -> Exit:
    """try every relay trick against a provider; exit 1 if any works"""
    provider = next(p for p in config.PROVIDERS if p.service == args.server)
    where = _("this machine, through 127.0.0.1") if args.vantage == probes.HOST else args.vantage
    print(_("Relay check of {service} port {port}, from {where}:").format(
        service=provider.service, port=args.port, where=where), flush=True)
    attempts = probes.relay_check(lab, args.vantage, provider, args.port)
    print(relaycheck.table(attempts))
    relayed = sum(a.relayed for a in attempts)
    Journal(lab.settings).record("relay-check", server=provider.service, vantage=args.vantage,
                                 port=args.port, attempts=len(attempts), relayed=relayed)
    return Exit.FAILED if relayed else Exit.OK


@command("fault", lambda p: p.add_argument("fault", choices=faults.FAULTS))
def fault(lab: Lab, args: argparse.Namespace) -> Exit:
    """cause a fault: b-down, partition, b-refuses, dns-down, a-crash, b-crash, a-disk-full, b-disk-full"""
    print(faults.FAULTS[args.fault].apply(lab))
    Journal(lab.settings).record("fault", name=args.fault)
    return Exit.OK


@command("restore", lambda p: p.add_argument("fault", nargs="?", choices=faults.FAULTS))
def restore(lab: Lab, args: argparse.Namespace) -> Exit:
    """undo a fault (all of them, without a name)"""
    if args.fault:
        print(faults.FAULTS[args.fault].restore(lab))
    else:
        faults.restore_all(lab)
        print(_("Every fault is undone: B runs and is connected, accepts mail, and the DNS answers."))
    Journal(lab.settings).record("restore", name=args.fault or "all")
    return Exit.OK


# --- the live switches, one command each, from the table of provider settings -------------


def _switch_command(setting: Setting) -> None:
    words = tuple(setting.aliases) or setting.choices

    def arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("value", choices=words)
        if setting.only:
            parser.add_argument("--provider", default=setting.only,
                                choices=[p.service for p in config.PROVIDERS])

    def run(lab: Lab, args: argparse.Namespace) -> Exit:
        value = setting.aliases.get(args.value, args.value)
        provider = getattr(args, "provider", None)
        switches.switch(lab, setting.name, value, provider)
        where = {"provider": provider} if provider else {}
        Journal(lab.settings).record(setting.command, value=value, **where)
        schedule = ", ".join(f"{k}={v}" for k, v in setting.postconf.get(value, {}).items())
        print(setting.said[value].format(provider=provider, greylist_delay=lab.settings.greylist_delay,
                                         name=repr(value), schedule=schedule))
        return Exit.OK

    shown = "|".join(words)
    run.__doc__ = f"LAB SWITCH: {setting.what} ({shown})"
    command(setting.command, arguments)(run)


for _setting in SWITCHES:
    _switch_command(_setting)
