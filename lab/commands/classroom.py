"""`lab class ...`: a class on one server, labs 1..N (lab/classroom.py)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from lab import classlinks, classroom, config
from lab.commands import Exit, command
from lab.commands.web import Serve, serve_until_stopped
from lab.compose import Lab, LabError
from lab.i18n import _


def _arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("up", help="start labs 1..N (no host ports); running again changes nothing")
    start.add_argument("count", type=int, metavar="N", help="how many labs (one per learner)")
    start.add_argument("--first", type=int, default=1, metavar="K",
                       help="the first lab's LAB_ID (default 1: labs 1..N)")
    actions.add_parser("status", help="one row per lab: health, each exercise's progress, the last action")
    export = actions.add_parser("export", help="the same as CSV, for grading")
    export.add_argument("--output", "-o", type=Path, help="write to this file (default: standard output)")
    page = actions.add_parser("web", help="the class in browsers: each learner's workspace behind their "
                                          "link, the teacher's page live; until Ctrl-C")
    page.add_argument("--bind", default="127.0.0.1", metavar="ADDR",
                      help="the address to listen on (default 127.0.0.1; any other needs TLS)")
    page.add_argument("--port", type=int, help="the port (default HOST_PORT_BASE+88: 10088)")
    page.add_argument("--name", action="append", default=[], metavar="HOST",
                      help="the name or address learners open (in their links; default: ADDR)")
    page.add_argument("--cert", type=Path, help="TLS: a certificate for the server's name (PEM)")
    page.add_argument("--key", type=Path, help="TLS: its private key (PEM)")
    page.add_argument("--lab-ca", action="store_true",
                      help="TLS: a certificate the lab makes for the server "
                           "(learners import .lab/tls/class-ca.crt)")
    page.add_argument("--idle", type=float, default=30, metavar="MINUTES",
                      help="close a terminal nobody typed in for this long (default 30)")
    links = actions.add_parser("links", help="each learner's secret link and the teacher's, as CSV: "
                                             "learner,lab,url")
    links.add_argument("--output", "-o", type=Path, help="write to this file, 0600 (default: output)")
    links.add_argument("--renew", type=int, metavar="K", help="a new link for learner K; the old one stops")
    actions.add_parser("down", help="stop every lab of the class; mailboxes and queues are kept")
    actions.add_parser("clean", help="stop every lab and delete its volumes; the class is forgotten")


@command("class", _arguments)
def class_(lab: Lab, args: argparse.Namespace) -> Exit:
    """a class on this server: lab class up N | status | export | web | links | down | clean"""
    if args.action == "up":
        print(_("Starting a class of {count} labs, {parallel} at a time ...").format(
            count=args.count, parallel=classroom.PARALLEL_STARTS), flush=True)
        started = time.monotonic()
        ok = classroom.up(args.count, lambda line: print(line, flush=True), first=args.first)
        took = time.monotonic() - started
        healthy = _("All {count} labs healthy after {seconds} s.") if ok else \
            _("Not all {count} labs healthy after {seconds} s.")
        print(healthy.format(count=args.count, seconds=f"{took:.0f}"),
              _("A learner works in lab N with LAB_ID=N, e.g. `LAB_ID=3 make shell SERVICE=client-x`."))
        return Exit.OK if ok else Exit.FAILED
    if args.action == "web":
        return _web(lab, args)
    if args.action == "links":
        return _links(args)
    if args.action in ("down", "clean"):
        classroom.down(volumes=args.action == "clean", report=lambda line: print(line, flush=True))
        return Exit.OK
    rows = classroom.status()
    if args.action == "status":
        print(classroom.table(rows))
    elif args.output:
        args.output.write_text(classroom.export(rows))
        print(_("{count} labs written to {file}").format(count=len(rows), file=args.output), file=sys.stderr)
    else:
        print(classroom.export(rows), end="")
    return Exit.OK if all(r.health == "healthy" for r in rows) else Exit.FAILED


def _web(lab: Lab, args: argparse.Namespace) -> Exit:
    from lab import tls

    names = tuple(args.name)
    cert, key = args.cert, args.key
    if (cert is None) != (key is None):
        raise LabError(_("TLS needs both: --cert FILE --key FILE"))
    if args.lab_ca and cert is None:
        cert, key = tls.class_certificate(list(names or (args.bind,)))
    if args.idle <= 0:
        raise LabError(_("--idle is a number of minutes above 0"))

    def serve() -> Serve:
        from lab.web import classserver
        options = classserver.Options(args.bind, names, cert, key, args.idle * 60)
        classserver.check_options(options)  # before anything listens: say why not
        return lambda ports, ready: classserver.serve(options, ports, ready)

    host = (names or (args.bind,))[0]
    # Translators: what `lab class web` serves ("maillab's class: open ... in a browser", "class stopped")
    return serve_until_stopped(lab, args.port or lab.settings.browser_port, _("class"), serve,
                               _("the labs keep running"), "https" if cert else "http", host,
                               _("the links, each learner's and yours: lab class links -o links.csv"))


def _links(args: argparse.Namespace) -> Exit:
    ids = config.class_labs()
    links = classlinks.renew(ids, args.renew) if args.renew else classlinks.ensure(ids)
    text = classlinks.table(links, ids, classlinks.base_url())
    if args.renew:
        renewed = _("learner {learner} (lab {lab_id}) has a new link; the old one no longer opens anything")
        print(renewed.format(learner=args.renew, lab_id=ids[args.renew - 1]), file=sys.stderr)
    if args.output:
        descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(text)
        print(_("{count} learners' links and the teacher's written to {file}").format(
            count=len(ids), file=args.output), file=sys.stderr)
    else:
        print(text, end="")
    return Exit.OK
