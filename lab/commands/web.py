"""`lab web`: serve the running lab's web view on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio

from lab.commands import Exit, command
from lab.compose import Lab, LabError


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int,
                        help="one port instead of HOST_PORT_BASE+80 and +88 (LAB_ID applied)")


@command("web", _arguments)
def web(lab: Lab, args: argparse.Namespace) -> Exit:
    """the lab, live in a browser at 127.0.0.1:<HOST_PORT_BASE+88> (and +80); Ctrl-C stops it"""
    try:
        from lab.web import app
    except ImportError as err:
        raise LabError(f"the web view needs its libraries ({err.name} is missing): run `make web`, "
                       "which installs them into .venv") from None
    if not lab.containers():
        raise LabError(f"lab {lab.project} is not running: start it with `make up`, then `make web`")
    s = lab.settings
    ports = (args.port,) if args.port else (s.web_port, s.browser_port)

    def ready() -> None:
        print(f"maillab's web view of {lab.project}: open http://127.0.0.1:{ports[-1]}/ in a browser",
              flush=True)
        if len(ports) > 1:
            print(f"(also at http://127.0.0.1:{ports[0]}/, which Chrome refuses as an unsafe port)")
        print("Ctrl-C stops it; the lab keeps running.", flush=True)

    try:
        asyncio.run(app.serve(lab, ports, ready))
    except KeyboardInterrupt:
        print("\nweb view stopped; the lab is still running.")
    return Exit.OK
