"""The learner's commands: the exercises, checking them, resetting the lab, tracing a
message, and the customers' dial-up."""

from __future__ import annotations

import argparse
import os
import textwrap
import time

from lab import access, checker, config, markdown, trace
from lab import exercises as exercise_book
from lab.commands import Exit, color, command
from lab.compose import Lab, LabError
from lab.journal import Journal


@command("list")
def list_exercises(lab: Lab, args: argparse.Namespace) -> Exit:
    """the exercises, with your progress"""
    progress = Journal(lab.settings).progress()
    print("Exercises (lab show N to read one, lab check N to check it):")
    for ex in exercise_book.all_exercises():
        p = progress.get(ex.number)
        mark = "done" if p and p["done"] else (f"{p['passed']}/{p['total']}" if p else "-")
        print(f"  {ex.number:>2}. {ex.title:<48} {mark}")
    done = sum(1 for p in progress.values() if p["done"])
    print(f"\n{done} of {len(exercise_book.all_exercises())} exercises done. Start with: lab show 1")
    return Exit.OK


def _number(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("number", type=int, metavar="N", help="the exercise's number (lab list)")


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    _number(parser)
    parser.add_argument("--ja", action="store_true", help="the Japanese edition (default if LANG=ja_*)")
    parser.add_argument("--en", action="store_true", help="the English edition, whatever LANG says")
    parser.add_argument("--teacher", action="store_true",
                        help="the teacher's pack: model answers, common stumbles, rubric, worksheet")
    parser.add_argument("--worksheet", action="store_true",
                        help="only the teacher's pack's printable worksheet (one A4 page)")


@command("show", _show_arguments)
def show(lab: Lab, args: argparse.Namespace) -> Exit:
    """an exercise's text (Japanese with --ja, or when LANG=ja_*); --teacher: its teacher's pack"""
    exercise = exercise_book.get(args.number)
    japanese_locale = (os.environ.get("LC_ALL") or os.environ.get("LANG") or "").startswith("ja")
    language = "ja" if args.ja or (japanese_locale and not args.en) else "en"
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
    print(f"Checking exercise {exercise.number}, {exercise.title} ({len(steps)} steps) ...", flush=True)

    colored = color()
    indent = " " * 11

    def report(number: int, outcome: checker.Outcome) -> None:
        mark = "PASS" if outcome.result.ok else "FAIL"
        if colored:
            mark = f"\033[{32 if outcome.result.ok else 31}m{mark}\033[0m"
        print(f"  [{mark}] {number}. {outcome.step.title}", flush=True)
        for line in outcome.result.detail.splitlines()[:6]:
            print(f"{indent}{line}")
        if not outcome.result.ok:
            print(textwrap.fill(f"hint: {outcome.step.hint}", markdown.WIDTH, initial_indent=indent,
                                subsequent_indent=indent + "      ", break_on_hyphens=False,
                                break_long_words=False))

    outcomes = checker.run_steps(lab, steps, report)
    passed = sum(o.result.ok for o in outcomes)
    Journal(lab.settings).save_progress(exercise.number, passed, len(steps))
    if passed == len(steps):
        print(f"\n{passed} of {len(steps)} steps done: exercise {exercise.number} is complete.")
        return Exit.OK
    print(f"\n{passed} of {len(steps)} steps done. "
          f"Read the hints above, or the exercise: lab show {exercise.number}")
    return Exit.FAILED


def _reset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overrides", action="store_true",
                        help="also clear the providers' settings of your own (overrides/, lab postconf)")


@command("reset", _reset_arguments)
def reset(lab: Lab, args: argparse.Namespace) -> Exit:
    """back to a clean lab in seconds: faults undone, queues and mailboxes emptied, switches back to .env"""
    from lab import overrides
    from lab import reset as resetting

    print(f"Resetting maillab {lab.project} ...", flush=True)
    started = time.monotonic()
    if args.overrides:
        for path in overrides.clear(lab.settings):
            print(f"  {path} deleted: the lab's own settings again")
    resetting.reset(lab)
    print(f"Clean again in {time.monotonic() - started:.1f} s: `lab check` now looks only at what "
          "happens from here on.")
    return Exit.OK


def _trace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("message_id", nargs="?", metavar="MESSAGE-ID")
    parser.add_argument("--last", action="store_true", help="the last message a customer sent")


@command("trace", _trace_arguments)
def trace_message(lab: Lab, args: argparse.Namespace) -> Exit:
    """one message's path through the lab, from the logs (MESSAGE-ID, or --last)"""
    if not args.message_id and not args.last:
        raise LabError("say which message: lab trace MESSAGE-ID, or lab trace --last")
    found = trace.build(lab, None if args.last else args.message_id)
    print(trace.picture(found))
    path = trace.save(found, lab.settings.project)
    print(f"Mermaid picture for a report: {path.relative_to(config.REPO)}")
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
