"""The `lab` terminal of the web workspace: a learner's own `lab` command, for one lab.

A learner in a class has no account on the server, yet the exercises say `lab reset`,
`lab fault b-down`, `lab trace --last`, `lab check 6`. This is where they type them:
a prompt (readline's line editing, on the terminal the page draws) that runs the
`lab` commands an exercise asks for, on this lab only. Each line is split as a shell
splits words (quotes honoured) and given to `lab`'s own parser: no shell ever reads
it, and LAB_ID is this lab's, whatever the line says. What a learner may not do is
refused with the reason: start or stop labs, the class, another terminal or the web
view, the benchmark, a teacher's pack (it holds the answers).

    python3 -m lab.console LAB_ID PROJECT ports|no-ports   (lab/web/terminal.py starts it)

Standard library only, as the rest of the host side.
"""

from __future__ import annotations

import contextlib
import shlex
import sys

from lab import cli, config, i18n
from lab.compose import Lab
from lab.i18n import _

ALLOWED = ("list", "show", "check", "reset", "trace", "status", "logs", "dial", "hangup", "fault",
           "restore", "quota-full", "retry-profile", "op25b", "greylist", "dmarc", "dkim", "open-relay",
           "relay-check", "nft")
PROGRAM = "lab"  # what a refusal begins with, as a program's message does
TEACHERS_ONLY = ("--teacher",)  # `lab show --teacher N`: the model answers
HELP = _("Type the lab commands of the exercises here, as in the texts: lab reset, lab check 1, "
         "lab trace --last, lab fault b-down ... (`help` lists them; Ctrl-D closes this terminal).")


def refusal(words: list[str]) -> str:
    """Why this line is not run ("" if it may be)."""
    if not words or words[0] not in ALLOWED:
        return (_("`lab {command}` is not for this terminal; here: {commands}").format(
            command=words[0], commands=", ".join(ALLOWED)) if words else "")
    if any(word in TEACHERS_ONLY or word.startswith("--teacher=") for word in words):
        return _("the teacher's pack is the teacher's: `lab show N` shows the exercise")
    if words[0] == "relay-check" and any(w == "host" or w.startswith("--from=host") for w in words):
        return _("`lab relay-check --from host` tries the server's own ports: use --from outsider (or a "
                 "client)")
    return ""


def run_line(lab: Lab, line: str) -> int | None:
    """Run one typed line; its exit code (None: nothing was run)."""
    try:
        words = shlex.split(line)
    except ValueError as err:
        print(f"{PROGRAM}: {err}")
        return None
    if words and words[0] == "lab":
        words = words[1:]
    if not words:
        return None
    if words[0] in ("help", "-h", "--help"):
        print(HELP)
        return None
    if why := refusal(words):
        print(f"{PROGRAM}: {why}")
        return None
    try:
        return cli.main(words, lab=lab)
    except SystemExit as done:  # argparse: a wrong argument, or --help
        return done.code if isinstance(done.code, int) else 2


def main(argv: list[str]) -> int:
    lab_id, project = int(argv[0]), argv[1]
    # as the server has it: a class's lab publishes no port (however .env is set)
    unpublished = argv[2:] == ["no-ports"]
    lab = Lab(config.load(lab_id=lab_id, project=project, in_class=True if unpublished else None))
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401  (line editing and history at the prompt)
    with i18n.use(i18n.choose()):  # the page's language (lab/web/terminal.py sets LANG)
        return _prompt(lab, lab_id)


def _prompt(lab: Lab, lab_id: int) -> int:
    print(HELP)
    while True:
        try:
            line = input(f"lab {lab_id}> ")
        except EOFError:
            print()
            return 0
        except KeyboardInterrupt:
            print()
            continue
        try:
            run_line(lab, line)
        except KeyboardInterrupt:
            print()
            print(_("(stopped)"))
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
