"""The class page (`lab class web`): `lab class status` in a browser, live.

One row per lab of the class on this server: health, each exercise's progress, the
last action, anything left on. The table is built by lab/classroom.py, as the
terminal's; it is built again when a lab's journal or progress file changes (one
stat() per file a second) or Docker reports one of the class's containers changing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web

from lab import classroom, config, exercises
from lab.journal import Journal
from lab.web import app
from lab.web.live import JOURNAL_LOOK, Publisher, docker_events, stamp

PART = "class"


class ClassLive(Publisher):
    def __init__(self) -> None:
        super().__init__((PART,))

    async def run(self) -> None:
        self.mark(PART)
        await asyncio.gather(self._rebuild(PART, pause=0.5), self._journals(), docker_events(self._on_event))

    def _builder(self, part: str) -> Callable[[], Any]:
        return table

    def _on_event(self, event: dict) -> None:
        project = event.get("Actor", {}).get("Attributes", {}).get("com.docker.compose.project", "")
        ours = {f"{config.PROJECT}-{n}" for n in config.class_labs()}
        if project in ours and not event.get("Action", "").startswith("exec_"):
            self.mark(PART)

    async def _journals(self) -> None:
        seen: list[tuple[float, int]] = []
        while True:
            journals = [Journal(lab.settings) for lab in classroom.labs()] if config.class_labs() else []
            now = [stamp(path) for j in journals for path in (j.path, j.progress_path)]
            if now != seen:
                seen = now
                self.mark(PART)
            await asyncio.sleep(JOURNAL_LOOK)


def table() -> dict[str, Any]:
    numbers = [e.number for e in exercises.all_exercises()]
    if not config.class_labs():
        return {"exercises": numbers, "rows": []}
    rows = classroom.status()
    return {"exercises": numbers, "rows": [
        {"lab_id": r.lab_id, "project": r.project, "health": r.health, "done": r.done,
         "cells": [classroom.progress_cell(r, n) for n in numbers], "last_action": r.last_action,
         "last_time": r.last_time, "left_on": r.left_on} for r in rows]}


async def class_page(request: web.Request) -> web.Response:
    ids = config.class_labs()
    return app.page(request, "class.html", exercises=exercises.all_exercises(), labs=list(ids))


def make_app(live: ClassLive, ports: tuple[int, ...]) -> web.Application:
    found = app.new_application()
    found[app.LIVE], found[app.PORTS] = live, ports
    found.router.add_get("/", class_page)
    found.router.add_get("/api/state", app.state)
    found.router.add_get("/events", app.events)
    found.router.add_static("/static", app.HERE / "static")
    return found


async def serve(ports: tuple[int, ...], ready: Callable[[], None] = lambda: None,
                stop: asyncio.Event | None = None) -> None:
    live = ClassLive()
    await app.run_site(make_app(live, ports), live, ports, ready, stop)
