"""A real browser for the web view (its tests, the bench, `make screenshot`): Debian's
Chromium and chromedriver in a container on the host's network (images/browser/),
driven with Selenium (a dev dependency: the web view itself does not need it).

The container shares the host's network so that Chromium reaches `lab web` on
127.0.0.1, where it listens; chromedriver itself listens on loopback only.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.remote.webdriver import WebDriver

from lab.config import REPO

IMAGE = "maillab.test/browser:latest"
STARTUP = 30.0  # seconds for chromedriver to answer


def build_image() -> None:
    """(Re)build the browser's image: Docker's cache makes it quick when nothing changed."""
    done = subprocess.run(["docker", "build", "-q", "-t", IMAGE, str(REPO / "images" / "browser")],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"could not build {IMAGE} (images/browser):\n{done.stderr[-2000:]}")


def ensure_image() -> None:
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode:
        build_image()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def chromedriver(name: str) -> Iterator[str]:
    """A running chromedriver; its URL. The container goes when the block ends."""
    ensure_image()
    port = free_port()
    subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    subprocess.run(["docker", "run", "-d", "--rm", "--name", name, "--network", "host", "--shm-size", "256m",
                    IMAGE, f"--port={port}"], check=True, capture_output=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            try:
                with urllib.request.urlopen(f"{url}/status", timeout=2) as answer:
                    if b'"ready":true' in answer.read().replace(b" ", b""):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"chromedriver did not answer in {STARTUP:.0f} s (docker logs {name})")
            time.sleep(0.2)
        yield url
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def open_browser(driver_url: str, language: str = "en") -> WebDriver:
    """A headless Chromium whose pages ask for `language` first (Accept-Language)."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1100", f"--lang={language}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    return webdriver.Remote(driver_url, options=options)


if __name__ == "__main__":  # `make test`, `make bench` and `make screenshot` build it first
    build_image()
