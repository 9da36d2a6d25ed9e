"""`lab class ...`: a class on one server, labs 1..N (lab/classroom.py)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lab import classroom
from lab.commands import Exit, command
from lab.commands.web import Serve, port_argument, serve_until_stopped
from lab.compose import Lab


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("up", help="start labs 1..N (no host ports); running again changes nothing")
    start.add_argument("count", type=int, metavar="N", help="how many labs (one per learner)")
    start.add_argument("--first", type=int, default=1, metavar="K",
                       help="the first lab's LAB_ID (default 1: labs 1..N)")
    actions.add_parser("status", help="one row per lab: health, each exercise's progress, the last action")
    export = actions.add_parser("export", help="the same as CSV, for grading")
    export.add_argument("--output", "-o", type=Path, help="write to this file (default: standard output)")
    page = actions.add_parser("web", help="the same table in a browser, live, until Ctrl-C")
    port_argument(page)
    actions.add_parser("down", help="stop every lab of the class; mailboxes and queues are kept")
    actions.add_parser("clean", help="stop every lab and delete its volumes; the class is forgotten")


@command("class", _arguments)
def class_(lab: Lab, args: argparse.Namespace) -> Exit:
    """a class on this server: lab class up N | status | export | web | down | clean"""
    if args.action == "up":
        print(f"Starting a class of {args.count} labs, {classroom.PARALLEL_STARTS} at a time ...", flush=True)
        started = time.monotonic()
        ok = classroom.up(args.count, lambda line: print(line, flush=True), first=args.first)
        took = time.monotonic() - started
        print(f"{'All' if ok else 'Not all'} {args.count} labs healthy after {took:.0f} s. A learner works "
              "in lab N with LAB_ID=N, e.g. `LAB_ID=3 make shell SERVICE=client-x`.")
        return Exit.OK if ok else Exit.FAILED
    if args.action == "web":
        def serve() -> Serve:
            from lab.web import classpage
            return classpage.serve

        return serve_until_stopped(lab, args.port, "class page", serve, "the labs keep running")
    if args.action in ("down", "clean"):
        classroom.down(volumes=args.action == "clean", report=lambda line: print(line, flush=True))
        return Exit.OK
    rows = classroom.status()
    if args.action == "status":
        print(classroom.table(rows))
    elif args.output:
        args.output.write_text(classroom.export(rows))
        print(f"{len(rows)} labs written to {args.output}", file=sys.stderr)
    else:
        print(classroom.export(rows), end="")
    return Exit.OK if all(r.health == "healthy" for r in rows) else Exit.FAILED
