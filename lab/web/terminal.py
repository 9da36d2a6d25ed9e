"""The workspace's terminals: a shell in one of the lab's machines, on the page.

Each terminal is `docker exec -it <container> bash` on a pseudo-terminal of this server
(lab/docker.py), bridged to xterm.js in the page over a websocket: binary frames carry
the bytes both ways, a text frame `{"resize": [cols, rows]}` the page's size. The shell
is the one `make shell` opens, so what a learner types lands in its history, where
every check reads it. Besides the machines, the `lab` terminal is the learner's own
`lab` command (lab/console.py), limited to what an exercise asks a learner to type.

What a workspace offers comes from a fixed list (SHELLS), never from the request: a
name not on it is refused before anything runs, and no name is ever read by a shell.
A provider's shell runs as `nobody` in the group `postdrop`: it can read the queue
(`postqueue -p`, exercises 6 and 11) and the configuration, and change nothing. As
root, a learner in a class would hold the provider's capabilities and could write
without limit into its volumes, which live on the server's disk; the checks never read
a provider's history.

Limits: a lab has at most PER_LAB terminals open at once (more are refused before
anything starts), a frame at most MAX_FRAME bytes (the page sends a paste in pieces),
and what waits to reach a shell at most PENDING bytes (the page is then read no
further until the shell takes it: a megabyte pasted flows at the shell's pace, and
nobody else's terminal waits). A terminal nobody types in for `idle` seconds closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import WSMsgType, web

from lab import docker
from lab.compose import Lab, LabError

PER_LAB = 8
MAX_FRAME = 64 * 1024
PENDING = 256 * 1024
READ_SIZE = 64 * 1024
IDLE = 30 * 60.0  # seconds without a key typed; the teacher sets it (lab class web --idle)
SIZE_LIMITS = ((2, 500), (1, 300))  # columns, rows a page may ask for
CLOSE_IDLE = 4000  # websocket close codes the page explains (lab.js)
CLOSE_REVOKED = 4003
CLOSE_ENDED = 4001


@dataclass(frozen=True)
class Shell:
    service: str  # a Compose service, or CONSOLE
    user: str | None = None  # None: root, as `make shell`


CONSOLE = "lab"
SHELLS = {s.service: s for s in (
    Shell("client-x"), Shell("client-y"), Shell("outsider"), Shell("dns"),
    Shell("provider-a", "nobody:postdrop"), Shell(CONSOLE))}
ALWAYS = ("client-x", "client-y", "outsider", CONSOLE)
# The machines an exercise's text sends a learner to besides the clients (a test reads
# every `make shell SERVICE=...` of the texts against this).
FOR_EXERCISE = {1: ("dns",), 6: ("provider-a",), 11: ("provider-a",)}


def offered(exercise: int | None) -> tuple[str, ...]:
    """The terminals a workspace offers, on an exercise's page (or none: the lab's)."""
    return (*ALWAYS[:-1], *FOR_EXERCISE.get(exercise or 0, ()), CONSOLE)


class Refused(Exception):
    """A terminal that may not be opened; the message says why (the page shows it)."""


class Terminal:
    """One shell on one page: a pseudo-terminal here, a websocket there."""

    def __init__(self, key: str, pty: docker.Pty, container: str, token: str, idle: float) -> None:
        self.key, self.pty, self.container, self.token = key, pty, container, token
        self.idle = idle
        self.typed = time.monotonic()
        self.ws: web.WebSocketResponse | None = None
        self._room = asyncio.Event()  # set while what waits for the shell is under PENDING
        self._room.set()
        self._pending = bytearray()
        self._closing: tuple[int, str] | None = None
        self._stop = asyncio.Event()  # close(): from outside

    async def bridge(self, ws: web.WebSocketResponse) -> None:
        """Carry bytes both ways until either side ends, the terminal idles, or close()."""
        self.ws = ws
        tasks = [asyncio.ensure_future(t)
                 for t in (self._output(), self._input(), self._watch_idle(), self._stop.wait())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop = asyncio.get_running_loop()
            for remove in (loop.remove_reader, loop.remove_writer):
                with contextlib.suppress(ValueError, OSError):
                    remove(self.pty.fd)
            code, reason = self._closing or (CLOSE_ENDED, "the shell ended")
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=code, message=reason.encode()[:120])

    def close(self, code: int, reason: str) -> None:
        """End the bridge from outside (a revoked link, the server stopping)."""
        self._closing = self._closing or (code, reason)
        self._stop.set()

    async def _output(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.ws is not None
        while True:
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self.pty.fd, lambda f=readable: f.done() or f.set_result(None))
            try:
                await readable
            finally:
                loop.remove_reader(self.pty.fd)
            try:
                data = docker.read_pty(self.pty.fd, READ_SIZE)
            except BlockingIOError:
                continue
            if not data:  # the program ended (EIO on our end)
                return
            await self.ws.send_bytes(data)  # waits while the page is slow: reads no faster

    async def _input(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            if message.type == WSMsgType.BINARY:
                self.typed = time.monotonic()
                await self._room.wait()
                self._write(message.data)
            elif message.type == WSMsgType.TEXT:
                self._control(message.data)
            else:
                return

    def _control(self, text: str) -> None:
        """{"resize": [cols, rows]}: whole numbers in range, or nothing is done."""
        try:
            cols, rows = json.loads(text)["resize"]
        except (ValueError, TypeError, KeyError):
            return
        (low_c, high_c), (low_r, high_r) = SIZE_LIMITS
        if type(cols) is int and type(rows) is int and low_c <= cols <= high_c and low_r <= rows <= high_r:
            self.pty.resize(rows, cols)

    def _write(self, data: bytes) -> None:
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            written = docker.write_pty(self.pty.fd, bytes(self._pending[:READ_SIZE]))
        except BlockingIOError:
            written = 0
        except OSError:  # the program has gone: _output sees it end
            self._pending.clear()
            return
        del self._pending[:written]
        with contextlib.suppress(ValueError, OSError):
            loop.remove_writer(self.pty.fd)
        if self._pending:
            loop.add_writer(self.pty.fd, self._flush)
        if len(self._pending) >= PENDING:
            self._room.clear()
        else:
            self._room.set()

    async def _watch_idle(self) -> None:
        while True:
            left = self.typed + self.idle - time.monotonic()
            if left <= 0:
                minutes = self.idle / 60
                self._closing = (CLOSE_IDLE, f"closed after {minutes:g} minutes without a key typed")
                return
            await asyncio.sleep(min(left, 30))


class Terminals:
    """Every terminal this server has open, by lab (key), within the limits."""

    def __init__(self, idle: float = IDLE, per_lab: int = PER_LAB) -> None:
        self.idle, self.per_lab = idle, per_lab
        self.open: dict[str, set[Terminal]] = {}
        self._admitted: dict[str, int] = {}  # counted before anything starts: no race
        self._ending: set[asyncio.Task[None]] = set()

    def admit(self, key: str) -> None:
        if self._admitted.get(key, 0) >= self.per_lab:
            raise Refused(f"this lab has {self.per_lab} terminals open already: close one first")
        self._admitted[key] = self._admitted.get(key, 0) + 1

    def release(self, key: str) -> None:
        self._admitted[key] = max(0, self._admitted.get(key, 0) - 1)

    async def serve(self, request: web.Request, key: str, lab: Lab, shell: Shell, language: str,
                    still_allowed: Callable[[], bool] = lambda: True) -> web.StreamResponse:
        """Open `shell` of `lab` for this websocket request and bridge it until it ends."""
        self.admit(key)  # raises Refused: the caller answers 429
        try:
            ws = web.WebSocketResponse(max_msg_size=MAX_FRAME, heartbeat=30, autoping=True)
            await ws.prepare(request)
            try:
                terminal = await asyncio.to_thread(self._start, key, lab, shell, language)
            except (LabError, OSError) as err:
                await ws.close(code=CLOSE_ENDED, message=str(err).encode()[:120])
                return ws
            self.open.setdefault(key, set()).add(terminal)
            try:
                if still_allowed():  # revoked while it started
                    await terminal.bridge(ws)
            finally:
                self.open[key].discard(terminal)
                await self._end(terminal)
            return ws
        finally:
            self.release(key)

    def _start(self, key: str, lab: Lab, shell: Shell, language: str) -> Terminal:
        token = secrets.token_hex(16)
        rows, cols = 24, 80  # until the page says its size
        if shell.service == CONSOLE:
            locale = "ja_JP.UTF-8" if language == "ja" else "C.UTF-8"
            argv = [sys.executable, "-m", "lab.console", str(lab.settings.lab_id), lab.project,
                    "ports" if lab.settings.publish_ports else "no-ports"]
            pty = docker.spawn_pty(argv, rows, cols, env=console_environment(locale))
            return Terminal(key, pty, "", token, self.idle)
        container = lab.container(shell.service)
        pty = docker.exec_pty(container, ["bash"], rows, cols, token, user=shell.user)
        return Terminal(key, pty, container, token, self.idle)

    async def _end(self, terminal: Terminal) -> None:
        """Kill the program here, and what it left in the container, without waiting for
        the container (shutdown() waits for all of them at once)."""
        terminal.pty.end()
        if terminal.container:
            ending = docker.end_in_container(terminal.container, [terminal.token])
            task = asyncio.ensure_future(asyncio.to_thread(ending.wait))
            self._ending.add(task)
            task.add_done_callback(self._ending.discard)

    def close_lab(self, key: str, code: int, reason: str) -> None:
        for terminal in list(self.open.get(key, ())):
            terminal.close(code, reason)

    def count(self, key: str) -> int:
        return len(self.open.get(key, ()))

    async def shutdown(self, within: float = 1.5) -> None:
        """End every terminal: the programs here at once, the shells in the containers
        within `within` seconds (one `docker exec` per container, all at once)."""
        everything = [t for terminals in self.open.values() for t in terminals]
        by_container: dict[str, list[str]] = {}
        for terminal in everything:
            terminal.close(1001, "the server stopped")
            terminal.pty.end()
            if terminal.container:
                by_container.setdefault(terminal.container, []).append(terminal.token)
        self.open.clear()
        enders = [docker.end_in_container(c, tokens) for c, tokens in by_container.items()]
        waiting = [asyncio.ensure_future(asyncio.to_thread(p.wait)) for p in enders] + list(self._ending)
        if waiting:
            await asyncio.wait(waiting, timeout=within)
        for ender in enders:  # (a container that does not answer: its Docker CLI goes)
            with contextlib.suppress(ProcessLookupError):
                ender.kill()


def console_environment(locale: str) -> dict[str, str]:
    """The lab console's environment: this server's (the lab's settings come from it),
    with a terminal type and the page's language."""
    return {**os.environ, "TERM": "xterm-256color", "LANG": locale, "LC_ALL": locale}
