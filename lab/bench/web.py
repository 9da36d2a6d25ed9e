"""The web view's figures (issue 12): how soon a log line shows in a real browser, the
first page load, and what `lab web` costs in memory and CPU with a page open and the
lab at rest. `lab web` runs as a process of its own, as `make web` runs it; the browser
is the tests' (lab/web/browser.py), so this part needs `make install`'s Selenium.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from lab import config, maillog
from lab.bench import cpu
from lab.bench.faults import until
from lab.bench.measure import _submit, _summary
from lab.bench.report import say
from lab.compose import Lab, LabError

# `lab web` for the bench's lab (its project is not one `lab web` finds from LAB_ID alone)
SERVE = ("import asyncio, sys; from lab.bench.measure import bench_lab; from lab.web import app; "
         "asyncio.run(app.serve(bench_lab(), (int(sys.argv[1]),), lambda: print('ready', flush=True)))")
SEEN = ("return Object.fromEntries(Object.entries(seenAt).filter(([id, at]) => at.mailbox)"
        ".map(([id, at]) => [id, at.mailbox]))")  # lab.js keeps when it drew each message where


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(lab: Lab, messages: int, idle_seconds: int = 20) -> dict:
    try:
        from lab.web.browser import chromedriver, open_browser
    except ImportError as err:
        return {"error": f"{err.name} is missing: run the bench from make bench (it installs .venv)"}
    port = lab.settings.browser_port
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(port)], cwd=config.REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        if server.stdout is None or server.stdout.readline().strip() != "ready":
            raise LabError("lab web did not start for the bench")
        with chromedriver("maillab-bench-browser", (port,)) as url:
            driver = open_browser(url)
            try:
                page = f"http://127.0.0.1:{port}/"
                return _with_page(lab, driver, page, server.pid, messages, idle_seconds)
            finally:
                driver.quit()
    finally:
        server.terminate()
        server.wait(10)


def _wait(check: Callable[[], bool], what: str, timeout: float, detail: Callable[[], str] = str) -> None:
    if not until(check, timeout, interval=0.05):  # the page's first figures are in tenths
        raise LabError(f"bench: the web view did not show {what} in {timeout:.0f} s {detail()}")


def _with_page(lab: Lab, driver, page: str, pid: int, messages: int, idle_seconds: int) -> dict:
    started = time.monotonic()
    driver.get(page)
    _wait(lambda: driver.execute_script(
        "return document.body.dataset.live === 'yes' && [...document.querySelectorAll('.machine')]"
        ".every(m => m.dataset.state === 'healthy')"), "the lab", 30)
    first_live = time.monotonic() - started
    load_ms = driver.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd")
    time.sleep(2)  # the page's first parts are built: now the process rests
    rss_rest = _rss_mib(pid)
    cpu_before = cpu.process_seconds(pid)[1]
    time.sleep(idle_seconds)
    idle_pct = 100 * (cpu.process_seconds(pid)[1] - cpu_before) / idle_seconds
    since = time.time()
    sent = [row[0] for i in range(messages) for row in _submit(lab, f"web-bench-{i}")["results"]]
    _wait(lambda: len(set(sent) & set(driver.execute_script(SEEN))) == len(sent),
          f"{len(sent)} messages in the mailbox", 60,
          lambda: f"(not seen: {sorted(set(sent) - set(driver.execute_script(SEEN)))[:5]})")
    seen = driver.execute_script(SEEN)
    lines = maillog.read(lab.container(config.PROVIDER_B.service), since - 1)
    saved = {e.message_id: e.time for e in maillog.mailbox_events(lines) if e.event == "saved"}
    latencies = [1000 * (seen[mid] - saved[mid]) for mid in sent if mid in saved]
    result = {"latency_ms": _summary(latencies), "first_load_ms": load_ms, "first_live_s": first_live,
              "rss_mib_at_rest": rss_rest, "rss_mib_after": _rss_mib(pid),
              "idle_cpu_pct": idle_pct, "idle_seconds": idle_seconds}
    say(f"web view: log line -> browser p50 {result['latency_ms']['median']:.0f} ms, "
         f"p95 {result['latency_ms']['p95']:.0f} ms; load {load_ms:.0f} ms; {rss_rest:.0f} MiB; "
         f"{idle_pct:.2f} % of a core at rest")
    return result
