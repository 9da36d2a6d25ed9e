"""`lab` (also `python3 -m lab`): run the lab from the host. `lab --help` lists the
commands; each lives in a module of lab/commands/ by concern. LAB_ID=N selects a
side-by-side lab with its own subnets and ports.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys

from lab import config, docker
from lab.commands import REGISTRY, Exit, bench, classroom, learner, lifecycle, switches, web
from lab.compose import Lab, LabError

ORDER = (lifecycle, learner, switches, web, classroom, bench)  # the help lists the commands in this order


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        """On a mistyped command or choice, say which one was probably meant."""
        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if wrong:
            choices = re.findall(r"'([^']*)'", wrong.group(2))
            if near := difflib.get_close_matches(wrong.group(1), choices, n=1):
                message = f"{message}\ndid you mean {near[0]!r}?"
        super().error(message)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in ORDER:
        for name, cmd in REGISTRY.items():
            if cmd.run.__module__ == module.__name__:
                cmd.arguments(sub.add_parser(name, help=cmd.help, description=cmd.help))
    return p


def main(argv: list[str] | None = None, lab: Lab | None = None) -> int:
    """Run one command; `lab` (a test's own lab) replaces the one .env describes."""
    args = parser().parse_args(argv)
    if lab is None and (guess := _unnamed_class_lab(args.command)):
        print(f"error: {guess}", file=sys.stderr)
        return Exit.BAD_SETTING
    if lab is None and args.command == "down" and "LAB_ID" not in os.environ and _class_running():
        print("(this stops your own lab, LAB_ID=0; the class's labs keep running: `lab class down` stops "
              "them)", file=sys.stderr)
    if lab is None:
        try:
            lab = Lab(config.load())
        except config.SettingError as err:
            print(f"error: {err}\n(fix it in .env or the environment; nothing was started)", file=sys.stderr)
            return Exit.BAD_SETTING
    try:
        return REGISTRY[args.command].run(lab, args)
    except LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return Exit.FAILED


NO_LAB_NEEDED = ("class", "show", "build")  # the commands that act on no one lab
# `make down` is never refused: it stops the teacher's own lab (lab 0), whatever runs
NEVER_AMBIGUOUS = ("down",)


def _unnamed_class_lab(command: str) -> str:
    """While a class runs, a command for one lab must say which: LAB_ID unset acts on
    lab 0 (the teacher's own), and the teacher may mean a learner's. A class that is
    down (`lab class down`) is in nobody's way."""
    ids = config.class_labs()
    if not ids or "LAB_ID" in os.environ or command in (*NO_LAB_NEEDED, *NEVER_AMBIGUOUS):
        return ""
    if not _class_running():
        return ""
    return (f"this machine runs a class (labs {ids[0]} to {ids[-1]}): say which lab with LAB_ID: "
            f"`LAB_ID=0 lab {command} ...` for your own lab, `LAB_ID={ids[0]} lab {command} ...` for the "
            f"first learner's")


def _class_running() -> bool:
    """Whether any container of the class's labs runs (one `docker ps`)."""
    ids = config.class_labs()
    try:
        running = docker.docker("ps", "--format", '{{.Label "com.docker.compose.project"}}').split()
    except (LabError, OSError):
        return False
    return any(f"{config.PROJECT}-{n}" in running for n in ids)


def entry() -> None:
    """The `lab` command and `python3 -m lab`."""
    try:
        sys.exit(main())
    except BrokenPipeError:  # `lab trace --last | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
