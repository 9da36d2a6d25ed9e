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


# --- the workspace's terminals ------------------------------------------------------------

SCREEN = ("const t = window.maillabTerminals && window.maillabTerminals[arguments[0]]; if (!t) return null;"
          "const b = t.term.buffer.active; const lines = [];"
          "for (let i = 0; i < b.length; i++) lines.push(b.getLine(i).translateToString(true));"
          "return {state: t.pane.dataset.state, code: t.pane.dataset.code || '', cols: t.term.cols,"
          " rows: t.term.rows, text: lines.join('\\n').trimEnd()};")


def screen(driver: WebDriver, service: str) -> dict | None:
    """What a terminal of the page shows (its whole buffer), and whether it is open."""
    return driver.execute_script(SCREEN, service)


def open_terminal(driver: WebDriver, service: str, prompt: str = "root@") -> dict:
    """Open a terminal with its button (or find it open) and wait for its prompt (the
    screen's lines lose their trailing blanks; each of bash's begins root@)."""
    from tests.harness import wait_until
    if screen(driver, service) is None:
        driver.find_element("css selector", f".open-terminal[data-service='{service}']").click()
    def shown() -> dict | None:
        s = screen(driver, service)
        return s if s and s["state"] == "open" and prompt in s["text"] else None

    return wait_until(shown, f"the {service} terminal's prompt", timeout=30)


def type_keys(driver: WebDriver, service: str, *lines: str, prompt: str = "root@",
              timeout: float = 60) -> str:
    """Type each line into the terminal as keys (xterm.js reads them from its text area)
    and wait for the next prompt before the next line; what the screen shows then."""
    from tests.harness import wait_until
    area = driver.find_element("css selector", f".terminal[data-service='{service}'] .xterm-helper-textarea")
    text = ""
    for line in lines:
        before = screen(driver, service)["text"].count(prompt)
        area.send_keys(line + "\n")
        text = wait_until(lambda b=before: (s := screen(driver, service)) and s["text"].count(prompt) > b
                          and s["text"], f"{line!r} to finish in {service}", timeout=timeout,
                          context=lambda: screen(driver, service)["text"][-2000:])
    return text


def check_my_work(driver: WebDriver) -> list[tuple[bool, str]]:
    """Press *Check my work* and wait for its steps: (passed, text) each."""
    from tests.harness import wait_until
    summary = driver.find_element("id", "check-summary")
    driver.execute_script("arguments[0].removeAttribute('data-passed')", summary)
    driver.find_element("id", "check").click()
    wait_until(lambda: summary.get_attribute("data-passed") is not None, "the check's result", timeout=90)
    return [(item["data"].get("ok") == "true", item["text"]) for item in read_all(driver, "#check-steps li")]
