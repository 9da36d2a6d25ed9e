"""`lab web`: the running lab in a browser, at http://127.0.0.1:<HOST_PORT_BASE+88>/
(and +80, the port DESIGN.md names, which Chrome refuses to open: see lab/config.py).

aiohttp serves the pages (Jinja2 templates), the page's own script, style and the
server-sent events that keep the page live (lab/web/live.py), and each exercise's page
is the learner's workspace: its text, terminals into the lab's machines (websockets,
lab/web/terminal.py), the picture of mail moving and *Check my work*. Everything is
served from this package, and xterm.js from the nicegui package's copy of it (a
maintained wheel that ships it; Debian 12's libjs-xterm ships a broken build): no CDN,
no internet.

Safety: it listens on 127.0.0.1 only, and answers only requests whose Host is that
address or localhost (a DNS-rebinding page cannot reach it). Its terminals are the
shells `make shell` opens, for the one user of this machine who started it. A check
only reads; a POST asks for it with a header a cross-site form cannot send, from this
page's own origin. The same handlers serve a class (lab/web/classserver.py), each
under /lab/N/ and behind the learner's secret.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import importlib.util
import json
import secrets
import signal
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
from aiohttp import web
from markdown_it import MarkdownIt

from lab import checker, exercises, i18n, trace
from lab.compose import Lab, LabError
from lab.config import provider_of
from lab.journal import Journal
from lab.web import live as live_module
from lab.web import terminal, words
from lab.web.live import LiveLab, Publisher

HERE = Path(__file__).resolve().parent
LIVE: web.AppKey[Publisher] = web.AppKey("live", Publisher)
LAB: web.AppKey[Lab] = web.AppKey("lab", Lab)
PORTS: web.AppKey[tuple[int, ...]] = web.AppKey("ports", tuple)
# The Host values a server answers (a class server's own name); by default 127.0.0.1
# and localhost at PORTS. ORIGINS: the Origin values it accepts.
HOSTS: web.AppKey[frozenset[str]] = web.AppKey("hosts", frozenset)
SCHEME: web.AppKey[str] = web.AppKey("scheme", str)
TERMINALS: web.AppKey[terminal.Terminals] = web.AppKey("terminals", terminal.Terminals)
# Paths another site may send a browser to (a class's links, clicked in a mail program):
# top-level navigations only, checked by their own handler.
OPEN_PATHS: web.AppKey[tuple[str, ...]] = web.AppKey("open paths", tuple)
CHECK_HEADER = "X-Maillab-Check"  # set by the page's script; a cross-site form cannot set it
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
# The exercises' Markdown, without raw HTML: an address such as <y@provider-b.test> in
# the text stays text.
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# What every response says to the browser: run, load and connect to nothing but this
# server's own; never be framed (clickjacking); never guess a content type; tell no
# other site where the user came from.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# Sec-Fetch-Site (sent by every current browser): a request another page made
# ("cross-site", or "same-site": another port of 127.0.0.1) is refused before it costs
# any work, whatever it asks for (an <img> pointed at /message/..., a form, a script).
# "same-origin" is this page's own; "none" a typed address or a bookmark.
OWN_FETCHES = ("same-origin", "none")
FOREIGN = "maillab answers its own pages only: open it by its address\n"


@web.middleware
async def only_this_host(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a foreign Host (DNS rebinding), a request another site made, and a
    foreign Origin."""
    ports = request.app[PORTS]
    allowed = request.app.get(HOSTS) or {f"{name}:{port}" for name in ("127.0.0.1", "localhost")
                                         for port in ports}
    scheme = request.app.get(SCHEME, "http")
    if request.host not in allowed:
        return web.Response(status=403, text=f"this is maillab's web view: open {scheme}://{min(allowed)}/\n")
    opened = request.method == "GET" and request.path.startswith(request.app.get(OPEN_PATHS, ()) or ("\0",))
    if request.headers.get("Sec-Fetch-Site", "none") not in OWN_FETCHES and not opened:
        return web.Response(status=403, text=FOREIGN)
    # (a browser too old for Sec-Fetch-Site still names a foreign page's Origin on a
    # fetch or a form, whatever the method)
    origin = request.headers.get("Origin")
    if origin not in (None, *(f"{scheme}://{host}" for host in allowed)):
        return web.Response(status=403, text=FOREIGN)
    return await handler(request)


# xterm.js writes its colours and cell sizes into <style> elements it makes itself,
# which `default-src 'self'` refuses: the workspace's answer lets in the styles that
# carry its one-time nonce, which terminal.js gives to the elements xterm.js makes. No
# other inline style or script runs, and nothing a user wrote becomes markup anyway.
STYLE_NONCE: web.ResponseKey[str] = web.ResponseKey("style nonce", str)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)
    if nonce := response.get(STYLE_NONCE):
        response.headers["Content-Security-Policy"] += f"; style-src 'self' 'nonce-{nonce}'"


def new_application() -> web.Application:
    """An application with the guard and the headers every page of maillab has."""
    found = web.Application(middlewares=[only_this_host])
    found.on_response_prepare.append(security_headers)
    return found


def _language(request: web.Request) -> str:
    return words.choose(request.query.get("lang"), request.cookies.get("lang"),
                        request.headers.get("Accept-Language", ""))


language_of = _language  # the language of a request's page (?lang=, its cookie, the browser's)


@dataclass(frozen=True)
class Here:
    """The lab a request is about, as the server resolved it: the one lab of `lab web`,
    or the lab of /lab/N/ in a class once the learner's secret was checked."""

    lab: Lab
    live: LiveLab
    base: str = ""  # the lab's pages' prefix: "" for `lab web`, "/lab/7" in a class
    # whether the request's secret still opens this lab (a websocket asks again later)
    allowed: Callable[[], bool] = lambda: True


HERE_KEY: web.RequestKey[Here] = web.RequestKey("here", Here)


def here(request: web.Request) -> Here:
    found = request.get(HERE_KEY)
    return found if found is not None else Here(request.app[LAB], request.app[LIVE])


def _live(request: web.Request) -> Publisher:
    """What a page's events follow: its lab's, or the application's own (a class page)."""
    found = request.get(HERE_KEY)
    return found.live if found is not None else request.app[LIVE]


def page(request: web.Request, template: str, **values) -> web.Response:
    language = _language(request)
    found = request.get(HERE_KEY) if LAB not in request.app else here(request)
    lab = found.lab if found else None
    base = values.pop("base", found.base if found else "")
    path = request.path.removeprefix(base) or "/"
    said = words.table(language)
    with i18n.use(language):  # the lab's sentences in it (a trace's steps, a check's words)
        html = TEMPLATES.get_template(template).render(
            lang=language, w=said, words_json=json.dumps(said),
            project=lab.project if lab else "class", path=path, base=base, lab=lab, **values)
    response = web.Response(text=html, content_type="text/html")
    if request.query.get("lang") in words.LANGUAGES:
        response.set_cookie("lang", language, samesite="Strict", httponly=True)
    return response


async def index(request: web.Request) -> web.Response:
    return page(request, "index.html", settings=here(request).lab.settings)


async def message(request: web.Request) -> web.Response:
    lab = here(request).lab
    message_id = f"<{request.match_info['id']}>"  # aiohttp has decoded the path already
    try:
        found = await asyncio.to_thread(trace.build, lab, message_id)
    except LabError as err:
        raise web.HTTPNotFound(text=str(err)) from None
    recipient = found.lanes[-1][1]
    receiver = provider_of(recipient)
    stored = (await asyncio.to_thread(trace.stored_copy, lab, receiver, recipient, found.message_id)
              if receiver else None)
    headers = []
    if stored:
        parsed = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(stored)
        headers = [(name, str(value)) for name, value in parsed.items()][::-1]  # oldest at the bottom
    return page(request, "message.html", trace=found, story=trace.STORY, headers=headers,
                lanes=[name for name, _ in found.lanes])


async def exercise_list(request: web.Request) -> web.Response:
    progress = Journal(here(request).lab.settings).progress()
    return page(request, "exercises.html", exercises=exercises.all_exercises(), progress=progress)


def _exercise(request: web.Request) -> exercises.Exercise:
    try:
        return exercises.get(int(request.match_info["number"]))
    except (ValueError, LabError):
        raise web.HTTPNotFound(text="no such exercise: see /exercises") from None


async def exercise(request: web.Request) -> web.Response:
    """The workspace: the exercise's text, its terminals, the picture and the check."""
    found = _exercise(request)
    text = MARKDOWN.render(found.text(_language(request)))
    lab = here(request).lab
    progress = Journal(lab.settings).progress().get(found.number)
    nonce = secrets.token_urlsafe(16)
    response = page(request, "exercise.html", exercise=found, text=text, progress=progress,
                    settings=lab.settings, terminals=terminal.offered(found.number), style_nonce=nonce)
    response[STYLE_NONCE] = nonce
    return response


async def check(request: web.Request) -> web.Response:
    """The same check as `lab check N`, recorded the same way; PASS/FAIL per step."""
    if request.headers.get(CHECK_HEADER) != "1":
        raise web.HTTPForbidden(text="a check is run from the exercise's page\n")
    found = _exercise(request)
    lab = here(request).lab
    language = _language(request)

    def run() -> list[dict]:
        outcomes = checker.run_steps(lab, found.steps, lambda number, outcome: None, language=language)
        Journal(lab.settings).save_progress(found.number, sum(o.result.ok for o in outcomes), len(outcomes))
        return [{"title": o.title, "ok": o.result.ok, "detail": o.detail,
                 "hint": "" if o.result.ok else o.hint} for o in outcomes]

    steps = await asyncio.to_thread(run)
    return web.json_response({"exercise": found.number, "steps": steps,
                              "passed": sum(s["ok"] for s in steps), "total": len(steps)})


async def state(request: web.Request) -> web.Response:
    """Every part as the page has it now (for a script, or a curious reader)."""
    return web.json_response(_live(request).parts)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: each part of the page, whole, whenever it changes."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    live = _live(request)
    found = request.get(HERE_KEY)
    queue = live.subscribe()
    try:
        while True:
            try:
                part, data = await asyncio.wait_for(queue.get(), 2)
            except asyncio.TimeoutError:
                part = ""
            if found is not None and not found.allowed():  # a class's link renewed: the stream ends
                break
            if part:
                await response.write(f"event: {part}\ndata: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        live.unsubscribe(queue)
    return response


async def open_terminal(request: web.Request) -> web.StreamResponse:
    """A websocket: a terminal into one of the machines this page offers (or `lab`)."""
    found = here(request)
    service = request.match_info["service"]
    asked = request.query.get("exercise", "")
    number = int(asked) if asked.isdigit() and len(asked) <= 3 else None
    if service not in terminal.offered(number):
        raise web.HTTPForbidden(text="this workspace offers no such terminal\n")
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise web.HTTPBadRequest(text="a terminal is a websocket\n")
    try:
        shell = terminal.SHELLS[service]
        return await request.app[TERMINALS].serve(request, found.lab.project, found.lab, shell,
                                                   _language(request), found.allowed)
    except terminal.Refused as err:
        raise web.HTTPTooManyRequests(text=f"{err}\n") from None


XTERM = {"xterm.js": "index.js", "xterm.css": "xterm.css"}


def xterm_folder() -> Path | None:
    """Where the nicegui package keeps its build of xterm.js (found, never imported)."""
    spec = importlib.util.find_spec("nicegui")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "elements" / "xterm" / "dist"


async def vendor(request: web.Request) -> web.StreamResponse:
    name = XTERM.get(request.match_info["name"])
    folder = xterm_folder()
    if name is None or folder is None or not (folder / name).is_file():
        raise web.HTTPNotFound(text="xterm.js comes with the web view's libraries: run `make web`\n")
    return web.FileResponse(folder / name, headers={"Cache-Control": "max-age=3600"})


def add_lab_routes(app: web.Application, prefix: str = "") -> None:
    """One lab's pages under `prefix` (a class: /lab/{lab})."""
    app.router.add_get(prefix + "/", index)
    app.router.add_get(prefix + "/message/{id}", message)
    app.router.add_get(prefix + "/exercises", exercise_list)
    app.router.add_get(prefix + "/exercises/{number}", exercise)
    app.router.add_post(prefix + "/exercises/{number}/check", check)
    app.router.add_get(prefix + "/api/state", state)
    app.router.add_get(prefix + "/events", events)
    app.router.add_get(prefix + "/terminal/{service}", open_terminal)


def add_assets(app: web.Application) -> None:
    app.router.add_static("/static", HERE / "static")
    app.router.add_get("/vendor/{name}", vendor)


def make_app(lab: Lab, live: LiveLab, ports: tuple[int, ...],
             terminals: terminal.Terminals | None = None) -> web.Application:
    app = new_application()
    app[LAB], app[LIVE], app[PORTS] = lab, live, ports
    app[TERMINALS] = terminals or terminal.Terminals()
    add_lab_routes(app)
    add_assets(app)
    return app


async def serve(lab: Lab, ports: tuple[int, ...], ready: Callable[[], None] = lambda: None,
                stop: asyncio.Event | None = None) -> None:
    """Serve one lab's page on 127.0.0.1 at `ports` until `stop` is set (or the task is
    cancelled: Ctrl-C)."""
    live = LiveLab(lab)
    await run_site(make_app(lab, live, ports), live, ports, ready, stop)


async def run_site(application: web.Application, live: Publisher, ports: tuple[int, ...],
                   ready: Callable[[], None], stop: asyncio.Event | None, host: str = "127.0.0.1",
                   ssl_context=None) -> None:
    """Serve until `stop` is set, SIGINT or SIGTERM (when this runs the main thread's
    loop), or cancellation; then end every terminal and follower at once."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    # The lab's modules call Docker from threads; a call under way must not hold up the
    # end (an exit waits for the default executor's threads: a `lab web` once did not
    # end within 15 s of Ctrl-C): these threads do not.
    loop.set_default_executor(live_module.DaemonExecutor())
    signals = []
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stop.set)
            signals.append(number)
    runner = web.AppRunner(application, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    for port in ports:
        try:
            await web.TCPSite(runner, host, port, ssl_context=ssl_context).start()
        except OSError as err:
            await runner.cleanup()
            raise LabError(f"cannot listen on {host}:{port} ({err.strerror}): is another `lab web` "
                           "running? Use another port with `lab web --port N`") from None
    following = asyncio.create_task(live.run())
    ready()
    try:
        await stop.wait()
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
        await application[TERMINALS].shutdown() if TERMINALS in application else None
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await runner.cleanup()
