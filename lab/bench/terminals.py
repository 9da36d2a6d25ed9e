"""A class in browsers, measured (issue 25): the class server (`lab class web`, as a
process of its own) with one terminal open per learner, each a websocket as the page
opens it. The figures: keystroke echo latency (a key sent, until the shell's echo of
it is back), p50 and p95, with every learner typing at once; and the memory (resident,
the server and its `docker exec` children) and CPU of the server at rest and while
they type.

    python3 -m lab.bench.terminals LABS TYPISTS   (labs 101.. are started and removed)

`make bench` runs it on its class of 20 (BENCH_CLASS), one typist per lab.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lab import classlinks, config
from lab.bench.report import say
from lab.compose import Lab, LabError

TICKS = os.sysconf("SC_CLK_TCK")
SERVE = ("import asyncio, sys; from pathlib import Path; from lab import config; "
         "config.CLASS_FILE = Path(sys.argv[2]); from lab.web import classserver; "
         "asyncio.run(classserver.serve(classserver.Options(), (int(sys.argv[1]),), "
         "lambda: print('ready', flush=True)))")
KEYS_PER_SECOND = 5.0  # a quick typist
TYPING_SECONDS = 20.0
SERVICES = ("client-x", "client-y", "outsider")


def _tree(pid: int) -> list[int]:
    """The process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def _usage(pid: int) -> tuple[float, float]:
    """(memory MiB, CPU seconds so far) of the process tree. The memory is each
    process's proportional share (Pss: a page two processes share counts half in each),
    so that the sum is what the tree holds."""
    memory = cpu = 0.0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICKS
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
            memory += int(rollup.split("Pss:", 1)[1].split()[0]) / 1024
        except (OSError, IndexError, ValueError):
            continue
    return memory, cpu


def _pss(pid: int) -> float:
    """The server process alone (Python), without its Docker CLIs, in MiB."""
    try:
        return int(Path(f"/proc/{pid}/smaps_rollup").read_text().split("Pss:", 1)[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        return 0.0


def _cpu_percent(pid: int, seconds: float) -> float:
    _, before = _usage(pid)
    time.sleep(seconds)
    _, after = _usage(pid)
    return 100 * (after - before) / seconds


async def _typist(url: str, cookie: dict[str, str], path: str, seconds: float, latencies: list[float],
                  ready: asyncio.Event, go: asyncio.Event) -> None:
    import aiohttp
    async with aiohttp.ClientSession(cookies=cookie) as session, session.ws_connect(
            url + path, headers={"Origin": url}) as ws:
        seen = b""
        while b"# " not in seen:
            seen += (await ws.receive(timeout=30)).data
        await ws.send_str(json.dumps({"resize": [120, 40]}))
        ready.set()
        await go.wait()
        end = time.monotonic() + seconds
        letters = "abcdefghij"
        typed = 0
        while time.monotonic() < end:
            key = letters[typed % len(letters)]
            sent = time.monotonic()
            await ws.send_bytes(key.encode())
            echoed = b""
            while key.encode() not in echoed:
                echoed += (await ws.receive(timeout=10)).data
            latencies.append(time.monotonic() - sent)
            typed += 1
            if typed % 40 == 0:
                await ws.send_bytes(b"\x15")  # Ctrl-U: a fresh line, as after Enter
            await asyncio.sleep(max(0.0, 1 / KEYS_PER_SECOND - (time.monotonic() - sent)))


async def _type_all(url: str, typists: list[tuple[dict[str, str], str]], pid: int) -> dict:
    latencies: list[float] = []
    readies = [asyncio.Event() for _ in typists]
    go = asyncio.Event()
    tasks = [asyncio.ensure_future(_typist(url, cookie, path, TYPING_SECONDS, latencies, ready, go))
             for (cookie, path), ready in zip(typists, readies)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 120)
    await asyncio.sleep(5)  # every terminal open: let the start-up settle
    rest_rss, _ = _usage(pid)
    alone = _pss(pid)
    rest_cpu = await asyncio.to_thread(_cpu_percent, pid, 10)
    go.set()
    _, cpu0 = _usage(pid)
    started = time.monotonic()
    peak = 0.0
    while not all(t.done() for t in tasks):
        await asyncio.sleep(1)
        peak = max(peak, _usage(pid)[0])
    _, cpu1 = _usage(pid)
    for task in tasks:
        task.result()
    ms = sorted(v * 1000 for v in latencies)
    return {"typists": len(typists), "keystrokes": len(ms),
            "echo_p50_ms": round(statistics.median(ms), 1),
            "echo_p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 1),
            "echo_max_ms": round(ms[-1], 1), "server_rss_at_rest_mib": round(rest_rss, 1),
            "server_process_alone_mib": round(alone, 1),
            "server_cpu_at_rest_pct": round(rest_cpu, 2), "server_rss_typing_peak_mib": round(peak, 1),
            "server_cpu_typing_pct": round(100 * (cpu1 - cpu0) / (time.monotonic() - started), 1)}


def measure(labs: list[Lab], typists: int) -> dict:
    """One terminal per typist, spread over the labs' three client machines."""
    from lab.web.browser import free_port
    folder = Path(tempfile.mkdtemp(prefix="bench-class-", dir=config.STATE_DIR))
    record = folder / "class.json"
    ids = [lab.settings.lab_id for lab in labs]
    record.write_text(json.dumps({"first": ids[0], "labs": len(ids), "started": time.time()}) + "\n")
    saved = config.CLASS_FILE
    config.CLASS_FILE = record
    try:
        links = classlinks.ensure(config.class_labs())
    finally:
        config.CLASS_FILE = saved
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVE, str(port), str(record)], cwd=config.REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        if server.stdout is None or server.stdout.readline().strip() != "ready":
            raise LabError("the class server did not start for the bench")
        cookie = f"maillab-class-{port}"
        plan = [({cookie: links.learners[ids[i % len(ids)]]},
                 f"/lab/{ids[i % len(ids)]}/terminal/{SERVICES[(i // len(ids)) % len(SERVICES)]}")
                for i in range(typists)]
        result = asyncio.run(_type_all(f"http://127.0.0.1:{port}", plan, server.pid))
        result["labs"] = len(labs)
        say(f"class terminals: {result}")
        return result
    finally:
        server.terminate()
        server.wait(10)
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    from lab import classroom
    count, typists = int(sys.argv[1]), int(sys.argv[2])
    labs = classroom.labs(range(101, 101 + count))
    try:
        classroom.start(labs, lambda line: say(line.strip()))
        print(json.dumps(measure(labs, typists), indent=2))
    finally:
        classroom.stop(labs, volumes=True, report=lambda line: None)
