"""A real browser for the web view (its tests, the bench, `make screenshot`): Debian's
Chromium and chromedriver in a container (images/browser/), driven with Selenium (a dev
dependency: the web view itself does not need it).

The container has no network at all (`--network none`), no capability and no root:
neither the driver nor the browser can be reached by anything on this machine, or
reach anything, but through Unix sockets in a folder only the suite's user may enter
(0700). Through them the suite drives chromedriver, and Chromium reaches the web views
the suite serves on 127.0.0.1 (each port given, relayed to the same port inside the
container, so that the page's address and Host are what a user's browser would see).
"""

from __future__ import annotations

import hashlib
import os
import pwd
import secrets
import shutil
import socket
import socketserver
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import urllib3
from selenium import webdriver
from selenium.webdriver.remote.client_config import ClientConfig
from selenium.webdriver.remote.remote_connection import RemoteConnection
from selenium.webdriver.remote.webdriver import WebDriver

from lab.config import REPO, STATE_DIR
from lab.docker import LabError, docker, images_present


def _image() -> str:
    """The image's name, tagged with a digest of its folder: a change to images/browser/
    (or another checkout's older copy of it) is another image, built when missing."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "images" / "browser").iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"maillab.test/browser:{digest.hexdigest()[:12]}"


IMAGE = _image()
STARTUP = 30.0  # seconds for chromedriver to answer
DRIVER_SOCKET = "driver.sock"
# What Selenium asks for: chromedriver answers only a Host of its own loopback (it
# refuses others, against DNS rebinding), whatever carries the request to it.
DRIVER_URL = "http://127.0.0.1:9515"


def _unused_uid() -> int:
    """A user id no account of this machine has: the browser's when the suite runs as
    root (as in CI). With a real account's (nobody's, say) that account could reach
    the driver's socket and start programs through it."""
    taken = {entry.pw_uid for entry in pwd.getpwall()}
    while (uid := 2**20 + secrets.randbelow(2**20)) in taken:
        pass
    return uid


def build_image() -> None:
    """(Re)build the browser's image: Docker's cache makes it quick when nothing changed."""
    try:
        docker("build", "-q", "-t", IMAGE, str(REPO / "images" / "browser"))
    except LabError as err:
        raise RuntimeError(f"could not build {IMAGE} (images/browser):\n{str(err)[-2000:]}") from None


def ensure_image() -> None:
    if not images_present(IMAGE):
        build_image()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _UnixConnection(urllib3.connection.HTTPConnection):
    """HTTP over a Unix socket (the host name in the URL is only what Host says)."""

    socket_path = ""

    def _new_conn(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout if isinstance(self.timeout, (int, float)) else None)
        sock.connect(self.socket_path)
        return sock


def _unix_pool(socket_path: str) -> type[urllib3.HTTPConnectionPool]:
    """A urllib3 pool class whose connections go to `socket_path`."""
    connection = type("Connection", (_UnixConnection,), {"socket_path": socket_path})
    return type("Pool", (urllib3.HTTPConnectionPool,), {"ConnectionCls": connection})


class _DriverConnection(RemoteConnection):
    """Selenium's connection to chromedriver, through the driver's Unix socket."""

    def __init__(self, socket_path: str) -> None:
        self._pool_class = _unix_pool(socket_path)
        super().__init__(client_config=ClientConfig(remote_server_addr=DRIVER_URL, timeout=120))

    def _get_connection_manager(self) -> urllib3.PoolManager:
        manager = urllib3.PoolManager(timeout=self._client_config.timeout)
        manager.pool_classes_by_scheme = {"http": self._pool_class}
        manager.key_fn_by_scheme = {"http": manager.key_fn_by_scheme["http"]}
        return manager


class _Relay(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Accepts the browser's connections on a Unix socket and carries each to
    127.0.0.1:port on this machine, byte for byte (HTTP, server-sent events, websockets)."""

    daemon_threads = True

    def __init__(self, path: Path, port: int) -> None:
        self.port = port

        class Carry(socketserver.BaseRequestHandler):
            def handle(handler) -> None:
                with socket.create_connection(("127.0.0.1", port)) as upstream:
                    _pump_both(handler.request, upstream)

        super().__init__(str(path), Carry)


def _pump_both(a: socket.socket, b: socket.socket) -> None:
    def pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join()


class Driver(str):
    """chromedriver's address for open_browser(): the path of its Unix socket."""


@contextmanager
def chromedriver(name: str, ports: Iterable[int] = ()) -> Iterator[Driver]:
    """A running chromedriver whose Chromium reaches 127.0.0.1:PORT for each of
    `ports` (the suite's web views) and nothing else. The container goes when the
    block ends."""
    ensure_image()
    ports = tuple(ports)
    STATE_DIR.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="browser-", dir=STATE_DIR))  # 0700: the suite's alone
    uid = os.getuid() or _unused_uid()
    relays = [_Relay(folder / f"web-{port}.sock", port) for port in ports]
    if os.getuid() == 0:  # the browser's user must reach its end of the sockets
        for path in (folder, *(folder / f"web-{port}.sock" for port in ports)):
            os.chown(path, uid, uid)
    for relay in relays:
        threading.Thread(target=relay.serve_forever, daemon=True).start()
    docker("rm", "-f", name, check=False)
    docker("run", "-d", "--rm", "--name", name, "--network", "none",
           "--user", f"{uid}:{uid}", "--cap-drop", "ALL", "--security-opt", "no-new-privileges:true",
           "--read-only", "--tmpfs", "/tmp", "--shm-size", "256m", "--memory", "1g",
           "-e", "HOME=/tmp", "-v", f"{folder}:/relay", IMAGE, *map(str, ports))
    driver = Driver(folder / DRIVER_SOCKET)
    try:
        _wait_for_driver(driver, name)
        yield driver
    finally:
        docker("rm", "-f", name, check=False)
        for relay in relays:
            relay.shutdown()
            relay.server_close()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_driver(driver: Driver, name: str) -> None:
    pool = _unix_pool(str(driver))("127.0.0.1", 9515, timeout=2, retries=False)
    deadline = time.monotonic() + STARTUP
    while True:
        try:
            if b'"ready":true' in pool.request("GET", "/status").data.replace(b" ", b""):
                return
        except (OSError, urllib3.exceptions.HTTPError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"chromedriver did not answer in {STARTUP:.0f} s (docker logs {name})")
        time.sleep(0.2)


def open_browser(driver: Driver, language: str = "en") -> WebDriver:
    """A headless Chromium whose pages ask for `language` first (Accept-Language).
    (--no-sandbox: Chromium's own sandbox needs user namespaces, which Docker's seccomp
    profile refuses; the container, with no network, capability or root, is the sandbox.)"""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1100", f"--lang={language}"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"intl.accept_languages": language})
    return webdriver.Remote(_DriverConnection(str(driver)), options=options)


if __name__ == "__main__":  # `make test`, `make bench` and `make screenshot` build it first
    build_image()
