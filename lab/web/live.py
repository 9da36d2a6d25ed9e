"""The running lab, followed as it changes, for the web view.

Nothing here polls the mail servers. Three sources wake it:
- the providers' logs, followed (`docker logs --follow`): every line is parsed by
  lab/maillog.py and kept, and the mail and spool parts are built again;
- Docker's events for this project (a container started, stopped, killed; a network
  cable connected or cut): the machines part;
- the journal of `lab` commands (.lab/<project>/journal.jsonl: faults, switches,
  resets, checks), looked at once a second with one stat(): the machines part, and
  the mail part after a reset (the page, like `lab check`, shows what came after it).
Each part is rebuilt in a thread (the lab's modules call Docker), at most once per
burst of changes, and sent to every open page only if it changed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lab import docker, maillog
from lab.compose import Lab, LabError
from lab.config import PROVIDERS
from lab.journal import Journal
from lab.web import views

BURST = 0.05  # seconds: lines that come together are shown together
# The lines kept of each provider's log: a window, not all of them, so that a page
# open for days on a busy lab holds a bounded memory (about 10 MB a provider). The
# page shows what these lines tell; `lab trace` and `lab check` read the whole log.
LOG_WINDOW = 20000
JOURNAL_LOOK = 1.0  # seconds between two stat() of the journal
PARTS = ("mail", "machines", "spool")


class Publisher:
    """Parts of a page, each sent whole to every open page whenever it changes."""

    def __init__(self, parts: tuple[str, ...]) -> None:
        self.parts: dict[str, Any] = {}
        self._subscribers: set[asyncio.Queue[tuple[str, str]]] = set()
        self._wake = {part: asyncio.Event() for part in parts}
        self.builds = dict.fromkeys(parts, 0)  # how often each part was rebuilt

    def subscribe(self) -> asyncio.Queue[tuple[str, str]]:
        """A queue of (part, JSON) for one page: every part now, then each change."""
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        for part, value in self.parts.items():
            queue.put_nowait((part, json.dumps(value)))
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[tuple[str, str]]) -> None:
        self._subscribers.discard(queue)

    @property
    def watchers(self) -> int:
        """The pages that follow it now."""
        return len(self._subscribers)

    def mark(self, *parts: str) -> None:
        """These parts may have changed: build them again soon."""
        for part in parts:
            self._wake[part].set()

    async def run(self) -> None:
        """Follow what the parts are made of, and rebuild them, until cancelled."""
        raise NotImplementedError

    def _builder(self, part: str) -> Callable[[], Any]:
        raise NotImplementedError

    async def _rebuild(self, part: str, pause: float = BURST) -> None:
        """Build `part` again (in a thread: the lab's modules call Docker) each time it is
        marked, at most once per burst of marks; publish it if it changed."""
        while True:
            await self._wake[part].wait()
            await asyncio.sleep(pause)
            self._wake[part].clear()
            build = self._builder(part)
            try:
                value = await asyncio.to_thread(build)
            except (LabError, OSError) as err:  # e.g. the lab went down under the page
                value = {"error": str(err)}
            self.builds[part] += 1
            if value != self.parts.get(part):
                self.parts[part] = value
                message = (part, json.dumps(value))
                for queue in self._subscribers:
                    queue.put_nowait(message)


class LiveLab(Publisher):
    def __init__(self, lab: Lab, events: EventHub | None = None) -> None:
        super().__init__(PARTS)
        self.lab = lab
        self.events = events
        self.journal = Journal(lab.settings)
        self.logs: dict[str, deque[maillog.LogLine]] = {
            p.service: deque(maxlen=LOG_WINDOW) for p in PROVIDERS}
        self._started = {p.service: asyncio.Event() for p in PROVIDERS}
        self.since = self.journal.since
        self._ready_later: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references

    # --- following the lab ---------------------------------------------------------------

    async def run(self) -> None:
        self.mark(*PARTS)
        await asyncio.gather(
            *(self._rebuild(part) for part in PARTS), self._docker_events(), self._journal(),
            *(self._follow(p.service) for p in PROVIDERS))

    def _builder(self, part: str) -> Callable[[], Any]:
        if part == "machines":
            return lambda: views.machines(self.lab)
        if part == "spool":
            return lambda: views.spools(self.lab)
        # the lines as they are now, copied here in the loop's thread, where they grow
        logs = {service: sorted(lines, key=lambda line: line.time) for service, lines in self.logs.items()}
        return lambda: views.mail(self.lab.settings, logs, self.since)

    async def _follow(self, service: str) -> None:
        """Keep a provider's log lines as they are written, across restarts and recreations."""
        last = 0.0
        recent: deque[str] = deque(maxlen=500)  # lines already kept, met again after a restart
        while True:
            try:
                container = await asyncio.to_thread(lambda: self.lab.containers().get(service, ""))
            except LabError:
                container = ""
            if container:
                follower = await asyncio.create_subprocess_exec(
                    *docker.logs_command(container, since=last or None, timestamps=True, follow=True),
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                try:
                    streams = (follower.stdout, follower.stderr)
                    ends = await asyncio.gather(*(self._read(service, s, recent) for s in streams if s))
                    last = max([last, *ends])
                finally:
                    with contextlib.suppress(ProcessLookupError):
                        follower.kill()
                    await follower.wait()
            # the container stopped (or is not there): wait until Docker says it started
            self._started[service].clear()
            await self._started[service].wait()

    async def _read(self, service: str, stream: asyncio.StreamReader, recent: deque[str]) -> float:
        last = 0.0
        while raw := await stream.readline():
            text = raw.decode(errors="replace").rstrip("\n")
            if text in recent:
                continue
            recent.append(text)
            for line in maillog.parse(text):
                self.logs[service].append(line)
                last = max(last, line.time)
                self.mark("mail", "spool")
        return last

    async def _docker_events(self) -> None:
        """Containers and networks of this project changing state."""
        if self.events is not None:
            await self.events.follow(self._on_event)
        else:
            await docker_events(self._on_event)

    def _on_event(self, event: dict) -> None:
        project = self.lab.project
        attributes = event.get("Actor", {}).get("Attributes", {})
        action = event.get("Action", "")
        if event.get("Type") == "network":
            if attributes.get("name", "").startswith(f"{project}_"):
                self.mark("machines")
        elif attributes.get("com.docker.compose.project") == project and not action.startswith("exec_"):
            self.mark("machines", "spool")
            service = attributes.get("com.docker.compose.service", "")
            if action == "start":
                task = asyncio.create_task(self._when_ready(service))
                self._ready_later.add(task)
                task.add_done_callback(self._ready_later.discard)
                if service in self._started:
                    self._started[service].set()

    async def _when_ready(self, service: str) -> None:
        """A started container is "starting" until it says it serves: follow its log (as
        `make up` does) and draw it again then."""
        with contextlib.suppress(LabError):
            await asyncio.to_thread(self.lab.wait_healthy, 60.0, (service,))
        self.mark("machines")

    async def _journal(self) -> None:
        """Faults, switches, resets and checks, as `lab` records them."""
        paths = (self.journal.path, self.journal.progress_path)
        seen = [stamp(p) for p in paths]
        while True:
            await asyncio.sleep(JOURNAL_LOOK)
            now = [stamp(p) for p in paths]
            if now == seen:
                continue
            seen = now
            since = self.journal.since
            if since != self.since:  # a reset: the page starts over, as `lab check` does
                self.since = since
                for service, lines in self.logs.items():
                    kept = (line for line in lines if since is None or line.time >= since)
                    self.logs[service] = deque(kept, maxlen=LOG_WINDOW)
                self.mark("mail", "spool")
            self.mark("machines")


async def docker_events(handle: Callable[[dict], None]) -> None:
    """Call `handle` with each of Docker's events about containers and networks (all
    projects: a network's event carries no project label), as Docker reports them."""
    events = await asyncio.create_subprocess_exec(
        *docker.EVENTS, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    assert events.stdout
    try:
        while raw := await events.stdout.readline():
            handle(json.loads(raw))
    finally:
        with contextlib.suppress(ProcessLookupError):
            events.kill()
        await events.wait()


class EventHub:
    """One `docker events` for several pages' followers (a class server's labs), running
    while any of them follows."""

    def __init__(self) -> None:
        self._handlers: set[Callable[[dict], None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def follow(self, handle: Callable[[dict], None]) -> None:
        """Call `handle` with every event until cancelled."""
        self._handlers.add(handle)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(docker_events(self._each))
        try:
            await asyncio.Event().wait()
        finally:
            self._handlers.discard(handle)
            if not self._handlers and self._task is not None:
                self._task.cancel()
                self._task = None

    def _each(self, event: dict) -> None:
        for handle in list(self._handlers):
            handle(event)


def stamp(path: Path) -> tuple[float, int]:
    """A file's modification time and size, (0, 0) if it is not there."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return (0.0, 0)
    return (info.st_mtime, info.st_size)


class DaemonExecutor(concurrent.futures.ThreadPoolExecutor):
    """Each call in a thread of its own that the interpreter does not wait for at exit
    (asyncio takes a ThreadPoolExecutor only; none of its own threads is ever made)."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as err:
                future.set_exception(err)

        threading.Thread(target=run, daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass
