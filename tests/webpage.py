"""`lab web` (or `lab class web`) served from a thread of the test process, with its
own event loop, and browsers of a test's own, for the browser tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver

from lab.web.browser import open_browser

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


@contextmanager
def browser_session(driver_url: str, language: str, failure_shot: Path) -> Iterator[WebDriver]:
    """A browser of the test's own, closed at the end; a screenshot if the test fails."""
    driver = open_browser(driver_url, language)
    try:
        yield driver
    except BaseException:
        failure_shot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(failure_shot))
        raise
    finally:
        driver.quit()


READ_ALL = ("return [...document.querySelectorAll(arguments[0])].map(e => "
            "({text: e.textContent, data: {...e.dataset}, cls: e.getAttribute('class') || ''}))")


def read_all(driver: WebDriver, selector: str) -> list[dict]:
    """Every element `selector` finds, read in one step inside the page: the page draws
    its lists whole at each change, so an element handle taken before one goes stale."""
    return driver.execute_script(READ_ALL, selector)
