"""`lab class web`: the whole class served to browsers, each learner in their own lab.

    /join/SECRET        a link of `lab class links`: sets the cookie, then the lab's page
    /lab/N/...          learner N's workspace: the lab web view's pages (lab/web/app.py)
    /teacher/           the class page (lab/web/classpage.py), with a link to each lab

Every request but /join/ must carry the cookie the link set (HttpOnly, SameSite=Strict,
Secure over TLS, this server's alone: it names its port), and its secret must open what
the request asks for: a learner's opens /lab/<their lab>/ and the assets, the teacher's
everything. Anything else is 403, before any work: another lab's number, the teacher's
page, a terminal the workspace does not offer. The secret leaves the address bar at
once (the join page moves on to /lab/N/), and no access log is written. The links file
is looked at on every request and every half second: a renewed link's old secret gets
403 at once, and its open terminals close.

Each lab's live picture (lab/web/live.py) runs while a page of it is open, and stops
a minute after the last one closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from lab import classlinks, config, exercises, i18n
from lab.compose import Lab, LabError
from lab.i18n import Text, _
from lab.web import app, classpage, terminal
from lab.web.live import EventHub, LiveLab

LOOK = 0.5  # seconds between two looks at the links file
LINGER = 60.0  # seconds a lab's live picture runs on after its last page closed
MAX_STREAMS = 16  # open event streams of one lab at once (each holds a queue here)
FORBIDDEN = _("this link does not open that page: use the link your teacher gave you")
TOO_MANY = _("too many pages of this lab are open")


def _said(request: web.Request, text: Text) -> str:
    """A refusal's plain text in the reader's language, and in English under it (the
    words a teacher may be sent, whatever the learner's browser speaks)."""
    language = app.language_of(request)
    return "".join(f"{line}\n" for line in dict.fromkeys([text.render(language), text.render(i18n.SOURCE)]))


def _forbidden(request: web.Request) -> web.HTTPForbidden:
    return web.HTTPForbidden(text=_said(request, FORBIDDEN))


@dataclass
class Options:
    bind: str = "127.0.0.1"
    names: tuple[str, ...] = ()  # what learners type (the URL's host): bind if empty
    cert: Path | None = None
    key: Path | None = None
    idle: float = terminal.IDLE

    @property
    def tls(self) -> bool:
        return self.cert is not None


def check_options(options: Options) -> None:
    """Refuse, with the reason, to serve a class anywhere but 127.0.0.1 without TLS."""
    if options.bind not in ("127.0.0.1",) and not options.tls:
        raise LabError(_(
            "a class served on {address} is read by every machine on that network: the learners' "
            "secrets and what they type would cross it in clear. Give it TLS: --cert FILE --key FILE "
            "(a certificate for the server's name, from your university say), or --lab-ca (the lab makes a "
            "certificate for it; learners import .lab/tls/class-ca.crt or accept the warning once). "
            "Without TLS, serve 127.0.0.1 only and reach it with ssh -L.").format(address=options.bind))
    if options.bind in ("0.0.0.0", "::") and not options.names:
        raise LabError(_("--bind {address} listens on every address: say with --name which name or "
                         "address the learners open (it goes into their links)").format(address=options.bind))


class Labs:
    """The class's labs, each with its live picture while someone looks at it."""

    def __init__(self) -> None:
        self.labs: dict[int, Lab] = {}
        self.live: dict[int, tuple[LiveLab, asyncio.Task[None]]] = {}
        self.streams: dict[int, int] = {}
        self._idle_since: dict[int, float] = {}
        self.events = EventHub()  # one `docker events` for all of them

    def lab(self, lab_id: int) -> Lab:
        if lab_id not in self.labs:
            self.labs[lab_id] = Lab(config.load(lab_id=lab_id, in_class=True))
        return self.labs[lab_id]

    def live_of(self, lab_id: int) -> LiveLab:
        if lab_id not in self.live:
            live = LiveLab(self.lab(lab_id), events=self.events)
            self.live[lab_id] = (live, asyncio.ensure_future(live.run()))
        self._idle_since.pop(lab_id, None)
        return self.live[lab_id][0]

    async def linger(self) -> None:
        """Stop the live pictures nobody has looked at for LINGER seconds."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(5)
            for lab_id, (live, task) in list(self.live.items()):
                if live.watchers:
                    self._idle_since.pop(lab_id, None)
                    continue
                since = self._idle_since.setdefault(lab_id, loop.time())
                if loop.time() - since >= LINGER:
                    task.cancel()
                    del self.live[lab_id]

    async def stop(self) -> None:
        tasks = [task for _, task in self.live.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.live.clear()


LINKS: web.AppKey[dict[str, Any]] = web.AppKey("links", dict)
LABS: web.AppKey[Labs] = web.AppKey("labs", Labs)
COOKIE: web.AppKey[str] = web.AppKey("cookie", str)
ROLE: web.RequestKey[int] = web.RequestKey("role", int)  # the lab the secret opens (0: teacher)


def _links(request: web.Request) -> classlinks.Links:
    """The links as the file says now (read again whenever it changed)."""
    state = request.app[LINKS]
    _reload(state)
    return state["links"]


def _reload(state: dict[str, Any]) -> bool:
    path = classlinks.links_file()
    try:
        info = path.stat()
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
    except FileNotFoundError:
        stamp = None
    if stamp == state.get("stamp"):
        return False
    state["stamp"], state["links"] = stamp, classlinks.read(path)
    return True


@web.middleware
async def admit(request: web.Request, handler: app.Handler) -> web.StreamResponse:
    """Let a request through only if its cookie's secret opens what it asks for."""
    if request.match_info.route.name == "join":
        return await handler(request)
    links = _links(request)
    secret = request.cookies.get(request.app[COOKIE], "")
    role = links.role(secret) if secret else None
    if role is None:
        raise _forbidden(request)
    asked = request.match_info.get("lab")
    if asked is not None:
        ids = config.class_labs()
        lab_id = int(asked) if asked.isdigit() and len(asked) <= 3 else -1
        if lab_id not in ids or role not in (classlinks.TEACHER, lab_id):
            raise _forbidden(request)
        labs = request.app[LABS]
        state = request.app[LINKS]

        def still() -> bool:
            _reload(state)
            return state["links"].role(secret) == role

        request[app.HERE_KEY] = app.Here(labs.lab(lab_id), labs.live_of(lab_id), f"/lab/{lab_id}", still)
        if request.path.endswith("/events"):
            return await _stream(request, handler, labs, lab_id)
    elif request.path.startswith("/teacher") and role != classlinks.TEACHER:
        raise _forbidden(request)
    request[ROLE] = role
    return await handler(request)


async def _stream(request: web.Request, handler: app.Handler, labs: Labs, lab_id: int) -> web.StreamResponse:
    if labs.streams.get(lab_id, 0) >= MAX_STREAMS:
        raise web.HTTPTooManyRequests(text=_said(request, TOO_MANY))
    labs.streams[lab_id] = labs.streams.get(lab_id, 0) + 1
    try:
        return await handler(request)
    finally:
        labs.streams[lab_id] -= 1


async def join(request: web.Request) -> web.Response:
    """A link of `lab class links`: keep its secret in a cookie, then go on to the lab.
    (A page that moves on, not a redirect: a SameSite=Strict cookie set on a visit that
    came from a mail program would not be sent along a redirect.)"""
    if request.headers.get("Sec-Fetch-Mode", "navigate") != "navigate":
        raise _forbidden(request)
    secret = request.match_info["secret"]
    role = _links(request).role(secret)
    if role is None:
        raise _forbidden(request)
    target = "/teacher/" if role == classlinks.TEACHER else f"/lab/{role}/exercises"
    html = (f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; url={target}">'
            f'<title>maillab</title><p><a href="{target}">maillab</a></p>')
    response = web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})
    response.set_cookie(request.app[COOKIE], secret, httponly=True, samesite="Strict", path="/",
                        secure=request.app[app.SCHEME] == "https")
    return response


async def home(request: web.Request) -> web.Response:
    role = request[ROLE]
    raise web.HTTPSeeOther("/teacher/" if role == classlinks.TEACHER else f"/lab/{role}/exercises")


async def teacher(request: web.Request) -> web.Response:
    ids = config.class_labs()
    return app.page(request, "class.html", exercises=exercises.all_exercises(), labs=list(ids),
                    base="/teacher", teacher=True)


async def _watch_links(application: web.Application) -> None:
    """A renewed link: close the terminals its old secret opened, at once."""
    state = application[LINKS]
    before = dict(state["links"].learners)
    while True:
        await asyncio.sleep(LOOK)
        if not _reload(state):
            continue
        now = state["links"].learners
        for lab_id, secret in before.items():
            if now.get(lab_id) != secret:
                project = application[LABS].lab(lab_id).project
                application[app.TERMINALS].close_lab(project, terminal.CLOSE_REVOKED, "this link was renewed")
        before = dict(now)


def make_app(options: Options, ports: tuple[int, ...], class_live: classpage.ClassLive) -> web.Application:
    application = web.Application(middlewares=[app.only_this_host, admit])
    application.on_response_prepare.append(app.security_headers)
    names = options.names or (options.bind,)
    if options.bind == "127.0.0.1":
        names = (*names, "127.0.0.1", "localhost")
    application[app.HOSTS] = frozenset(f"{name}:{port}" for name in names for port in ports)
    application[app.SCHEME] = "https" if options.tls else "http"
    application[app.PORTS] = ports
    application[app.LIVE] = class_live
    application[app.TERMINALS] = terminal.Terminals(idle=options.idle)
    application[COOKIE] = f"maillab-class-{ports[-1]}"
    application[app.OPEN_PATHS] = ("/join/",)
    application[LINKS] = {}
    _reload(application[LINKS])
    application[LABS] = Labs()
    application.router.add_get("/join/{secret}", join, name="join")
    application.router.add_get("/", home)
    application.router.add_get("/teacher/", teacher)
    application.router.add_get("/teacher/events", app.events)
    application.router.add_get("/teacher/api/state", app.state)
    app.add_lab_routes(application, "/lab/{lab}")
    app.add_assets(application)
    return application


def ssl_context(options: Options) -> ssl.SSLContext | None:
    if not options.tls:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(options.cert), str(options.key))
    return context


async def serve(options: Options, ports: tuple[int, ...], ready: Callable[[], None] = lambda: None,
                stop: asyncio.Event | None = None) -> None:
    check_options(options)
    classlinks.ensure(config.class_labs())
    class_live = classpage.ClassLive()
    application = make_app(options, ports, class_live)
    scheme = application[app.SCHEME]
    host = (options.names or (options.bind,))[0]
    url = f"{scheme}://{host}:{ports[-1]}" if ":" not in host else f"{scheme}://[{host}]:{ports[-1]}"
    classlinks.web_file().write_text(json.dumps({"url": url}) + "\n")
    labs = application[LABS]
    background = [asyncio.ensure_future(labs.linger()), asyncio.ensure_future(_watch_links(application))]
    try:
        await app.run_site(application, class_live, ports, ready, stop, host=options.bind,
                           ssl_context=ssl_context(options))
    finally:
        for task in background:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*background, return_exceptions=True)
        await labs.stop()
