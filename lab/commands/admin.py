"""A mail admin's sandbox: a provider's Postfix and Dovecot settings of your own, over
the lab's (lab/overrides.py)."""

from __future__ import annotations

import argparse

from lab import overrides
from lab.commands import Exit, command
from lab.compose import Lab
from lab.config import PROVIDERS
from lab.i18n import _


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("provider", choices=[p.service for p in PROVIDERS])
    parser.add_argument("settings", nargs="*", metavar="KEY=VALUE",
                        help="settings to give it (none and no --unset: show yours)")
    parser.add_argument("--unset", action="append", default=[], metavar="KEY",
                        help="back to the lab's own value (again for another key)")


def _run(lab: Lab, args: argparse.Namespace, name: str, apply) -> Exit:
    provider = next(p for p in PROVIDERS if p.service == args.provider)
    if not args.settings and not args.unset:
        mine = overrides.read(lab.settings, provider, name)
        print("\n".join(f"{k} = {v}" for k, v in mine.items()) if mine
              else _("{service} runs with the lab's own settings only ({file}).").format(
                  service=provider.service, file=name))
        return Exit.OK
    print(apply(lab, provider, overrides.changes(args.settings, args.unset)))
    return Exit.OK


@command("postconf", _arguments)
def postconf(lab: Lab, args: argparse.Namespace) -> Exit:
    """ADMIN: set a provider's Postfix setting (KEY=VALUE), tried by Postfix first; kept over resets"""
    return _run(lab, args, overrides.POSTFIX_FILE, overrides.postconf)


@command("doveconf", _arguments)
def doveconf(lab: Lab, args: argparse.Namespace) -> Exit:
    """ADMIN: set a provider's Dovecot setting (KEY=VALUE, section/KEY=VALUE), tried by doveconf first"""
    return _run(lab, args, overrides.DOVECOT_FILE, overrides.doveconf)
