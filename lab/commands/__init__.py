"""The `lab` command's sub-commands, one module per concern:

    lifecycle   up, down, clean, build, config, status, shell, logs
    learner     list, show, check, reset, trace, dial, hangup
    switches    faults and restores, and the live switches of a provider's behaviour
    admin       postconf, doveconf: a provider's settings of an admin's own (overrides)
    web         lab web: the lab live in a browser (lab/web/)
    classroom   lab class up N | status | export | down | clean: labs 1..N for a class
    bench       make bench

Each sub-command is a function `run(lab, args) -> Exit` registered with @command,
with the arguments it takes; lab/cli.py builds the parser from the registry.
"""

from __future__ import annotations

import argparse
import enum
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from lab.compose import Lab


class Exit(enum.IntEnum):
    OK = 0
    FAILED = 1  # the lab did not do what was asked (message says why)
    BAD_SETTING = 2  # .env or the command line is wrong; nothing was started


Run = Callable[[Lab, argparse.Namespace], Exit]
Arguments = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    name: str
    run: Run
    arguments: Arguments
    help: str  # one line, from the function's docstring


REGISTRY: dict[str, Command] = {}


def command(name: str, arguments: Arguments = lambda parser: None) -> Callable[[Run], Run]:
    """Register a function as `lab NAME`; `arguments` adds its options to its parser."""
    def register(run: Run) -> Run:
        REGISTRY[name] = Command(name, run, arguments, (run.__doc__ or "").strip().splitlines()[0])
        return run
    return register


def color() -> bool:
    """Colour only on a terminal, and never with NO_COLOR set."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")
