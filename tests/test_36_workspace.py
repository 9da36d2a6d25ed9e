"""The learner's workspace of `lab web`: an exercise's page with terminals into the lab,
in the suite's Chromium. Keys are sent to xterm.js as a browser sends them; what they
type lands in the shells' histories, where the checks read it, so *Check my work*
passes after the reference solution typed into the page. Also: Japanese typed through
an input method, a resize the shell sees, limits (unknown terminals, a megabyte pasted,
shell metacharacters, an idle terminal), and Ctrl-C or SIGTERM ending `lab web` and
every shell it opened within 2 s.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import aiohttp
import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from lab import config, exercises
from lab.compose import Lab
from lab.config import PROVIDER_B, REPO
from lab.console import refusal
from lab.web import app, terminal
from lab.web.browser import chromedriver, free_port
from lab.web.live import LiveLab
from tests.conftest import LOG_DIR, PORTS_LAB
from tests.harness import wait_until
from tests.webpage import Served, browser_session, check_my_work, open_terminal, screen, type_keys

pytestmark = [PORTS_LAB]
SHOTS = LOG_DIR / "web"


@pytest.fixture(scope="module")
def served(ports_lab: Lab) -> Iterator[Served]:
    view = Served(lambda ports, ready, stop: app.serve(ports_lab, ports, ready, stop), (free_port(),))
    view.start_serving()
    yield view
    view.stop()


@pytest.fixture(scope="module")
def driver_url(served: Served) -> Iterator[str]:
    with chromedriver(f"maillab-test-workspace-{os.getpid()}", served.ports) as url:
        yield url


def history(lab: Lab, service: str) -> list[str]:
    lines = lab.run(service, "cat", config.SHELL_HISTORY).splitlines()
    return [line for line in lines if not line.startswith("#")]


def in_containers(lab: Lab, services: tuple[str, ...]) -> int:
    """How many processes of the lab's containers a workspace terminal started (they
    carry its token in their environment)."""
    script = "grep -lsz '^MAILLAB_TERMINAL=' /proc/[0-9]*/environ | wc -l"
    return sum(int(lab.run(s, "sh", "-c", script).strip() or 0) for s in services)


# --- typed into the page ------------------------------------------------------------------


def test_exercise_1_typed_into_the_page_passes_its_check(request, driver_url: str, served: Served,
                                                         ports_lab: Lab):
    with browser_session(driver_url, "en", SHOTS / f"{request.node.name}.png") as page:
        page.get(f"{served.url}/exercises/1")
        prompt = f"lab {ports_lab.settings.lab_id}>"
        open_terminal(page, "lab", prompt)
        out = type_keys(page, "lab", "lab reset", prompt=prompt)
        assert "Lab reset" in out or "reset" in out.lower()
        open_terminal(page, "client-x")
        type_keys(page, "client-x", f"dig MX {PROVIDER_B.domain}", f"dig {PROVIDER_B.mx}", "ip route")
        open_terminal(page, "dns")
        type_keys(page, "dns", f"cat /run/nsd/zones/{PROVIDER_B.domain}.zone")
        assert history(ports_lab, "client-x")[-3:] == [f"dig MX {PROVIDER_B.domain}", f"dig {PROVIDER_B.mx}",
                                                       "ip route"]
        steps = check_my_work(page)
        assert len(steps) == len(exercises.get(1).steps)
        assert all(ok for ok, _ in steps), steps
        # the lab's own command in the page says the same
        out = type_keys(page, "lab", "lab check 1", prompt=prompt)
        assert f"{len(steps)} of {len(steps)} steps done" in out or "All" in out, out[-600:]


def _cdp(driver: WebDriver, command: str, **params) -> dict:
    driver.command_executor._commands["cdp"] = ("POST", "/session/$sessionId/goog/cdp/execute")
    return driver.execute("cdp", {"cmd": command, "params": params})["value"]


def test_a_japanese_learner_types_through_an_input_method(request, driver_url: str, served: Served,
                                                          ports_lab: Lab):
    """Japanese composed as an IME composes it (the text under composition, then
    committed), on the Japanese page: it reaches bash as UTF-8 and its history byte for
    byte; exercise 15's step on ISO-2022-JP and CP932 passes from what was typed."""
    with browser_session(driver_url, "ja", SHOTS / f"{request.node.name}.png") as page:
        page.get(f"{served.url}/exercises/15")
        assert page.find_element("id", "check").text == "答え合わせ"
        open_terminal(page, "client-x")
        area = page.find_element("css selector", ".terminal[data-service='client-x'] .xterm-helper-textarea")
        area.click()
        for command in ("printf '①' | iconv -f UTF-8 -t ISO-2022-JP",
                        "printf '①' | iconv -f UTF-8 -t CP932 | od -An -tx1", "echo 日本語のメール"):
            before = screen(page, "client-x")["text"].count("root@")
            for part in re.split(r"([^\x00-\x7f]+)", command):
                if not part:
                    continue
                if part.isascii():
                    area.send_keys(part)
                else:  # as an IME: composing (reading shown, nothing sent), then the commit
                    _cdp(page, "Input.imeSetComposition", text=part, selectionStart=len(part),
                         selectionEnd=len(part))
                    _cdp(page, "Input.insertText", text=part)
            area.send_keys("\n")
            wait_until(lambda b=before: screen(page, "client-x")["text"].count("root@") > b, f"{command} run")
        shown = screen(page, "client-x")["text"]
        assert "日本語のメール\n" in shown and " 87 40" in shown  # ① in CP932 is 0x87 0x40
        assert history(ports_lab, "client-x")[-1] == "echo 日本語のメール"
        assert "printf '①' | iconv -f UTF-8 -t ISO-2022-JP" in history(ports_lab, "client-x")
        steps = dict(enumerate(check_my_work(page), 1))
        iconv_step = next(n for n, s in enumerate(exercises.get(15).steps, 1) if "CP932" in s.title)
        assert steps[iconv_step][0], steps  # "iconv refused what ISO-2022-JP lacks; CP932 has it"


PASTE = ("const area = document.querySelector(\".terminal[data-service='client-x'] .xterm-helper-textarea\");"
         "const data = new DataTransfer(); data.setData('text/plain', arguments[0]);"
         "area.dispatchEvent(new ClipboardEvent('paste', "
         "{clipboardData: data, bubbles: true, cancelable: true}));")


def test_a_paste_reaches_the_shell_and_a_selection_can_be_copied(request, driver_url: str,
                                                                 served: Served, ports_lab: Lab):
    """A paste as the browser delivers it (a clipboard event on xterm.js's text area),
    Japanese in it, then Enter typed; the screen's text selected is what it shows."""
    with browser_session(driver_url, "en", SHOTS / f"{request.node.name}.png") as page:
        page.get(f"{served.url}/exercises/2")
        open_terminal(page, "client-x")
        before = screen(page, "client-x")["text"].count("root@")
        page.execute_script(PASTE, "echo pasted 貼り付け")
        area = page.find_element("css selector", ".terminal[data-service='client-x'] .xterm-helper-textarea")
        area.send_keys("\n")
        wait_until(lambda: screen(page, "client-x")["text"].count("root@") > before, "the pasted line run")
        assert history(ports_lab, "client-x")[-1] == "echo pasted 貼り付け"
        selected = page.execute_script("const t = window.maillabTerminals['client-x'].term; t.selectAll();"
                                       "return t.getSelection();")
        assert "pasted 貼り付け" in selected


def test_the_shell_sees_the_page_s_size(request, driver_url: str, served: Served):
    with browser_session(driver_url, "en", SHOTS / f"{request.node.name}.png") as page:
        page.get(f"{served.url}/exercises/4")
        open_terminal(page, "client-y")
        for width in (1280, 900):
            page.set_window_size(width, 1000)
            wait_until(lambda: (s := screen(page, "client-y")) and s["cols"], "xterm.js fits its pane")
            time.sleep(0.3)  # (the pane's new size reaches xterm.js on the next frame)
            s = screen(page, "client-y")

            def told(s=s) -> bool:
                out = type_keys(page, "client-y", "stty size")
                return f"{s['rows']} {s['cols']}" in out.splitlines()[-2]
            wait_until(told, f"stty size to say {s['rows']} {s['cols']}", timeout=10)


# --- limits --------------------------------------------------------------------------------


async def _socket(served: Served, path: str) -> tuple[int, aiohttp.ClientWebSocketResponse | None]:
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(f"{served.url}{path}", headers={"Origin": served.url})
    except aiohttp.WSServerHandshakeError as err:
        await session.close()
        return err.status, None
    ws._maillab_session = session  # type: ignore[attr-defined]
    return 101, ws


async def _close(ws: aiohttp.ClientWebSocketResponse) -> None:
    await ws.close()
    await ws._maillab_session.close()  # type: ignore[attr-defined]


async def _read_until(ws: aiohttp.ClientWebSocketResponse, pattern: bytes, timeout: float = 20) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while pattern not in seen:
        message = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if message.type != aiohttp.WSMsgType.BINARY:
            raise AssertionError(f"the terminal closed: {message}; it showed {seen[-300:]!r}")
        seen += message.data
    return seen


@pytest.mark.parametrize("path", [
    "/terminal/provider-b", "/terminal/no-such-machine", "/terminal/client-x;id", "/terminal/..%2f..%2fetc",
    "/terminal/provider-a?exercise=2", "/terminal/dns?exercise=1;id", "/terminal/$(id)"])
def test_only_the_terminals_a_page_offers_open(served: Served, path: str):
    status, ws = asyncio.run(_socket(served, path))
    assert (status, ws) in ((403, None), (404, None))


def test_shell_metacharacters_in_a_resize_run_nothing_and_a_megabyte_pasted_is_contained(served: Served,
                                                                                        ports_lab: Lab):
    async def go() -> None:
        _, outsider = await _socket(served, "/terminal/outsider")
        _, client_y = await _socket(served, "/terminal/client-y")
        assert outsider and client_y
        await _read_until(outsider, b"# ")
        await _read_until(client_y, b"# ")
        for control in ('{"resize": ["80; touch /tmp/pwned", 24]}', '{"resize": [1e9, 24]}',
                        '{"resize": "$(id)"}',
                        "not json", '{"resize": [-1, -1]}', json.dumps({"resize": [100, 30], "x": "`id`"})):
            await outsider.send_str(control)
        for _ in range(20):  # Docker passes a resize on a moment later
            await outsider.send_bytes(b"stty size\r")
            said = await _read_until(outsider, b"\r\n", timeout=5) + await _read_until(outsider, b"# ")
            if b"30 100" in said:
                break
        else:
            raise AssertionError("the shell never saw 100 columns and 30 rows")
        # a megabyte at once, in the page's 16 KiB pieces, to a program that reads it all
        # (raw: a terminal in its usual mode keeps at most 4095 characters of a line)
        await outsider.send_bytes(b"stty raw -echo; echo RE\"\"ADY; head -c 1048576 | wc -c; stty sane\r")
        await _read_until(outsider, b"READY")
        piece = b"x" * 16384
        started = time.monotonic()
        for _ in range(64):
            await outsider.send_bytes(piece)
        # meanwhile Y's terminal answers as before
        await client_y.send_bytes(b"echo still-here\r")
        await _read_until(client_y, b"still-here\r\n")
        assert time.monotonic() - started < 20
        assert b"1048576" in await _read_until(outsider, b"1048576", timeout=60)
        await _close(outsider)
        await _close(client_y)

    asyncio.run(go())
    assert ports_lab.run("outsider", "sh", "-c", "ls /tmp/pwned 2>/dev/null || true").strip() == ""


def test_a_provider_s_terminal_reads_the_queue_and_changes_nothing(served: Served):
    """Exercise 6 sends the learner to provider-a for `postqueue -p`: its terminal runs as
    nobody in the group postdrop, which may read the queue and may write nowhere."""
    async def go() -> bytes:
        _, ws = await _socket(served, "/terminal/provider-a?exercise=6")
        assert ws
        await _read_until(ws, b"$ ")
        await ws.send_bytes(b"id -un; postqueue -p; touch /var/mail/x /var/spool/postfix/x; postfix stop; "
                            b"echo DO\"\"NE\r")
        said = await _read_until(ws, b"DONE")
        await _close(ws)
        return said
    said = asyncio.run(go())
    assert b"nobody\r\n" in said and b"Mail queue is empty" in said, said
    assert said.count(b"Permission denied") >= 2, said  # neither the mailboxes nor the queue
    assert b"reserved for the superuser" in said, said  # nor Postfix itself


def test_a_frame_over_64_kib_closes_only_that_terminal(served: Served):
    async def go() -> None:
        _, big = await _socket(served, "/terminal/outsider")
        assert big
        await _read_until(big, b"# ")
        await big.send_bytes(b"y" * (terminal.MAX_FRAME + 1))
        message = await big.receive()
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        await _close(big)
    asyncio.run(go())


def test_an_idle_terminal_closes_after_the_time_set(ports_lab: Lab):
    async def go() -> None:
        port = free_port()
        application = app.make_app(ports_lab, LiveLab(ports_lab), (port,), terminal.Terminals(idle=1.5))
        runner = aiohttp.web.AppRunner(application)
        await runner.setup()
        await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            address = f"http://127.0.0.1:{port}"
            async with aiohttp.ClientSession() as session, session.ws_connect(
                    f"{address}/terminal/client-x", headers={"Origin": address}) as ws:
                started = time.monotonic()
                while (message := await ws.receive()).type == aiohttp.WSMsgType.BINARY:
                    pass
                assert ws.close_code == terminal.CLOSE_IDLE, (message, ws.close_code)
                assert 1.4 < time.monotonic() - started < 10
        finally:
            await application[app.TERMINALS].shutdown()
            await runner.cleanup()
    asyncio.run(go())


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_lab_web_ends_every_terminal_within_2_s_of_ctrl_c_or_sigterm(ports_lab: Lab, stop: signal.Signals):
    port = free_port()
    script = ("import sys; from lab import cli, config; from lab.compose import Lab; "
              "sys.exit(cli.main(['web', '--port', sys.argv[1]], "
              "lab=Lab(config.load(lab_id=int(sys.argv[2]), project=sys.argv[3]))))")
    process = subprocess.Popen([sys.executable, "-c", script, str(port), str(ports_lab.settings.lab_id),
                                ports_lab.project], cwd=REPO, stdout=subprocess.PIPE, text=True)
    served = Served(lambda *a: asyncio.sleep(0), (port,))
    services = ("client-x", "client-y", "dns")
    try:
        assert process.stdout is not None
        assert "open http://127.0.0.1:" in process.stdout.readline()

        async def open_all() -> list:
            sockets = [(await _socket(served, f"/terminal/{s}?exercise=1"))[1] for s in (*services, "lab")]
            for ws in sockets[:-1]:
                await _read_until(ws, b"# ")
            await sockets[0].send_bytes(b"sleep 600 &\r")  # a job of the shell, too
            await _read_until(sockets[0], b"[1]")
            return sockets

        loop = asyncio.new_event_loop()
        sockets = loop.run_until_complete(open_all())
        assert in_containers(ports_lab, services) >= 4
        started = time.monotonic()
        process.send_signal(stop)
        assert process.wait(5) == 0
        assert time.monotonic() - started <= 2.0
        wait_until(lambda: in_containers(ports_lab, services) == 0, "no shell left in the containers",
                   timeout=2)
        for ws in sockets:
            loop.run_until_complete(_close(ws))
        loop.close()
    finally:
        process.kill()
        process.wait()


# --- without a lab ------------------------------------------------------------------------


def test_each_exercise_offers_the_shells_its_text_sends_a_learner_to():
    for exercise in exercises.all_exercises():
        for language in ("en", "ja"):
            named = set(re.findall(r"SERVICE=([a-z-]+)", exercise.text(language)))
            assert named <= set(terminal.offered(exercise.number)), (exercise.number, language, named)
    assert "provider-b" not in {s for n in range(1, 16) for s in terminal.offered(n)}
    assert terminal.SHELLS["provider-a"].user == "nobody:postdrop"


@pytest.mark.parametrize("line", ["up", "down", "clean", "class down", "shell client-x", "web", "bench",
                                  "config",
                                  "build", "show --teacher 1", "show 1 --teacher", "capture client-x",
                                  "relay-check --from host"])
def test_the_lab_terminal_refuses_what_a_learner_may_not_do(line: str):
    assert refusal(line.split())


@pytest.mark.parametrize("line", ["reset", "check 1", "trace --last", "fault b-down", "show 3 --ja",
                                  "logs provider-a",
                                  "relay-check --from outsider"])
def test_the_lab_terminal_runs_what_the_exercises_say(line: str):
    assert refusal(line.split()) == ""
