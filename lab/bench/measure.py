"""The bench's measurements, each on a lab of its own (see lab/bench/__init__.py)."""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab import classroom as classroom_labs
from lab import config, faults, switches
from lab.bench import cpu
from lab.bench.report import say
from lab.compose import Lab, LabError, compose_command, docker, docker_exec
from lab.docker import exec_command
from lab.mailbox import count_mailbox

HERE = Path(__file__).parent
# The bench's own lab is LAB_ID 8 (project maillab-bench): its host ports stay below
# Linux's ephemeral range (32768 on). Its class is labs 101 on, without host ports, so
# that a teacher's class (maillab-1 ...) is never touched.
BENCH_LAB_ID, BENCH_PROJECT = 8, "maillab-bench"
CLASS_FIRST_ID = 101
OVERRIDES = {"MAX_RECIPIENTS_PER_MINUTE": "0", "MAILBOX_QUOTA": "4G"}
X, Y2 = config.X, config.Y2


def _environ(**extra: str) -> dict[str, str]:
    return {**config.read_env_file(config.ENV_FILE), **os.environ, **OVERRIDES, **extra}


def bench_lab() -> Lab:
    return Lab(config.load(lab_id=BENCH_LAB_ID, environ=_environ()))


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


def peak_memory(lab: Lab) -> dict[str, dict[str, float]]:
    """Each container's highest memory use since it started, against its limit (MiB),
    from its cgroup (v1: memory.max_usage_in_bytes; v2: memory.peak), page cache
    included; {} where the host does not show cgroups."""
    found = {}
    for service, short in lab.containers().items():
        full = docker("inspect", "--format", "{{.Id}}", short).strip()
        for peak, limit in ((f"/sys/fs/cgroup/memory/docker/{full}/memory.max_usage_in_bytes",
                             f"/sys/fs/cgroup/memory/docker/{full}/memory.limit_in_bytes"),
                            (f"/sys/fs/cgroup/system.slice/docker-{full}.scope/memory.peak",
                             f"/sys/fs/cgroup/system.slice/docker-{full}.scope/memory.max")):
            if Path(peak).exists():
                found[service] = {"peak_mib": round(int(Path(peak).read_text()) / 2**20, 1),
                                  "limit_mib": round(int(Path(limit).read_text()) / 2**20, 1)}
                break
    return dict(sorted(found.items()))


# --- measurements -------------------------------------------------------------------


def compose_variants() -> dict[str, dict[str, str]]:
    """Each Compose this machine has, as the environment that selects it: v1
    (docker-compose) and v2 (`docker compose`, the Docker CLI's own plugin, or one put
    in .lab/compose-v2 by .ci/install-compose-v2)."""
    variants = {}
    if shutil.which("docker-compose"):
        variants["v1"] = {"COMPOSE": "docker-compose"}
    private = config.STATE_DIR / "compose-v2"
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        variants["v2"] = {"COMPOSE": "docker compose"}
    elif (private / "cli-plugins" / "docker-compose").exists():
        variants["v2"] = {"COMPOSE": "docker compose", "DOCKER_CONFIG": str(private)}
    return variants


def warm_up_each_compose(lab: Lab, runs: int) -> dict:
    """`python3 -m lab up` (what `make up` runs) from a stopped lab, to every service
    healthy, `runs` times with each Compose the machine has; the lab is up afterwards."""
    results = {}
    for name, selected in compose_variants().items():
        env = _environ(LAB_ID=str(BENCH_LAB_ID), **selected)
        version = subprocess.run([*selected["COMPOSE"].split(), "version", "--short"], env=env,
                                 capture_output=True, text=True).stdout.strip()
        seconds = []
        for n in range(runs):
            subprocess.run([sys.executable, "-m", "lab", "down"], env=env, cwd=config.REPO,
                           capture_output=True, check=True)
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "lab", "up"], env=env, cwd=config.REPO,
                                  capture_output=True, text=True)
            if done.returncode:
                raise LabError(f"lab up with Compose {name} failed: {done.stderr[-500:]}")
            seconds.append(time.monotonic() - started)
            say(f"warm up, Compose {name} {version}, {n + 1}/{runs}: {seconds[-1]:.1f} s")
        results[name] = {"version": version, **_summary(seconds)}
    lab.wait_healthy(60)
    return results


def cold_start(lab: Lab) -> dict:
    lab.down(volumes=True)
    images = [*config.IMAGES.values(), config.BASE_IMAGE]
    docker("rmi", "-f", *images, check=False)
    started = time.monotonic()
    lab.up()
    seconds = time.monotonic() - started
    say(f"cold start: {seconds:.0f} s")
    return {"seconds": seconds}


def latency(lab: Lab, count: int) -> dict:
    s = lab.settings
    _empty(lab, Y2)
    values = _run_script(lab, "client-x", HERE / "latency.py", {
        "sender": X, "password": s.password(X), "recipient": Y2, "recipient_password": s.password(Y2),
        "count": count, "smtp_host": config.PROVIDER_A.smtp, "pop_host": config.PROVIDER_B.pop})
    result = _summary([v * 1000 for v in values])  # milliseconds
    say(f"latency: p50 {result['median']:.0f} ms, p95 {result['p95']:.0f} ms over {count}")
    return result


def throughput(lab: Lab, size: int, total: int, sessions: int = 4) -> dict:
    _empty(lab, Y2)
    spec = {"host": config.PROVIDER_A.smtp, "user": X, "password": lab.settings.password(X),
            "recipient": Y2, "tag": f"load{size}", "sessions": sessions, "per_session": total // sessions,
            "size": size}
    command = exec_command(lab.container("client-x"), "python3", "-", json.dumps(spec), stdin=True)
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
    say(f"throughput {size} B: {result['messages_per_second']:.0f} msg/s, {delivered}/{report['submitted']}")
    _empty(lab, Y2)
    return result


def throughput_greylisted(lab: Lab) -> dict:
    """1 KB throughput with greylisting on, once the (A, x, y2) triple is known: what
    asking postgrey for every recipient costs (the first message waits out the delay)."""
    switches.set_greylist(lab, True)
    try:
        _empty(lab, Y2)
        _submit(lab, "greylist-first")
        deadline = time.monotonic() + lab.settings.greylist_delay + 60
        while _mailbox_count(lab, Y2) < 1:
            if time.monotonic() > deadline:
                raise LabError("the first greylisted message never arrived")
            time.sleep(0.5)
        return throughput(lab, 1024, 1000)
    finally:
        switches.set_greylist(lab, False)


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
        say(f"recovery {n + 1}/{runs}: {seconds[-1]:.1f} s")
    return _summary(seconds)


def make_test() -> dict:
    started = time.monotonic()
    done = subprocess.run(["make", "test"], cwd=config.REPO, capture_output=True, text=True)
    seconds = time.monotonic() - started
    say(f"make test: {seconds:.0f} s, exit {done.returncode}")
    results = [line.strip("= ") for line in done.stdout.splitlines()
               if " passed" in line or " failed" in line]
    return {"seconds": seconds, "exit": done.returncode, "summary": results[-1:]}


def classroom(count: int, pairs: int = 6) -> dict:
    """A class of `count` labs started as `lab class up` starts them (LAB_IDs from
    CLASS_FIRST_ID, so that a teacher's class is never touched, and not recorded as the
    class): time to all healthy, memory, the machine's CPU at rest against before, an
    X -> Y message in each, and isolation on a sample of pairs (X of one lab cannot
    reach another lab's A, while it reaches its own)."""
    labs = classroom_labs.labs(range(CLASS_FIRST_ID, CLASS_FIRST_ID + count))
    before = cpu.busy_percent(15)
    started = time.monotonic()
    try:
        healthy = classroom_labs.start(labs, lambda line: say(f"class: {line.strip()}"))
        up_seconds = time.monotonic() - started
        time.sleep(5)  # let the start-up settle
        at_rest = cpu.busy_percent(30)
        per_lab = [round(sum(memory(lab).values()), 1) for lab in labs]
        with ThreadPoolExecutor(4) as pool:
            delivered = sum(pool.map(_delivers, labs))
        sample = random.Random(count).sample([(a, b) for a in labs for b in labs if a is not b],
                                             min(pairs, count * (count - 1)))
        isolated = sum(_isolated(a, b) for a, b in sample)
        from lab.bench import terminals  # (the class in browsers: one terminal open per learner)
        typing = terminals.measure(labs, count)
    finally:
        classroom_labs.stop(labs, volumes=True, report=lambda line: None)
    result = {"labs": count, "healthy": healthy, "up_seconds": round(up_seconds, 1),
              "memory_per_lab_mib": per_lab, "memory_total_mib": round(sum(per_lab)),
              "idle_cpu_before_pct": round(before, 2), "idle_cpu_with_class_pct": round(at_rest, 2),
              "class_idle_pct": round(max(0.0, at_rest - before), 2),
              "delivered": delivered, "pairs_isolated": isolated, "pairs_tried": len(sample),
              "terminals": typing}
    say(f"class of {count}: {result}")
    return result


def _delivers(lab: Lab) -> bool:
    """X -> Y2 in this lab arrives within 30 s (if not, A's last words on it are told)."""
    _submit(lab, "class")
    deadline = time.monotonic() + 30
    while _mailbox_count(lab, Y2) < 1:
        if time.monotonic() > deadline:
            waiting = [line for line in lab.logs("provider-a").splitlines() if "status=" in line]
            say(f"class: lab {lab.settings.lab_id} did not deliver in 30 s: {waiting[-3:]}")
            return False
        time.sleep(0.2)
    return True


def _isolated(lab: Lab, other: Lab) -> bool:
    """X of `lab` reaches its own A's port 587 and not the other lab's."""
    def reaches(address: str) -> bool:
        done = docker_exec(lab.container("client-x"), ["nc", "-z", "-w", "2", address, "587"])
        return done.returncode == 0
    return reaches(lab.settings.address("provider-a")) and not reaches(other.settings.address("provider-a"))


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
    for image in (*config.IMAGES.values(), config.BASE_IMAGE):
        out = docker("image", "inspect", "--format", "{{.Size}}", image, check=False).strip()
        if out:
            sizes[image] = round(int(out) / 1e6, 1)
    return sizes
