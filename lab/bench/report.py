"""The bench's table: each figure against its goal (issues 6 and 11 set them); and `say`,
the lines it prints while it measures."""

from __future__ import annotations

import statistics
import sys

from lab import config

GOALS = {
    "warm_up_s": {"v1": 4.0, "v2": 3.0},
    "cold_start_s": 90,
    "idle_cpu_pct": 1.0,  # of one core: what the lab at rest adds to the machine
    "memory_at_rest_mib": 100,
    "latency_p50_ms": 300,
    "throughput_1k_msg_s": 200,
    "recovery_s": 15,
    "make_test_s": 150,
    "class_idle_pct": 10.0,  # of one core: a class of 20 at rest (issue: a class on one server)
    "image_mb": {"provider": 150, "client": 150, "dns": 100},
    "web_latency_p95_ms": 1000,  # a log line to the browser (issue: see the mail move)
    "web_rss_mib": 60,
    "terminal_echo_p95_ms": 50,  # a key typed in a class's page to its echo (issue 25)
}
RESULTS_FILE = config.STATE_DIR / "bench.json"


def say(text: str) -> None:
    """A line of progress, on stderr (the table goes to stdout)."""
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def table(r: dict) -> str:
    rows: list[tuple[str, str, str]] = []

    def row(what: str, value: str, goal: str = "", met: bool | None = None) -> None:
        rows.append((what, value, f"{goal} ({_verdict(met)})" if goal and met is not None else goal))

    for name, w in r["warm_up"].items():
        goal = GOALS["warm_up_s"].get(name)
        row(f"warm make up to all healthy, Compose {name} {w['version']} (median of {w['runs']})",
            f"{w['median']:.1f} s (min {w['min']:.1f}, max {w['max']:.1f})",
            f"<= {goal} s" if goal else "", w["median"] <= goal if goal else None)
    if "cold_start" in r:
        seconds = r["cold_start"]["seconds"]
        row("cold start, no images at all", f"{seconds:.0f} s", f"<= {GOALS['cold_start_s']} s",
            seconds <= GOALS["cold_start_s"])
    idle = r["idle_cpu"]
    row(f"CPU of the lab at rest (its containers and Docker, {idle['seconds']} s)",
        f"{idle['lab_pct']:.2f} % of a core"
        + ("" if idle.get("attributed_pct") is not None else " (no cgroups: the machine's difference)")
        + f" (machine {idle['with_lab_pct']:.2f} with, "
        f"{idle['without_lab_pct']:.2f} without)",
        f"<= {GOALS['idle_cpu_pct']} %", idle["lab_pct"] <= GOALS["idle_cpu_pct"])
    at_rest = sum(r["memory_at_rest_mib"].values())
    row("memory of the whole lab at rest",
        f"{at_rest:.0f} MiB (" + ", ".join(f"{k} {v:.0f}" for k, v in r["memory_at_rest_mib"].items()) + ")",
        f"<= {GOALS['memory_at_rest_mib']} MiB", at_rest <= GOALS["memory_at_rest_mib"])
    lat = r["latency_ms"]
    row(f"end-to-end latency X -> Y, {lat['runs']} messages",
        f"p50 {lat['median']:.0f} ms, p95 {lat['p95']:.0f} ms",
        f"p50 <= {GOALS['latency_p50_ms']} ms", lat["median"] <= GOALS["latency_p50_ms"])
    if w := r.get("web"):
        if "error" in w:
            row("web view", f"not measured: {w['error']}")
        else:
            lat = w["latency_ms"]
            row(f"web view: log line -> drawn in the browser, {lat['runs']} messages",
                f"p50 {lat['median']:.0f} ms, p95 {lat['p95']:.0f} ms",
                f"p95 <= {GOALS['web_latency_p95_ms']} ms", lat["p95"] <= GOALS["web_latency_p95_ms"])
            row("web view: first page load / page live",
                f"{w['first_load_ms']:.0f} ms / {w['first_live_s']:.1f} s")
            row("web view: memory of `lab web` at rest / after the messages",
                f"{w['rss_mib_at_rest']:.0f} / {w['rss_mib_after']:.0f} MiB",
                f"<= {GOALS['web_rss_mib']} MiB", w["rss_mib_after"] <= GOALS["web_rss_mib"])
            row(f"web view: CPU of `lab web` at rest, a page open ({w['idle_seconds']} s)",
                f"{w['idle_cpu_pct']:.2f} % of a core")
    for key in ("throughput_1k", "throughput_100k"):
        t = r[key]
        goal = GOALS["throughput_1k_msg_s"] if key == "throughput_1k" else None
        row(f"throughput, {t['size_bytes'] // 1024} KB x {t['submitted']}, {t['sessions']} sessions",
            f"{t['messages_per_second']:.0f} msg/s (lost {t['lost']}, duplicated {t['duplicated']})",
            f">= {goal} msg/s" if goal else "", t["messages_per_second"] >= goal if goal else None)
    if "throughput_1k_greylisting" in r:
        t = r["throughput_1k_greylisting"]
        row("throughput, 1 KB, greylisting on (triple already known)",
            f"{t['messages_per_second']:.0f} msg/s (lost {t['lost']}, duplicated {t['duplicated']})",
            "greylisting off: the line above")
    row("memory under the 1 KB load", f"{sum(r['throughput_1k']['memory_under_load_mib'].values()):.0f} MiB")
    if peaks := r.get("peak_memory"):
        # the cgroup's peak counts the page cache too: at the limit, the kernel reclaims
        # cache first, so only an OOM kill (dmesg) would say a process ran out
        row("peak memory per container after the loads / limit (page cache included)",
            ", ".join(f"{k} {v['peak_mib']:.0f}/{v['limit_mib']:.0f}" for k, v in peaks.items()) + " MiB")
    rec = r["recovery_s"]
    row(f"recovery after B is back (median of {rec['runs']})",
        f"{rec['median']:.1f} s (min {rec['min']:.1f}, max {rec['max']:.1f})",
        f"<= {GOALS['recovery_s']} s", rec["median"] <= GOALS["recovery_s"])
    for name, f in r.get("faults", {}).items():
        if "error" in f:
            row(f"across the fault {name}", f"not measured: {f['error']}", "lost 0", False)
            continue
        row(f"across the fault {name}: submitted / accepted / delivered",
            f"{f['submitted']} / {f['accepted']} / {f['delivered']}: lost {f['lost']}, "
            f"duplicated {f['duplicated']}", "lost 0", f["lost"] == 0)
    for image, mb in r["image_mb"].items():
        kind = image.split("/")[-1].split(":")[0]
        goal = GOALS["image_mb"].get(kind)
        row(f"image {image}", f"{mb:.0f} MB", f"<= {goal} MB" if goal else "", mb <= goal if goal else None)
    if "make_test" in r:
        t = r["make_test"]
        row(f"warm make test ({t['summary'][0] if t['summary'] else ''})",
            f"{t['seconds']:.0f} s (exit {t['exit']})",
            f"<= {GOALS['make_test_s']} s", t["seconds"] <= GOALS["make_test_s"] and t["exit"] == 0)
    if c := r.get("classroom"):
        each = statistics.median(c["memory_per_lab_mib"]) if c["memory_per_lab_mib"] else 0
        row(f"a class of {c['labs']} (lab class up) to all healthy", f"{c['up_seconds']:.0f} s",
            "all healthy", c["healthy"])
        total_gib = c["memory_total_mib"] / 1024
        row("  memory per lab (median) / in total", f"{each:.0f} MiB / {total_gib:.1f} GiB")
        row("  CPU of the whole class at rest (machine, with - before)",
            f"{c['class_idle_pct']:.1f} % of a core", f"<= {GOALS['class_idle_pct']} %",
            c["class_idle_pct"] <= GOALS["class_idle_pct"])
        row("  X -> Y delivered in each lab / pairs isolated",
            f"{c['delivered']} of {c['labs']} / {c['pairs_isolated']} of {c['pairs_tried']}",
            "all / all", c["delivered"] == c["labs"] and c["pairs_isolated"] == c["pairs_tried"])
        if t := c.get("terminals"):
            row(f"  a key's echo, {t['typists']} learners typing in their pages' terminals (p50 / p95)",
                f"{t['echo_p50_ms']:.0f} / {t['echo_p95_ms']:.0f} ms ({t['keystrokes']} keys)",
                f"p95 <= {GOALS['terminal_echo_p95_ms']} ms",
                t["echo_p95_ms"] <= GOALS["terminal_echo_p95_ms"])
            row("  the class server with them: memory at rest / typing, CPU at rest / typing",
                f"{t['server_rss_at_rest_mib']:.0f} / {t['server_rss_typing_peak_mib']:.0f} MiB, "
                f"{t['server_cpu_at_rest_pct']:.1f} / {t['server_cpu_typing_pct']:.0f} % of a core")

    m = r["machine"]
    width = max(len(what) for what, _, _ in rows)
    lines = [f"maillab bench, {r['when']}: {m['cores']} cores, {m['memory_gib']} GiB, "
             f"Docker {m['docker']}", ""]
    lines += [f"  {what:<{width}}  {value:<52} {goal}" for what, value, goal in rows]
    lines.append(f"\nAll figures: {RESULTS_FILE.relative_to(config.REPO)}")
    return "\n".join(lines)
