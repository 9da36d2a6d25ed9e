"""`make bench`: how fast the lab starts, what it costs at rest, how it delivers and
recovers, how long the suite takes, and how many labs one machine holds. Prints a
table with each figure against its goal and writes every figure, with a description
of the machine, to .lab/bench.json.

The bench runs its own labs (project maillab-bench, and labs 101 on for the class),
so a learner's lab, or a class, keeps running. Its main lab lifts two limits that a
load test would hit on purpose: MAX_RECIPIENTS_PER_MINUTE (0: none) and MAILBOX_QUOTA.

    BENCH_RUNS=3        repetitions of the warm start and of the recovery
    BENCH_MESSAGES=100  messages for the latency
    BENCH_IDLE=30       seconds over which the machine's CPU at rest is read
    BENCH_COLD=1        also time a cold start (removes the lab's images and the base)
    BENCH_MAKE_TEST=1   also time a warm `make test`
    BENCH_CLASS=20      labs in the class (lab class up), 0: no class measured
    BENCH_FAULT_MESSAGES=300  messages in flight across each fault, 0: no faults
    BENCH_WEB_MESSAGES=50     messages watched in the web view, in a real browser

    measure.py   the measurements      faults.py   mail across each fault
    web.py       the web view in a browser
    report.py    the table, against the goals
"""

from __future__ import annotations

import json
import os
import time

from lab import config
from lab.bench import cpu, faults, measure, web
from lab.bench.report import table

__all__ = ["run", "table"]
from lab.bench.report import RESULTS_FILE as RESULTS


def _setting(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def run() -> dict:
    runs = _setting("BENCH_RUNS", 3)
    lab = measure.bench_lab()
    results: dict = {"machine": measure.machine(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if _setting("BENCH_COLD", 1):
        results["cold_start"] = measure.cold_start(lab)
    results["warm_up"] = measure.warm_up_each_compose(lab, runs)
    # At rest: once the server processes of the start-up's own checks have exited
    # (Postfix's max_idle, 30 s in main.cf), as they do whenever no mail moves.
    time.sleep(35)
    results["memory_at_rest_mib"] = measure.memory(lab)
    results["idle_cpu"] = cpu.idle_cpu(lab, _setting("BENCH_IDLE", 30))
    results["latency_ms"] = measure.latency(lab, _setting("BENCH_MESSAGES", 100))
    if _setting("BENCH_WEB_MESSAGES", 50):
        results["web"] = web.measure(lab, _setting("BENCH_WEB_MESSAGES", 50))
    results["throughput_1k"] = measure.throughput(lab, 1024, 1000)
    results["throughput_1k_greylisting"] = measure.throughput_greylisted(lab)
    results["throughput_100k"] = measure.throughput(lab, 100 * 1024, 200)
    results["peak_memory"] = measure.peak_memory(lab)  # before recovery restarts B (a new peak)
    results["recovery_s"] = measure.recovery(lab, runs)
    if fault_messages := _setting("BENCH_FAULT_MESSAGES", 300):
        results["faults"] = faults.each(lab, fault_messages)
    lab.down(volumes=True)
    results["image_mb"] = measure.image_sizes()
    if _setting("BENCH_MAKE_TEST", 1):
        results["make_test"] = measure.make_test()
    if _setting("BENCH_CLASS", 20):
        results["classroom"] = measure.classroom(_setting("BENCH_CLASS", 20))
    config.STATE_DIR.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    return results
