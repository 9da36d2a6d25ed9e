"""`lab` (also `python3 -m lab`): run the lab from the host. `lab --help` lists the
commands; each lives in a module of lab/commands/ by concern. LAB_ID=N selects a
side-by-side lab with its own subnets and ports. --ja or --en (before or after the
command) chooses the language of what it prints; without them LANGUAGE, LC_ALL, LANG do.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys

from lab import config, docker, i18n
from lab.commands import REGISTRY, Exit, admin, bench, classroom, learner, lifecycle, switches, web
from lab.compose import Lab, LabError
from lab.i18n import _

# the help lists the commands in this order
ORDER = (lifecycle, learner, switches, admin, web, classroom, bench)


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # type: ignore[override]
        """On a mistyped command or choice, say which one was probably meant."""
        wrong = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if wrong:
            choices = re.findall(r"'([^']*)'", wrong.group(2))
            if near := difflib.get_close_matches(wrong.group(1), choices, n=1):
                suggestion = _("did you mean '{command}'?").format(command=near[0])
                message = f"{message}\n{i18n.render(suggestion, i18n.choose())}"  # before --ja is read
        super().error(message)


def _language_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--ja", action="store_true", default=default,
                        help="speak Japanese (日本語で表示), whatever LANG says")
    parser.add_argument("--en", action="store_true", default=default, help="speak English, whatever LANG "
                                                                           "says")


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _language_options(p, False)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in ORDER:
        for name, cmd in REGISTRY.items():
            if cmd.run.__module__ == module.__name__:
                command = sub.add_parser(name, help=cmd.help, description=cmd.help)
                _language_options(command, argparse.SUPPRESS)  # given after the command: kept
                cmd.arguments(command)
    return p


def main(argv: list[str] | None = None, lab: Lab | None = None) -> int:
    """Run one command; `lab` (a test's own lab) replaces the one .env describes."""
    args = parser().parse_args(argv)
    with i18n.use(i18n.choose(ja=args.ja, en=args.en)):
        return _run(args, lab)


def _run(args: argparse.Namespace, lab: Lab | None) -> int:
    if lab is None and (guess := _unnamed_class_lab(args.command)):
        print(_("error: {message}").format(message=guess), file=sys.stderr)
        return Exit.BAD_SETTING
    if lab is None and args.command == "down" and "LAB_ID" not in os.environ and _class_running():
        print(_("(this stops your own lab, LAB_ID=0; the class's labs keep running: `lab class down` "
                "stops them)"), file=sys.stderr)
    if lab is None:
        try:
            lab = Lab(config.load())
        except config.SettingError as err:
            print(_("error: {message}").format(message=i18n.message(err)), file=sys.stderr)
            print(_("(fix it in .env or the environment; nothing was started)"), file=sys.stderr)
            return Exit.BAD_SETTING
    try:
        return REGISTRY[args.command].run(lab, args)
    except LabError as err:
        print(_("error: {message}").format(message=i18n.message(err)), file=sys.stderr)
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
    return _("this machine runs a class (labs {first} to {last}): say which lab with LAB_ID: "
             "`LAB_ID=0 lab {command} ...` for your own lab, `LAB_ID={first} lab {command} ...` for the "
             "first learner's").format(first=ids[0], last=ids[-1], command=command)


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
