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

from lab import cli, config
from lab.compose import Lab

ALLOWED = ("list", "show", "check", "reset", "trace", "status", "logs", "dial", "hangup", "fault",
           "restore", "quota-full", "retry-profile", "op25b", "greylist", "dmarc", "dkim", "open-relay",
           "relay-check", "nft")
TEACHERS_ONLY = ("--teacher",)  # `lab show --teacher N`: the model answers
HELP = ("Type the lab commands of the exercises here, as in the texts: lab reset, lab check 1, "
        "lab trace --last, lab fault b-down ... (`help` lists them; Ctrl-D closes this terminal).")


def refusal(words: list[str]) -> str:
    """Why this line is not run ("" if it may be)."""
    if not words or words[0] not in ALLOWED:
        return (f"`lab {words[0] if words else ''}` is not for this terminal; here: {', '.join(ALLOWED)}"
                if words else "")
    if any(word in TEACHERS_ONLY or word.startswith("--teacher=") for word in words):
        return "the teacher's pack is the teacher's: `lab show N` shows the exercise"
    if words[0] == "relay-check" and any(w == "host" or w.startswith("--from=host") for w in words):
        return "`lab relay-check --from host` tries the server's own ports: use --from outsider (or a client)"
    return ""


def run_line(lab: Lab, line: str) -> int | None:
    """Run one typed line; its exit code (None: nothing was run)."""
    try:
        words = shlex.split(line)
    except ValueError as err:
        print(f"lab: {err}")
        return None
    if words and words[0] == "lab":
        words = words[1:]
    if not words:
        return None
    if words[0] in ("help", "-h", "--help"):
        print(HELP)
        return None
    if why := refusal(words):
        print(f"lab: {why}")
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
            print("\n(stopped)")
        sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
