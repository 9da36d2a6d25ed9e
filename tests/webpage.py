"""`lab web` (or `lab class web`) served from a thread of the test process, with its
own event loop, for the browser tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine

Serve = Callable[[tuple[int, ...], Callable[[], None], asyncio.Event], Coroutine[None, None, None]]


class Served(threading.Thread):
    def __init__(self, serve: Serve, ports: tuple[int, ...]) -> None:
        super().__init__(daemon=True)
        self.serve = serve
        self.ports = ports
        self.url = f"http://127.0.0.1:{ports[-1]}"
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        try:
            self.loop.run_until_complete(self.serve(self.ports, self.ready.set, self.stopping))
        except BaseException as err:  # reported by start_serving()
            self.error = err
            self.ready.set()

    def start_serving(self) -> Served:
        self.start()
        assert self.ready.wait(30), "the web view did not start in 30 s"
        assert self.error is None, self.error
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.join(15)
