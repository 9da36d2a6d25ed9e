"""`lab` (also `python3 -m lab`): run the lab from the host.

    lab up        start the lab and wait until every service is healthy
    lab down      stop it; mailboxes and queues stay in their volumes
    lab clean     stop it and delete its volumes (mailboxes, queues)
    lab build     rebuild the images
    lab config    check .env and show every value derived from it
    lab shell S   a shell in service S (client-x, client-y, outsider, ...)
    lab relay-check [--from V] [--server P] [--port N]
                  try every relay trick against a provider; exit 1 if any works
    lab fault F   cause a fault: b-down, partition, b-refuses, dns-down
    lab restore [F]  undo a fault (all of them, without F)
    lab retry-profile P [--provider S]   switch a running provider's retry schedule
    lab quota-full bounce|tempfail       what B's full mailboxes answer, live
    lab bench     measure start-up, latency, throughput, recovery, memory (make bench)

LAB_ID=N selects a side-by-side lab with its own subnets and ports.
"""

from __future__ import annotations

import argparse
import enum
import os
import sys

from lab import config, faults, probes, relaycheck
from lab.compose import Lab, LabError, compose_command


class Exit(enum.IntEnum):
    OK = 0
    FAILED = 1  # the lab did not do what was asked (message says why)
    BAD_SETTING = 2  # .env or the command line is wrong; nothing was started


def _summary(lab: Lab, seconds: float) -> str:
    s = lab.settings
    rows = [
        ("dns", "ns.test: the lab's DNS, root of its internet", s.address("dns")),
        ("provider-a", "mx, smtp, pop.provider-a.test", s.address("provider-a")),
        ("provider-b", "mx, smtp, pop.provider-b.test", s.address("provider-b")),
        ("client-x", "X, a customer of A (on access-a)", s.address("client-x", "access-a")),
        ("client-y", "Y, a customer of B (on access-b)", s.address("client-y", "access-b")),
        ("outsider", "a stranger on the internet", s.address("outsider")),
    ]
    lines = [f"maillab is up: project {lab.project}, all {len(rows)} services healthy ({seconds:.1f} s)"]
    lines.append("")
    lines += [f"  {svc:<11} {addr:<13} {what}" for svc, what, addr in rows]
    lines += ["", "Accounts (passwords are set in .env):"]
    for acc in config.ACCOUNTS.values():
        lines.append(f"  {acc.address:<20} {acc.password_setting}={s.passwords[acc.password_setting]}")
    lines += ["", "On this machine (127.0.0.1), for a desktop mail client:"]
    for p in config.PROVIDERS:
        ports = ", ".join(f"{name} {s.host_port(p, port)}" for name, port in
                          (("SMTP", 25), ("submission", 587), ("POP3", 110), ("POP3S", 995)))
        lines.append(f"  {p.service}: {ports}")
    lines += [
        "",
        "Next: open a shell as X with `make shell SERVICE=client-x` and try",
        "  dig MX provider-b.test",
        "  swaks --server smtp.provider-a.test:587 --tls --auth-user x@provider-a.test \\",
        f"        --auth-password {s.passwords['X_PASSWORD']} \\",
        "        --from x@provider-a.test --to y@provider-b.test",
    ]
    return "\n".join(lines)


def cmd_up(lab: Lab, args: argparse.Namespace) -> Exit:
    print(f"Starting maillab (project {lab.project}) with {' '.join(compose_command())} ...", flush=True)
    seconds = lab.up()
    print(_summary(lab, seconds))
    return Exit.OK


def cmd_down(lab: Lab, args: argparse.Namespace) -> Exit:
    lab.down()
    print(f"maillab {lab.project} stopped; mailboxes and queues are kept (`make clean` deletes them).")
    return Exit.OK


def cmd_clean(lab: Lab, args: argparse.Namespace) -> Exit:
    lab.down(volumes=True)
    print(f"maillab {lab.project} stopped and its volumes deleted.")
    return Exit.OK


def cmd_build(lab: Lab, args: argparse.Namespace) -> Exit:
    lab.build()
    return Exit.OK


def cmd_config(lab: Lab, args: argparse.Namespace) -> Exit:
    print(f"# .env is valid; project {lab.project} would use:")
    for key, value in sorted(config.compose_env(lab.settings).items()):
        print(f"{key}={value}")
    return Exit.OK


def cmd_shell(lab: Lab, args: argparse.Namespace) -> Exit:
    cid = lab.container(args.service)
    os.execvp("docker", ["docker", "exec", "-it", cid, "bash"])


def cmd_relay_check(lab: Lab, args: argparse.Namespace) -> Exit:
    provider = next(p for p in config.PROVIDERS if p.service == args.server)
    where = "this machine, through 127.0.0.1" if args.vantage == probes.HOST else args.vantage
    print(f"Relay check of {provider.service} port {args.port}, from {where}:", flush=True)
    attempts = probes.relay_check(lab, args.vantage, provider, args.port)
    print(relaycheck.table(attempts))
    return Exit.FAILED if any(a.relayed for a in attempts) else Exit.OK


def cmd_fault(lab: Lab, args: argparse.Namespace) -> Exit:
    print(faults.FAULTS[args.fault].apply(lab))
    return Exit.OK


def cmd_restore(lab: Lab, args: argparse.Namespace) -> Exit:
    if args.fault:
        print(faults.FAULTS[args.fault].restore(lab))
    else:
        faults.restore_all(lab)
        print("Every fault is undone: B runs and is connected, accepts mail, and the DNS answers.")
    return Exit.OK


def cmd_retry_profile(lab: Lab, args: argparse.Namespace) -> Exit:
    faults.set_retry_profile(lab, args.provider, args.profile)
    print(f"{args.provider} now retries with the {args.profile!r} schedule: "
          + ", ".join(f"{k}={v}" for k, v in config.RETRY_PROFILES[args.profile].items()))
    return Exit.OK


def cmd_quota_full(lab: Lab, args: argparse.Namespace) -> Exit:
    faults.set_quota_full(lab, config.PROVIDER_B.service, args.mode)
    print(f"A full mailbox on provider-b now answers as in QUOTA_FULL={args.mode}.")
    return Exit.OK


def cmd_bench(lab: Lab, args: argparse.Namespace) -> Exit:
    from lab import bench  # only here: the rest of the CLI does not need it

    print(bench.table(bench.run()))
    return Exit.OK


COMMANDS = {
    "up": cmd_up,
    "down": cmd_down,
    "clean": cmd_clean,
    "build": cmd_build,
    "config": cmd_config,
    "shell": cmd_shell,
    "relay-check": cmd_relay_check,
    "fault": cmd_fault,
    "restore": cmd_restore,
    "retry-profile": cmd_retry_profile,
    "quota-full": cmd_quota_full,
    "bench": cmd_bench,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, func in COMMANDS.items():
        sp = sub.add_parser(name, help=(func.__doc__ or "").strip())
        if name == "shell":
            sp.add_argument("service", choices=config.SERVICES)
        if name == "relay-check":
            sp.add_argument("--from", dest="vantage", default="outsider", choices=probes.VANTAGE_POINTS,
                            help="where the attempts come from (host: through the published ports)")
            sp.add_argument("--server", default="provider-a", choices=[p.service for p in config.PROVIDERS])
            sp.add_argument("--port", type=int, default=25, choices=config.PUBLISHED_PORTS[:2])
        if name == "fault":
            sp.add_argument("fault", choices=faults.FAULTS)
        if name == "restore":
            sp.add_argument("fault", nargs="?", choices=faults.FAULTS)
        if name == "retry-profile":
            sp.add_argument("profile", choices=config.RETRY_PROFILES)
            sp.add_argument("--provider", default=config.PROVIDER_A.service,
                            choices=[p.service for p in config.PROVIDERS])
        if name == "quota-full":
            sp.add_argument("mode", choices=config.QUOTA_FULL_MODES)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = config.load()
    except config.SettingError as err:
        print(f"error: {err}\n(fix it in .env or the environment; nothing was started)", file=sys.stderr)
        return Exit.BAD_SETTING
    try:
        return COMMANDS[args.command](Lab(settings), args)
    except LabError as err:
        print(f"error: {err}", file=sys.stderr)
        return Exit.FAILED
