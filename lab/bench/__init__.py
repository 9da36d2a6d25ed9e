"""`make bench`: how fast the lab starts, delivers and recovers, what it costs, and how
many labs one machine holds. Prints a table and writes every figure, with a
description of the machine, to .lab/bench.json.

The bench runs its own labs (project maillab-bench, and maillab-bench-N for the
classroom), so a learner's lab keeps running. Its main lab lifts two limits that a
load test would hit on purpose: MAX_RECIPIENTS_PER_MINUTE (0: none) and MAILBOX_QUOTA.

    BENCH_RUNS=5        repetitions of the warm start and of the recovery
    BENCH_MESSAGES=100  messages for the latency
    BENCH_COLD=1        also time a cold start (removes the lab's images and the base)
    BENCH_MAKE_TEST=1   also time a warm `make test`
    BENCH_MAX_LABS=8    how many side-by-side labs to try at most
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from lab import config, faults
from lab.checker import count_mailbox
from lab.compose import Lab, LabError, compose_command, docker, docker_exec

HERE = Path(__file__).parent
RESULTS = config.STATE_DIR / "bench.json"
BENCH_LAB_ID, BENCH_PROJECT = 24, "maillab-bench"
OVERRIDES = {"MAX_RECIPIENTS_PER_MINUTE": "0", "MAILBOX_QUOTA": "4G"}
X, Y2 = config.X, config.Y2


def _setting(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _lab(lab_id: int = BENCH_LAB_ID, project: str = BENCH_PROJECT) -> Lab:
    environ = {**config.read_env_file(config.ENV_FILE), **os.environ, **OVERRIDES}
    return Lab(config.load(lab_id=lab_id, project=project, environ=environ))


def _say(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _run_script(lab: Lab, service: str, script: Path, spec: dict) -> dict | list:
    done = docker_exec(lab.container(service), ["python3", "-", json.dumps(spec)],
                       input=script.read_bytes(), timeout=600)
    if done.returncode:
        raise LabError(f"{script.name} in {service}: {done.stderr.decode().strip()[-500:]}")
    return json.loads(done.stdout)


def _submit(lab: Lab, tag: str) -> dict:
    """X submits one message through A to Y2 (lab/scripts/submit.py); its report."""
    spec = {"host": config.PROVIDER_A.smtp, "user": X, "password": lab.settings.password(X),
            "recipient": Y2, "tag": tag}
    return _run_script(lab, "client-x", config.SUBMIT_SCRIPT, spec)


def _summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "runs": len(values), "median": statistics.median(values), "min": ordered[0], "max": ordered[-1],
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], "values": values,
    }


def _mailbox_count(lab: Lab, address: str) -> int:
    return count_mailbox(lab.container(config.PROVIDER_B.service), address)


def _empty(lab: Lab, address: str) -> None:
    docker_exec(lab.container("provider-b"), ["doveadm", "expunge", "-u", address, "mailbox", "INBOX", "all"])


def memory(lab: Lab) -> dict[str, float]:
    """MiB of memory each service of the lab uses now (docker stats)."""
    services = {cid: service for service, cid in lab.containers().items()}
    out = docker("stats", "--no-stream", "--format", "{{.ID}} {{.MemUsage}}", *services)
    units = {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "B": 1 / 1024 / 1024}
    usage = {}
    for line in out.splitlines():
        cid, used = line.split()[:2]
        unit = next(u for u in units if used.endswith(u))
        usage[services[cid[:12]]] = round(float(used[: -len(unit)]) * units[unit], 1)
    return dict(sorted(usage.items()))


# --- measurements -------------------------------------------------------------------


def warm_up(lab: Lab, runs: int) -> dict:
    seconds = []
    for n in range(runs):
        lab.down(volumes=True)
        started = time.monotonic()
        lab.up()
        seconds.append(time.monotonic() - started)
        _say(f"warm up {n + 1}/{runs}: {seconds[-1]:.1f} s")
    return _summary(seconds)


def cold_start(lab: Lab) -> dict:
    lab.down(volumes=True)
    images = ["maillab.test/provider:latest", "maillab.test/client:latest", "maillab.test/dns:latest",
              "debian:bookworm-slim"]
    subprocess.run(["docker", "rmi", "-f", *images], capture_output=True)
    started = time.monotonic()
    lab.up()
    seconds = time.monotonic() - started
    _say(f"cold start: {seconds:.0f} s")
    return {"seconds": seconds}


def latency(lab: Lab, count: int) -> dict:
    s = lab.settings
    _empty(lab, Y2)
    values = _run_script(lab, "client-x", HERE / "latency.py", {
        "sender": X, "password": s.password(X), "recipient": Y2, "recipient_password": s.password(Y2),
        "count": count, "smtp_host": config.PROVIDER_A.smtp, "pop_host": config.PROVIDER_B.pop})
    result = _summary([v * 1000 for v in values])  # milliseconds
    _say(f"latency: p50 {result['median']:.0f} ms, p95 {result['p95']:.0f} ms over {count}")
    return result


def throughput(lab: Lab, size: int, total: int, sessions: int = 4) -> dict:
    _empty(lab, Y2)
    spec = {"host": config.PROVIDER_A.smtp, "user": X, "password": lab.settings.password(X),
            "recipient": Y2, "tag": f"load{size}", "sessions": sessions, "per_session": total // sessions,
            "size": size}
    command = ["docker", "exec", "-i", lab.container("client-x"), "python3", "-", json.dumps(spec)]
    load = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    load.stdin.write(config.SUBMIT_SCRIPT.read_bytes())
    load.stdin.close()
    time.sleep(1.5)
    under_load = memory(lab)
    report = json.loads(load.stdout.read())
    load.wait()
    report["submitted"] = sum(code == 250 for _, code, _ in report["results"])
    report["refused"] = len(report["results"]) - report["submitted"]
    deadline = time.time() + 300
    while (delivered := _mailbox_count(lab, Y2)) < report["submitted"] and time.time() < deadline:
        time.sleep(0.2)
    finished = time.time()
    dupes = docker_exec(lab.container("provider-b"), ["sh", "-c",
        f"cd {config.maildir(Y2)} && cat new/* cur/* 2>/dev/null | grep -i '^Message-ID:' "
        "| sort | uniq -d | wc -l"]).stdout.decode().strip()
    result = {
        "size_bytes": size, "sessions": sessions,
        "submitted": report["submitted"], "refused": report["refused"],
        "delivered": delivered, "lost": report["submitted"] - delivered, "duplicated": int(dupes),
        "seconds": finished - report["started"],
        "messages_per_second": delivered / (finished - report["started"]),
        "memory_under_load_mib": under_load,
    }
    _say(f"throughput {size} B: {result['messages_per_second']:.0f} msg/s, {delivered}/{report['submitted']}")
    _empty(lab, Y2)
    return result


def recovery(lab: Lab, runs: int) -> dict:
    outage = faults.FAULTS["b-down"]
    seconds = []
    for n in range(runs):
        _empty(lab, Y2)
        outage.cause(lab)
        _submit(lab, f"recovery{n}")
        deadline = time.monotonic() + 60
        while "deferred" not in docker_exec(lab.container("provider-a"), ["postqueue", "-j"]).stdout.decode():
            if time.monotonic() > deadline:
                raise LabError("the message was never deferred")
            time.sleep(0.2)
        outage.cure(lab)
        back = time.monotonic()
        while _mailbox_count(lab, Y2) < 1:
            if time.monotonic() > back + 120:
                raise LabError("the deferred message never arrived")
            time.sleep(0.1)
        seconds.append(time.monotonic() - back)
        _say(f"recovery {n + 1}/{runs}: {seconds[-1]:.1f} s")
    return _summary(seconds)


def make_test() -> dict:
    started = time.monotonic()
    done = subprocess.run(["make", "test"], cwd=config.REPO, capture_output=True, text=True)
    seconds = time.monotonic() - started
    _say(f"make test: {seconds:.0f} s, exit {done.returncode}")
    return {"seconds": seconds, "exit": done.returncode, "summary": done.stdout.strip().splitlines()[-1:]}


def classroom(max_labs: int) -> dict:
    """Start labs side by side until one fails its check or max_labs run; each must
    deliver its own X -> Y message and must not reach the first lab."""
    labs: list[Lab] = []
    per_lab = []
    try:
        for n in range(1, max_labs + 1):
            lab = _lab(lab_id=n, project=f"{BENCH_PROJECT}-{n}")
            try:
                lab.up()
                _submit(lab, "class")
                deadline = time.monotonic() + 30
                while _mailbox_count(lab, Y2) < 1:
                    if time.monotonic() > deadline:
                        raise LabError(f"lab {n} did not deliver")
                    time.sleep(0.2)
                if labs:
                    other = labs[0].settings.address("provider-a")
                    reach = docker_exec(lab.container("client-x"), ["nc", "-z", "-w", "2", other, "25"])
                    if reach.returncode == 0:
                        raise LabError(f"lab {n} reached lab 1's provider-a")
            except LabError as err:
                _say(f"lab {n} failed: {err}")
                lab.down(volumes=True)
                break
            labs.append(lab)
            per_lab.append(round(sum(memory(lab).values()), 1))
            _say(f"classroom: {n} labs running, this one uses {per_lab[-1]} MiB")
    finally:
        for lab in labs:
            lab.down(volumes=True)
    return {"labs": len(labs), "tried_at_most": max_labs, "memory_per_lab_mib": per_lab}


def machine() -> dict:
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal")))
    return {
        "cores": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1), "kernel": platform.release(),
        "docker": docker("version", "--format", "{{.Server.Version}}").strip(),
        "compose": subprocess.run([*compose_command(), "version", "--short"], capture_output=True,
                                  text=True).stdout.strip(),
    }


def image_sizes() -> dict[str, float]:
    sizes = {}
    for image in ("maillab.test/provider", "maillab.test/client", "maillab.test/dns", "debian:bookworm-slim"):
        out = docker("image", "inspect", "--format", "{{.Size}}", image, check=False).strip()
        if out:
            sizes[image] = round(int(out) / 1e6, 1)
    return sizes


# --- the report -----------------------------------------------------------------------

TARGETS = {
    "warm_up_s": 5, "latency_p50_ms": 300, "throughput_1k_msg_s": 200, "recovery_s": 15,
    "memory_at_rest_mib": 200, "provider_image_mb": 200,
}


def run() -> dict:
    runs = _setting("BENCH_RUNS", 5)
    lab = _lab()
    results: dict = {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if _setting("BENCH_COLD", 1):
        results["cold_start"] = cold_start(lab)
    results["warm_up"] = warm_up(lab, runs)
    time.sleep(5)  # let the start-up settle before measuring rest
    results["memory_at_rest_mib"] = memory(lab)
    results["latency_ms"] = latency(lab, _setting("BENCH_MESSAGES", 100))
    results["throughput_1k"] = throughput(lab, 1024, 1000)
    results["throughput_100k"] = throughput(lab, 100 * 1024, 200)
    results["recovery_s"] = recovery(lab, runs)
    lab.down(volumes=True)
    results["image_mb"] = image_sizes()
    if _setting("BENCH_MAKE_TEST", 1):
        results["make_test"] = make_test()
    results["classroom"] = classroom(_setting("BENCH_MAX_LABS", 8))
    config.STATE_DIR.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    return results


def table(r: dict) -> str:
    at_rest = sum(r["memory_at_rest_mib"].values())
    rows = [
        (f"warm make up to healthy (median of {r['warm_up']['runs']})",
         f"{r['warm_up']['median']:.1f} s (min {r['warm_up']['min']:.1f}, max {r['warm_up']['max']:.1f})",
         f"<= {TARGETS['warm_up_s']} s"),
    ]
    if "cold_start" in r:
        rows.append(("cold start, no images at all", f"{r['cold_start']['seconds']:.0f} s", ""))
    lat = r["latency_ms"]
    rows += [
        (f"end-to-end latency, {lat['runs']} messages",
         f"p50 {lat['median']:.0f} ms, p95 {lat['p95']:.0f} ms", f"p50 <= {TARGETS['latency_p50_ms']} ms"),
    ]
    for key in ("throughput_1k", "throughput_100k"):
        t = r[key]
        rows.append((f"throughput, {t['size_bytes'] // 1024} KB x {t['submitted']}, {t['sessions']} sessions",
                     f"{t['messages_per_second']:.0f} msg/s (lost {t['lost']}, duplicated {t['duplicated']})",
                     f">= {TARGETS['throughput_1k_msg_s']} msg/s" if key == "throughput_1k" else ""))
    rec = r["recovery_s"]
    rows += [
        (f"recovery after B is back (median of {rec['runs']})",
         f"{rec['median']:.1f} s (min {rec['min']:.1f}, max {rec['max']:.1f})",
         f"<= {TARGETS['recovery_s']} s"),
        ("memory of the whole lab at rest", f"{at_rest:.0f} MiB "
         + "(" + ", ".join(f"{k} {v:.0f}" for k, v in r["memory_at_rest_mib"].items()) + ")",
         f"<= {TARGETS['memory_at_rest_mib']} MiB"),
        ("memory under the 1 KB load",
         f"{sum(r['throughput_1k']['memory_under_load_mib'].values()):.0f} MiB", ""),
    ]
    rows += [(f"image {name}", f"{mb:.0f} MB", "<= 200 MB" if "provider" in name else "")
             for name, mb in r["image_mb"].items()]
    if "make_test" in r:
        make_test = r["make_test"]
        rows.append(("warm make test", f"{make_test['seconds']:.0f} s (exit {make_test['exit']})", ""))
    c = r["classroom"]
    each = statistics.median(c["memory_per_lab_mib"]) if c["memory_per_lab_mib"] else 0
    rows.append((f"labs side by side (tried up to {c['tried_at_most']})",
                 f"{c['labs']}, each {each:.0f} MiB", ""))
    m = r["machine"]
    width = max(len(row[0]) for row in rows)
    lines = [f"maillab bench, {r['when']}: {m['cores']} cores, {m['memory_gib']} GiB, Docker {m['docker']}, "
             f"Compose {m['compose']}", ""]
    lines += [f"  {a:<{width}}  {b:<48} {c}" for a, b, c in rows]
    lines.append(f"\nAll figures: {RESULTS.relative_to(config.REPO)}")
    return "\n".join(lines)
