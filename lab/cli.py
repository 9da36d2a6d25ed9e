"""`lab` (also `python3 -m lab`): run the lab from the host.

    lab up        start the lab and wait until every service is healthy
    lab down      stop it; mailboxes and queues stay in their volumes
    lab clean     stop it and delete its volumes (mailboxes, queues)
    lab build     rebuild the images
    lab config    check .env and show every value derived from it
    lab shell S   a shell in service S (client-x, client-y, outsider, ...)
    lab logs S    service S's log (Postfix and Dovecot write theirs there)
    lab relay-check [--from V] [--server P] [--port N]
                  try every relay trick against a provider; exit 1 if any works
    lab fault F   cause a fault: b-down, partition, b-refuses, dns-down
    lab restore [F]  undo a fault (all of them, without F)
    lab retry-profile P [--provider S]   switch a running provider's retry schedule
    lab quota-full bounce|tempfail       what B's full mailboxes answer, live
    lab bench     measure start-up, latency, throughput, recovery, memory (make bench)

The learner's side (lab/exercises/):
    lab list      the exercises, with your progress
    lab show N [--ja|--en]   exercise N's text (Japanese with --ja, or when LANG=ja_*)
    lab check N   check your work on exercise N, step by step (exit 0: all done)
    lab reset     back to a clean lab in seconds: faults undone, queues and mailboxes
                  emptied, switches back to .env
    lab trace [MESSAGE-ID | --last]   one message's path through the lab, from the logs
    lab dial x|y, lab hangup x|y      connect a customer to its provider, or cut it off
    lab open-relay on|off             LAB SWITCH for exercise 5: A relays for anyone

LAB_ID=N selects a side-by-side lab with its own subnets and ports.
"""

from __future__ import annotations

import argparse
import difflib
import enum
import os
import re
import sys
import textwrap
import time

from lab import access, checker, config, faults, markdown, probes, relaycheck, trace
from lab import exercises as exercise_book
from lab.compose import Lab, LabError, compose_command
from lab.journal import Journal


class Exit(enum.IntEnum):
    OK = 0
    FAILED = 1  # the lab did not do what was asked (message says why)
    BAD_SETTING = 2  # .env or the command line is wrong; nothing was started


def _summary(lab: Lab, seconds: float) -> str:
    s = lab.settings
    rows = [
        ("dns", "ns.test: the lab's DNS, root of its internet", s.address("dns")),
        ("provider-a", "mx, smtp, pop.provider-a.test", s.address("provider-a")),
        ("provider-b", "mx, smtp, pop.provider-b.test", s.address("provider-b")),
        ("client-x", "X, a customer of A (on access-a)", s.address("client-x", "access-a")),
        ("client-y", "Y, a customer of B (on access-b)", s.address("client-y", "access-b")),
        ("outsider", "a stranger on the internet", s.address("outsider")),
    ]
    lines = [f"maillab is up: project {lab.project}, all {len(rows)} services healthy ({seconds:.1f} s)"]
    lines.append("")
    lines += [f"  {svc:<11} {addr:<13} {what}" for svc, what, addr in rows]
    lines += ["", "Accounts (passwords are set in .env):"]
    for acc in config.ACCOUNTS.values():
        lines.append(f"  {acc.address:<20} {acc.password_setting}={s.passwords[acc.password_setting]}")
    lines += ["", "On this machine (127.0.0.1), for a desktop mail client:"]
    for p in config.PROVIDERS:
        ports = ", ".join(f"{name} {s.host_port(p, port)}" for name, port in
                          (("SMTP", 25), ("submission", 587), ("POP3", 110), ("POP3S", 995)))
        lines.append(f"  {p.service}: {ports}")
    lines += [
        "",
        "Next: open a shell as X with `make shell SERVICE=client-x` and try",
        "  dig MX provider-b.test",
        "  swaks --server smtp.provider-a.test:587 --tls --auth-user x@provider-a.test \\",
        f"        --auth-password {s.passwords['X_PASSWORD']} \\",
        "        --from x@provider-a.test --to y@provider-b.test",
        "",
        "Learn step by step: `make lab` lists the exercises, `make show EX=1` opens the first.",
    ]
    return "\n".join(lines)


def _color() -> bool:
    """Colour only on a terminal, and never with NO_COLOR set."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def cmd_up(lab: Lab, args: argparse.Namespace) -> Exit:
    """start the lab and wait until every service is healthy"""
    print(f"Starting maillab (project {lab.project}) with {' '.join(compose_command())} ...", flush=True)
    seconds = lab.up()
    print(_summary(lab, seconds))
    return Exit.OK


def cmd_down(lab: Lab, args: argparse.Namespace) -> Exit:
    """stop the lab; mailboxes and queues are kept"""
    lab.down()
    print(f"maillab {lab.project} stopped; mailboxes and queues are kept (`make clean` deletes them).")
    return Exit.OK


def cmd_clean(lab: Lab, args: argparse.Namespace) -> Exit:
    """stop the lab and delete its volumes"""
    lab.down(volumes=True)
    Journal(lab.settings).start_over()  # what was done in the deleted lab no longer counts
    print(f"maillab {lab.project} stopped and its volumes deleted.")
    return Exit.OK


def cmd_build(lab: Lab, args: argparse.Namespace) -> Exit:
    """(re)build the images"""
    lab.build()
    return Exit.OK


def cmd_config(lab: Lab, args: argparse.Namespace) -> Exit:
    """check .env and show every derived value"""
    print(f"# .env is valid; project {lab.project} would use:")
    for key, value in sorted(config.compose_env(lab.settings).items()):
        print(f"{key}={value}")
    return Exit.OK


def cmd_shell(lab: Lab, args: argparse.Namespace) -> Exit:
    """a shell in a service's container"""
    cid = lab.container(args.service)
    os.execvp("docker", ["docker", "exec", "-it", cid, "bash"])


def cmd_logs(lab: Lab, args: argparse.Namespace) -> Exit:
    """a service's log (Postfix and Dovecot write there)"""
    sys.stdout.write(lab.logs(args.service, tail=args.tail))
    return Exit.OK


def cmd_relay_check(lab: Lab, args: argparse.Namespace) -> Exit:
    """try every relay trick against a provider; exit 1 if any works"""
    provider = next(p for p in config.PROVIDERS if p.service == args.server)
    where = "this machine, through 127.0.0.1" if args.vantage == probes.HOST else args.vantage
    print(f"Relay check of {provider.service} port {args.port}, from {where}:", flush=True)
    attempts = probes.relay_check(lab, args.vantage, provider, args.port)
    print(relaycheck.table(attempts))
    relayed = sum(a.relayed for a in attempts)
    Journal(lab.settings).record("relay-check", server=provider.service, vantage=args.vantage,
                                 port=args.port, attempts=len(attempts), relayed=relayed)
    return Exit.FAILED if relayed else Exit.OK


def cmd_fault(lab: Lab, args: argparse.Namespace) -> Exit:
    """cause a fault"""
    print(faults.FAULTS[args.fault].apply(lab))
    Journal(lab.settings).record("fault", name=args.fault)
    return Exit.OK


def cmd_restore(lab: Lab, args: argparse.Namespace) -> Exit:
    """undo a fault (all of them, without a name)"""
    if args.fault:
        print(faults.FAULTS[args.fault].restore(lab))
    else:
        faults.restore_all(lab)
        print("Every fault is undone: B runs and is connected, accepts mail, and the DNS answers.")
    Journal(lab.settings).record("restore", name=args.fault or "all")
    return Exit.OK


def cmd_retry_profile(lab: Lab, args: argparse.Namespace) -> Exit:
    """switch a provider's retry schedule, live"""
    faults.set_retry_profile(lab, args.provider, args.profile)
    print(f"{args.provider} now retries with the {args.profile!r} schedule: "
          + ", ".join(f"{k}={v}" for k, v in config.RETRY_PROFILES[args.profile].items()))
    return Exit.OK


def cmd_quota_full(lab: Lab, args: argparse.Namespace) -> Exit:
    """what B's full mailboxes answer, live"""
    faults.set_quota_full(lab, config.PROVIDER_B.service, args.mode)
    print(f"A full mailbox on provider-b now answers as in QUOTA_FULL={args.mode}.")
    return Exit.OK


def cmd_list(lab: Lab, args: argparse.Namespace) -> Exit:
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


def cmd_show(lab: Lab, args: argparse.Namespace) -> Exit:
    """an exercise's text, rendered"""
    exercise = exercise_book.get(args.number)
    color = _color()
    japanese_locale = (os.environ.get("LC_ALL") or os.environ.get("LANG") or "").startswith("ja")
    language = "ja" if args.ja or (japanese_locale and not args.en) else "en"
    print(markdown.render(exercise.text(language), color), end="")
    return Exit.OK


def cmd_check(lab: Lab, args: argparse.Namespace) -> Exit:
    """check your work on an exercise, step by step"""
    exercise = exercise_book.get(args.number)
    steps = exercise.steps
    print(f"Checking exercise {exercise.number}, {exercise.title} ({len(steps)} steps) ...", flush=True)

    color = _color()
    indent = " " * 11

    def report(number: int, outcome: checker.Outcome) -> None:
        mark = "PASS" if outcome.result.ok else "FAIL"
        if color:
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


def cmd_reset(lab: Lab, args: argparse.Namespace) -> Exit:
    """back to a clean lab in seconds"""
    from lab import reset

    print(f"Resetting maillab {lab.project} ...", flush=True)
    started = time.monotonic()
    reset.reset(lab)
    print(f"Clean again in {time.monotonic() - started:.1f} s: `lab check` now looks only at what "
          "happens from here on.")
    return Exit.OK


def cmd_trace(lab: Lab, args: argparse.Namespace) -> Exit:
    """one message's path through the lab, from the logs"""
    if not args.message_id and not args.last:
        raise LabError("say which message: lab trace MESSAGE-ID, or lab trace --last")
    found = trace.build(lab, None if args.last else args.message_id)
    print(trace.picture(found))
    path = trace.save(found, lab.settings.project)
    print(f"Mermaid picture for a report: {path.relative_to(config.REPO)}")
    Journal(lab.settings).record("trace", message_id=found.message_id, outcome=found.outcome)
    return Exit.OK


def cmd_dial(lab: Lab, args: argparse.Namespace) -> Exit:
    """connect a customer to its provider"""
    print(access.dial(lab, args.who))
    Journal(lab.settings).record("dial", who=args.who)
    return Exit.OK


def cmd_hangup(lab: Lab, args: argparse.Namespace) -> Exit:
    """cut a customer off its provider"""
    print(access.hangup(lab, args.who))
    Journal(lab.settings).record("hangup", who=args.who)
    return Exit.OK


def cmd_open_relay(lab: Lab, args: argparse.Namespace) -> Exit:
    """LAB SWITCH (exercise 5): provider-a relays for anyone"""
    on = args.state == "on"
    value = faults.open_relay(lab, on)
    Journal(lab.settings).record("open-relay", on=on)
    if on:
        print(f"LAB SWITCH: provider-a is now an OPEN RELAY (mynetworks = {value}): it relays mail for\n"
              "anyone, as badly configured servers once did. Only inside this lab. Undo: lab open-relay off")
    else:
        print(f"provider-a relays only for its customers again (mynetworks = {value}).")
    return Exit.OK


def cmd_bench(lab: Lab, args: argparse.Namespace) -> Exit:
    """measure start-up, latency, throughput, recovery, memory"""
    from lab import bench  # only here: the rest of the CLI does not need it

    print(bench.table(bench.run()))
    return Exit.OK


COMMANDS = {
    "up": cmd_up,
    "down": cmd_down,
    "clean": cmd_clean,
    "build": cmd_build,
    "config": cmd_config,
    "shell": cmd_shell,
    "logs": cmd_logs,
    "relay-check": cmd_relay_check,
    "fault": cmd_fault,
    "restore": cmd_restore,
    "retry-profile": cmd_retry_profile,
    "quota-full": cmd_quota_full,
    "bench": cmd_bench,
    "list": cmd_list,
    "show": cmd_show,
    "check": cmd_check,
    "reset": cmd_reset,
    "trace": cmd_trace,
    "dial": cmd_dial,
    "hangup": cmd_hangup,
    "open-relay": cmd_open_relay,
}


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
    p = Parser(
        prog="lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, func in COMMANDS.items():
        sp = sub.add_parser(name, help=(func.__doc__ or "").strip())
        if name in ("shell", "logs"):
            sp.add_argument("service", choices=config.SERVICES)
        if name == "logs":
            sp.add_argument("--tail", type=int, help="only the last N lines")
        if name == "relay-check":
            sp.add_argument("--from", dest="vantage", default="outsider", choices=probes.VANTAGE_POINTS,
                            help="where the attempts come from (host: through the published ports)")
            sp.add_argument("--server", default="provider-a", choices=[p.service for p in config.PROVIDERS])
            sp.add_argument("--port", type=int, default=25, choices=config.PUBLISHED_PORTS[:2])
        if name == "fault":
            sp.add_argument("fault", choices=faults.FAULTS)
        if name == "restore":
            sp.add_argument("fault", nargs="?", choices=faults.FAULTS)
        if name == "retry-profile":
            sp.add_argument("profile", choices=config.RETRY_PROFILES)
            sp.add_argument("--provider", default=config.PROVIDER_A.service,
                            choices=[p.service for p in config.PROVIDERS])
        if name == "quota-full":
            sp.add_argument("mode", choices=config.QUOTA_FULL_MODES)
        if name in ("show", "check"):
            sp.add_argument("number", type=int, metavar="N", help="the exercise's number (lab list)")
        if name == "show":
            sp.add_argument("--ja", action="store_true", help="the Japanese edition (default if LANG=ja_*)")
            sp.add_argument("--en", action="store_true", help="the English edition, whatever LANG says")
        if name == "trace":
            sp.add_argument("message_id", nargs="?", metavar="MESSAGE-ID")
            sp.add_argument("--last", action="store_true", help="the last message a customer sent")
        if name in ("dial", "hangup"):
            sp.add_argument("who", choices=sorted(access.CUSTOMERS))
        if name == "open-relay":
            sp.add_argument("state", choices=("on", "off"))
    return p


def main(argv: list[str] | None = None, lab: Lab | None = None) -> int:
    """Run one command; `lab` (a test's own lab) replaces the one .env describes."""
    args = parser().parse_args(argv)
    if lab is None:
        try:
            lab = Lab(config.load())
        except config.SettingError as err:
            print(f"error: {err}\n(fix it in .env or the environment; nothing was started)", file=sys.stderr)
            return Exit.BAD_SETTING
    try:
        return COMMANDS[args.command](lab, args)
    except LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return Exit.FAILED


def entry() -> None:
    """The `lab` command and `python3 -m lab`."""
    try:
        sys.exit(main())
    except BrokenPipeError:  # `lab trace --last | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
