"""`lab web`: serve the running lab's web view on 127.0.0.1 until Ctrl-C (and, for
`lab class web`, the class page the same way)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable, Coroutine

from lab.commands import Exit, command
from lab.compose import Lab, LabError
from lab.i18n import _

Serve = Callable[[tuple[int, ...], Callable[[], None]], Coroutine[None, None, None]]


def port_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int,
                        help="one port instead of HOST_PORT_BASE+80 and +88 (LAB_ID applied)")


def serve_until_stopped(lab: Lab, port: int | None, what: str, serve: Callable[[], Serve],
                        running: str = _("the lab keeps running"), scheme: str = "http",
                        host: str = "127.0.0.1", then: str = "") -> Exit:
    """Serve `what` at `port`, or at the lab's two web ports, until Ctrl-C. `serve` gives
    the coroutine function (imported only then: the web's libraries are optional)."""
    try:
        start = serve()
    except ImportError as err:
        raise LabError(_("the web view needs its libraries ({name} is missing): run `make web`, "
                         "which installs them into .venv").format(name=err.name)) from None
    s = lab.settings
    ports = (port,) if port else (s.web_port, s.browser_port)

    def ready() -> None:
        print(_("maillab's {what}: open {url} in a browser").format(
            what=what, url=f"{scheme}://{host}:{ports[-1]}/"), flush=True)
        if len(ports) > 1:
            print(_("(also at {url}, which Chrome refuses as an unsafe port)").format(
                url=f"{scheme}://{host}:{ports[0]}/"))
        if then:
            print(then)
        print(_("Ctrl-C stops it; {running}.").format(running=running), flush=True)

    # until SIGINT (Ctrl-C) or SIGTERM; a Ctrl-C that came before the server could catch it
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(start(ports, ready))
    print()
    print(_("{what} stopped; {running}.").format(what=what, running=running))
    return Exit.OK


@command("web", port_argument)
def web(lab: Lab, args: argparse.Namespace) -> Exit:
    """the lab, live in a browser at 127.0.0.1:<HOST_PORT_BASE+88> (and +80); Ctrl-C stops it"""
    if not lab.containers():
        raise LabError(_("lab {project} is not running: start it with `make up`, then `make web`").format(
            project=lab.project))

    def serve() -> Serve:
        from lab.web import app
        return lambda ports, ready: app.serve(lab, ports, ready)

    return serve_until_stopped(lab, args.port, _("web view of {project}").format(project=lab.project), serve)
