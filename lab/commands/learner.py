"""The learner's commands: the exercises, checking them, resetting the lab, tracing a
message, and the customers' dial-up. Every line they print is a marked sentence
(lab/i18n.py), shown in the language lab/cli.py chose (--ja, --en, LANGUAGE, LANG)."""

from __future__ import annotations

import argparse
import re
import time

from lab import access, checker, config, i18n, markdown, trace, tracedraw
from lab import exercises as exercise_book
from lab.commands import Exit, color, command
from lab.compose import Lab, LabError
from lab.i18n import _, ngettext
from lab.journal import Journal


@command("list")
def list_exercises(lab: Lab, args: argparse.Namespace) -> Exit:
    """the exercises, with your progress"""
    progress = Journal(lab.settings).progress()
    language = i18n.current()
    print(_("Exercises (lab show N to read one, lab check N to check it):"))
    for ex in exercise_book.all_exercises():
        p = progress.get(ex.number)
        mark = _("done") if p and p["done"] else (f"{p['passed']}/{p['total']}" if p else "-")
        title = ex.title_in(language)
        print(f"  {ex.number:>2}. {title}{' ' * max(1, 49 - markdown.width(title))}{mark}")
    done = sum(1 for p in progress.values() if p["done"])
    total = len(exercise_book.all_exercises())
    print()
    print(ngettext("{done} of {total} exercise done. Start with: lab show 1",
                   "{done} of {total} exercises done. Start with: lab show 1", total).format(
        done=done, total=total))
    return Exit.OK


def _number(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("number", type=int, metavar="N", help="the exercise's number (lab list)")


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    _number(parser)
    parser.add_argument("--teacher", action="store_true",
                        help="the teacher's pack: model answers, common stumbles, rubric, worksheet")
    parser.add_argument("--worksheet", action="store_true",
                        help="only the teacher's pack's printable worksheet (one A4 page)")


@command("show", _show_arguments)
def show(lab: Lab, args: argparse.Namespace) -> Exit:
    """an exercise's text (Japanese with --ja, or when LANG=ja_*); --teacher: its teacher's pack"""
    exercise = exercise_book.get(args.number)
    language = exercise_book.edition(i18n.current())
    if args.worksheet:
        text = exercise.worksheet(language)
    elif args.teacher:
        text = exercise.pack(language)
    else:
        text = exercise.text(language)
    print(markdown.render(text, color()), end="")
    return Exit.OK


@command("check", _number)
def check(lab: Lab, args: argparse.Namespace) -> Exit:
    """check your work on an exercise, step by step (exit 0: all done)"""
    exercise = exercise_book.get(args.number)
    steps = exercise.steps
    language = i18n.current()
    print(ngettext("Checking exercise {number}, {title} ({count} step) ...",
                   "Checking exercise {number}, {title} ({count} steps) ...", len(steps)).format(
        number=exercise.number, title=exercise.title_in(language), count=len(steps)), flush=True)

    colored = color()
    indent = " " * 11

    def report(number: int, outcome: checker.Outcome) -> None:
        # Translators: the mark of a step done, as the teachers' guide names it (PASS/FAIL)
        mark = i18n.render(_("PASS") if outcome.result.ok else _("FAIL"), outcome.language)
        if colored:
            mark = f"\033[{32 if outcome.result.ok else 31}m{mark}\033[0m"
        print(f"  [{mark}] {number}. {outcome.title}", flush=True)
        for line in outcome.detail.splitlines()[:6]:
            print(f"{indent}{line}")
        if not outcome.result.ok:
            print("\n".join(hanging(i18n.render(_("hint:"), outcome.language), outcome.hint, indent)))

    outcomes = checker.run_steps(lab, steps, report, language)
    passed = sum(o.result.ok for o in outcomes)
    Journal(lab.settings).save_progress(exercise.number, passed, len(steps))
    print()
    if passed == len(steps):
        print(ngettext("{passed} of {total} step done: exercise {number} is complete.",
                       "{passed} of {total} steps done: exercise {number} is complete.", len(steps)).format(
            passed=passed, total=len(steps), number=exercise.number))
        return Exit.OK
    print(ngettext("{passed} of {total} step done. Read the hints above, or the exercise: lab show {number}",
                   "{passed} of {total} steps done. Read the hints above, or the exercise: lab show {number}",
                   len(steps)).format(passed=passed, total=len(steps), number=exercise.number))
    return Exit.FAILED


def hanging(label: str, text: str, indent: str) -> list[str]:
    """`label text` wrapped to the terminal's width under `indent`, the lines after the
    first indented past the label."""
    under = indent + " " * (markdown.width(label) + 1)
    lines = wrap(f"{label} {text}", markdown.WIDTH - len(under))
    return [indent + lines[0], *(under + line for line in lines[1:])] if lines else []


NO_LINE_END = "「『([<"  # an opening bracket never ends a line
WHOLE = re.compile(r"<[^<>\s]*>|[^\s、。<>]*@[\w.-]+")  # an address, Japanese or not, is never cut


def wrap(text: str, columns: int) -> list[str]:
    """Wrap a hint: at spaces, and in Japanese between two wide characters, never before
    、。」 and the like nor after 「; a command, an address or a word is never cut (a
    hint's command must stay whole to be typed)."""
    pieces = []  # (unit, joined to the previous one without a space)
    for word in text.split():
        whole = [range(m.start() + 1, m.end()) for m in WHOLE.finditer(word)]
        start = 0
        for i in range(1, len(word)):
            before, here = word[i - 1], word[i]
            japanese = markdown.width(before) == markdown.width(here) == 2
            if japanese and here not in markdown.NO_LINE_START and before not in NO_LINE_END \
                    and not any(i in span for span in whole):
                pieces.append((word[start:i], start > 0))
                start = i
        pieces.append((word[start:], start > 0))
    lines, line = [], ""
    for unit, joined in pieces:
        glue = "" if joined or not line else " "
        if line and markdown.width(line + glue + unit) > columns:
            lines.append(line)
            line = unit
        else:
            line += glue + unit
    return [*lines, line] if line else lines


def _reset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overrides", action="store_true",
                        help=_("also clear the providers' settings of your own (overrides/, lab postconf)"))


@command("reset", _reset_arguments)
def reset(lab: Lab, args: argparse.Namespace) -> Exit:
    """back to a clean lab in seconds: faults undone, queues and mailboxes emptied, switches back to .env"""
    from lab import overrides
    from lab import reset as resetting

    print(_("Resetting maillab {project} ...").format(project=lab.project), flush=True)
    started = time.monotonic()
    if args.overrides:
        for path in overrides.clear(lab.settings):
            print(_("  {path} deleted: the lab's own settings again").format(path=path))
    resetting.reset(lab)
    print(_("Clean again in {seconds:.1f} s: `lab check` now looks only at what happens from here "
            "on.").format(
        seconds=time.monotonic() - started))
    return Exit.OK


def _trace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("message_id", nargs="?", metavar="MESSAGE-ID")
    parser.add_argument("--last", action="store_true", help="the last message a customer sent")


@command("trace", _trace_arguments)
def trace_message(lab: Lab, args: argparse.Namespace) -> Exit:
    """one message's path through the lab, from the logs (MESSAGE-ID, or --last)"""
    if not args.message_id and not args.last:
        raise LabError(_("say which message: lab trace MESSAGE-ID, or lab trace --last"))
    language = i18n.current()
    found = trace.build(lab, None if args.last else args.message_id)
    print(tracedraw.picture(found, language))
    path = tracedraw.save(found, lab.settings.project, language)
    print(_("Mermaid picture for a report: {path}").format(path=path.relative_to(config.REPO)))
    Journal(lab.settings).record("trace", message_id=found.message_id, outcome=found.outcome)
    return Exit.OK


def _who(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("who", choices=sorted(access.CUSTOMERS))


@command("dial", _who)
def dial(lab: Lab, args: argparse.Namespace) -> Exit:
    """connect a customer to its provider: lab dial x (or y)"""
    print(access.dial(lab, args.who))
    Journal(lab.settings).record("dial", who=args.who)
    return Exit.OK


@command("hangup", _who)
def hangup(lab: Lab, args: argparse.Namespace) -> Exit:
    """cut a customer off its provider: lab hangup x (or y)"""
    print(access.hangup(lab, args.who))
    Journal(lab.settings).record("hangup", who=args.who)
    return Exit.OK
