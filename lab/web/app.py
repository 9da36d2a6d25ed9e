"""`lab web`: the running lab in a browser, at http://127.0.0.1:<HOST_PORT_BASE+88>/
(and +80, the port DESIGN.md names, which Chrome refuses to open: see lab/config.py).

aiohttp serves the pages (Jinja2 templates), the page's own script, style and the
server-sent events that keep the page live (lab/web/live.py). Everything is served
from this package: no CDN, no internet.

Safety: it listens on 127.0.0.1 only, and answers only requests whose Host is that
address or localhost (a DNS-rebinding page cannot reach it). It changes nothing in the
lab: the one thing it runs is an exercise's check, which only reads, and which a POST
asks for with a header a cross-site form cannot send, from this page's own origin.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import jinja2
from aiohttp import web
from markdown_it import MarkdownIt

from lab import checker, exercises, trace
from lab.compose import Lab, LabError
from lab.config import provider_of
from lab.journal import Journal
from lab.web import words
from lab.web.live import LiveLab, Publisher

HERE = Path(__file__).resolve().parent
LIVE: web.AppKey[Publisher] = web.AppKey("live", Publisher)
LAB: web.AppKey[Lab] = web.AppKey("lab", Lab)
PORTS: web.AppKey[tuple[int, ...]] = web.AppKey("ports", tuple)
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
    allowed = {f"{name}:{port}" for name in ("127.0.0.1", "localhost") for port in ports}
    if request.host not in allowed:
        return web.Response(status=403, text=f"this is maillab's web view: open http://127.0.0.1:{ports[-1]}/\n")
    if request.headers.get("Sec-Fetch-Site", "none") not in OWN_FETCHES:
        return web.Response(status=403, text=FOREIGN)
    # (a browser too old for Sec-Fetch-Site still names a foreign page's Origin on a
    # fetch or a form, whatever the method)
    origin = request.headers.get("Origin")
    if origin not in (None, *(f"http://{host}" for host in allowed)):
        return web.Response(status=403, text=FOREIGN)
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def new_application() -> web.Application:
    """An application with the guard and the headers every page of maillab has."""
    found = web.Application(middlewares=[only_this_host])
    found.on_response_prepare.append(security_headers)
    return found


def _language(request: web.Request) -> str:
    return words.choose(request.query.get("lang"), request.cookies.get("lang"),
                        request.headers.get("Accept-Language", ""))


def page(request: web.Request, template: str, **values) -> web.Response:
    language = _language(request)
    lab = request.app.get(LAB)
    html = TEMPLATES.get_template(template).render(
        lang=language, w=words.WORDS[language], words_json=json.dumps(words.WORDS[language]),
        project=lab.project if lab else "class", path=request.path, lab=lab, **values)
    response = web.Response(text=html, content_type="text/html")
    if request.query.get("lang") in words.LANGUAGES:
        response.set_cookie("lang", language, samesite="Strict", httponly=True)
    return response


async def index(request: web.Request) -> web.Response:
    return page(request, "index.html", settings=request.app[LAB].settings)


async def message(request: web.Request) -> web.Response:
    lab = request.app[LAB]
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
    progress = Journal(request.app[LAB].settings).progress()
    return page(request, "exercises.html", exercises=exercises.all_exercises(), progress=progress)


def _exercise(request: web.Request) -> exercises.Exercise:
    try:
        return exercises.get(int(request.match_info["number"]))
    except (ValueError, LabError):
        raise web.HTTPNotFound(text="no such exercise: see /exercises") from None


async def exercise(request: web.Request) -> web.Response:
    found = _exercise(request)
    text = MARKDOWN.render(found.text(_language(request)))
    progress = Journal(request.app[LAB].settings).progress().get(found.number)
    return page(request, "exercise.html", exercise=found, text=text, progress=progress)


async def check(request: web.Request) -> web.Response:
    """The same check as `lab check N`, recorded the same way; PASS/FAIL per step."""
    if request.headers.get(CHECK_HEADER) != "1":
        raise web.HTTPForbidden(text="a check is run from the exercise's page\n")
    found = _exercise(request)
    lab = request.app[LAB]

    def run() -> list[dict]:
        outcomes = checker.run_steps(lab, found.steps, lambda number, outcome: None)
        Journal(lab.settings).save_progress(found.number, sum(o.result.ok for o in outcomes), len(outcomes))
        return [{"title": o.step.title, "ok": o.result.ok, "detail": o.result.detail,
                 "hint": "" if o.result.ok else o.step.hint} for o in outcomes]

    steps = await asyncio.to_thread(run)
    return web.json_response({"exercise": found.number, "steps": steps,
                              "passed": sum(s["ok"] for s in steps), "total": len(steps)})


async def state(request: web.Request) -> web.Response:
    """Every part as the page has it now (for a script, or a curious reader)."""
    return web.json_response(request.app[LIVE].parts)


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: each part of the page, whole, whenever it changes."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    live = request.app[LIVE]
    queue = live.subscribe()
    try:
        while True:
            part, data = await queue.get()
            await response.write(f"event: {part}\ndata: {data}\n\n".encode())
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        live.unsubscribe(queue)
    return response


def make_app(lab: Lab, live: LiveLab, ports: tuple[int, ...]) -> web.Application:
    app = new_application()
    app[LAB], app[LIVE], app[PORTS] = lab, live, ports
    app.router.add_get("/", index)
    app.router.add_get("/message/{id}", message)
    app.router.add_get("/exercises", exercise_list)
    app.router.add_get("/exercises/{number}", exercise)
    app.router.add_post("/exercises/{number}/check", check)
    app.router.add_get("/api/state", state)
    app.router.add_get("/events", events)
    app.router.add_static("/static", HERE / "static")
    return app


async def serve(lab: Lab, ports: tuple[int, ...], ready: Callable[[], None] = lambda: None,
                stop: asyncio.Event | None = None) -> None:
    """Serve one lab's page on 127.0.0.1 at `ports` until `stop` is set (or the task is
    cancelled: Ctrl-C)."""
    live = LiveLab(lab)
    await run_site(make_app(lab, live, ports), live, ports, ready, stop)


async def run_site(application: web.Application, live: Publisher, ports: tuple[int, ...],
                   ready: Callable[[], None], stop: asyncio.Event | None) -> None:
    runner = web.AppRunner(application, shutdown_timeout=1, access_log=None)
    await runner.setup()
    for port in ports:
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
        except OSError as err:
            await runner.cleanup()
            raise LabError(f"cannot listen on 127.0.0.1:{port} ({err.strerror}): is another `lab web` "
                           "running? Use another port with `lab web --port N`") from None
    following = asyncio.create_task(live.run())
    ready()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await runner.cleanup()
