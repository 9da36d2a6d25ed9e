"""What the lab at rest costs the machine's CPU, measured two ways.

- Attributed: the CPU time of the lab's containers (their cgroups) and of Docker's own
  processes (dockerd, containerd, the shims, runc, fuse-overlayfs, docker-proxy), which
  is where a `docker exec` such as a health check is charged (../shared/NOTES.md).
  Precise to a few hundredths of a percent, and an upper bound: dockerd and containerd
  tick with no lab too. It is the figure held against the goal. Here, at rest: the six
  containers 0.08 % of a core, the six shims 0.18 %, dockerd and containerd 0.13 % each.
- The whole machine with the lab at rest, then with the lab stopped: the difference.
  It catches what the first could miss, but anything else on the machine moves it.
  Here it reads 1.3 to 1.8 %: this machine's own agent (process_api, not Docker's nor
  the lab's) spent 1.1 % of a core more with the lab up (86 against 21 ticks in 60 s;
  it seems to follow every process), and the kernel's memory monitor (kdamond) a
  little more too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from lab import config
from lab.bench.report import say
from lab.compose import Lab, docker

# Docker's processes, by the name the kernel keeps (15 characters at most).
DOCKER_PROCESSES = {"dockerd", "containerd", "containerd-shim", "runc", "fuse-overlayfs", "docker-proxy"}
TICKS = os.sysconf("SC_CLK_TCK")


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, from /proc/stat. Steal (time
    the hypervisor gave to other machines) is neither; guest time is already in user."""
    user, nice, system, idle, iowait, irq, softirq = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8])
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait


def busy_percent(seconds: float) -> float:
    """The machine's busy time over `seconds`, in percent of one core."""
    busy0, total0 = _busy_jiffies()
    time.sleep(seconds)
    busy1, total1 = _busy_jiffies()
    return 100 * (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)


def _cgroup_seconds(container_id: str) -> float | None:
    """CPU seconds a container has used since it started (cgroup v1 or v2), or None
    where the host does not show its cgroups (Docker Desktop)."""
    v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{container_id}/cpuacct.usage")
    if v1.exists():
        return int(v1.read_text()) / 1e9
    for v2 in (Path(f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/cpu.stat"),
               Path(f"/sys/fs/cgroup/docker/{container_id}/cpu.stat")):
        if v2.exists():
            usage = next(line for line in v2.read_text().splitlines() if line.startswith("usage_usec"))
            return int(usage.split()[1]) / 1e6
    return None


def process_seconds(pid: int, children: bool = False) -> tuple[str, float]:
    """A process's name and CPU seconds so far (from /proc/PID/stat); with `children`,
    those of the children it has waited for too."""
    text = Path(f"/proc/{pid}/stat").read_text()
    name, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
    ticks = fields[11:15] if children else fields[11:13]  # utime, stime (, cutime, cstime)
    return name, sum(int(v) for v in ticks) / TICKS


def _docker_processes() -> dict[int, float]:
    """CPU seconds of each Docker process so far, its waited-for children included (a
    runc that ran an exec and exited is counted in its shim)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        pid = int(stat.parent.name)
        try:
            name, seconds = process_seconds(pid, children=True)
        except OSError:
            continue  # gone meanwhile
        if name in DOCKER_PROCESSES:
            found[pid] = seconds
    return found


def attributed_percent(lab: Lab, seconds: float) -> float | None:
    """The lab's containers and Docker's processes over `seconds`, in percent of one
    core; None where the containers' cgroups cannot be read."""
    ids = [docker("inspect", "--format", "{{.Id}}", short).strip() for short in lab.containers().values()]
    before = [_cgroup_seconds(i) for i in ids]
    if None in before:
        return None
    daemons0 = _docker_processes()
    time.sleep(seconds)
    after = [_cgroup_seconds(i) for i in ids]
    daemons1 = _docker_processes()
    containers = sum(a - b for a, b in zip(after, before) if a is not None and b is not None)
    daemons = sum(daemons1[pid] - daemons0[pid] for pid in daemons0.keys() & daemons1.keys())
    return 100 * (containers + daemons) / seconds


def idle_cpu(lab: Lab, seconds: int) -> dict:
    """The lab at rest: attributed over `seconds`, then the whole machine with the lab
    and without it (its containers stopped) over `seconds` each."""
    attributed = attributed_percent(lab, seconds)
    with_lab = busy_percent(seconds)
    lab.stop(*config.SERVICES)
    try:
        without = busy_percent(seconds)
    finally:
        lab.start(*config.SERVICES)
        lab.wait_healthy(60)
    result = {"seconds": seconds, "with_lab_pct": with_lab, "without_lab_pct": without,
              "machine_pct": max(0.0, with_lab - without), "attributed_pct": attributed}
    result["lab_pct"] = attributed if attributed is not None else result["machine_pct"]
    say(f"idle CPU: {result['lab_pct']:.2f} % of a core (containers and Docker: {attributed}); "
        f"the machine {with_lab:.2f} % with the lab, {without:.2f} % without")
    return result
