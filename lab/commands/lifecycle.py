"""The lab's lifecycle: start it, stop it, look at it."""

from __future__ import annotations

import argparse
import shutil
import sys

from lab import access, composeenv, config, docker, i18n, netseal, overrides, provider_settings, switches
from lab.commands import Exit, command
from lab.compose import Lab, compose_command
from lab.i18n import _
from lab.journal import Journal


def summary(lab: Lab, seconds: float) -> str:
    """What `make up` prints: what runs where, the accounts, what to try first."""
    s = lab.settings
    rows = [
        ("dns", _("ns.test: the lab's DNS, root of its internet"), s.address("dns")),
        ("provider-a", "mx, smtp, pop, imap.provider-a.test", s.address("provider-a")),
        ("provider-b", "mx, smtp, pop, imap.provider-b.test", s.address("provider-b")),
        ("client-x", _("X, a customer of A (on access-a)"), s.address("client-x", "access-a")),
        ("client-y", _("Y, a customer of B (on access-b)"), s.address("client-y", "access-b")),
        ("outsider", _("a stranger on the internet"), s.address("outsider")),
    ]
    up = _("maillab is up: project {project}, all {count} services healthy ({seconds} s)")
    lines: list[str] = [up.format(project=lab.project, count=len(rows), seconds=f"{seconds:.1f}")]
    lines.append("")
    lines += [f"  {svc:<11} {addr:<13} {what}" for svc, what, addr in rows]
    lines += ["", _("Accounts (passwords are set in .env):")]
    for acc in config.ACCOUNTS.values():
        lines.append(f"  {acc.address:<20} {acc.password_setting}={s.passwords[acc.password_setting]}")
    if s.publish_ports:
        lines += ["", _("On this machine (127.0.0.1), for a desktop mail client:")]
        for p in config.PROVIDERS:
            ports = ", ".join(f"{name} {s.host_port(p, port)}"
                              for port, name in config.PUBLISHED_PORTS.items())
            lines.append(f"  {p.service}: {ports}")
    else:
        lines += ["", _("No ports on this machine (PUBLISH_PORTS=off): work inside the containers.")]
    lines += ["", _("Switches (.env; `lab status` shows them live, `lab config` all the settings):")]
    lines += [f"  {t.env}={s.provider[t.name]}: {t.what}" for t in provider_settings.SWITCHES if t.env]
    lines += [
        "",
        _("Next: open a shell as X with `make shell SERVICE=client-x` and try"),
        "  dig MX provider-b.test",
        "  swaks --server smtp.provider-a.test:587 --tls --auth-user x@provider-a.test \\",
        f"        --auth-password {s.passwords['X_PASSWORD']} \\",
        "        --from x@provider-a.test --to y@provider-b.test",
        "",
        _("Learn step by step: `make lab` lists the exercises, `make show EX=1` opens the first."),
    ]
    return "\n".join(map(i18n.render, lines))


# Docker's words for a container's state, as `lab status` shows them
_STATES = {"healthy": _("healthy"), "starting": _("starting"), "unhealthy": _("unhealthy"),
           "missing": _("missing"), "exited": _("exited"), "running": _("running"), "paused": _("paused")}


@command("up")
def up(lab: Lab, args: argparse.Namespace) -> Exit:
    """start the lab and wait until every service is healthy"""
    print(_("Starting maillab (project {project}) with {compose} ...").format(
        project=lab.project, compose=" ".join(compose_command())), flush=True)
    seconds = lab.up()
    print(summary(lab, seconds))
    return Exit.OK


@command("down")
def down(lab: Lab, args: argparse.Namespace) -> Exit:
    """stop the lab; mailboxes and queues are kept"""
    lab.down()
    print(_("maillab {project} stopped; mailboxes and queues are kept (`make clean` deletes them).").format(
        project=lab.project))
    return Exit.OK


@command("clean")
def clean(lab: Lab, args: argparse.Namespace) -> Exit:
    """stop the lab and delete its volumes (mailboxes, queues) and its DKIM keys"""
    lab.down(volumes=True)
    shutil.rmtree(lab.settings.state_dir / "dkim", ignore_errors=True)  # new keys at the next start
    Journal(lab.settings).start_over()  # what was done in the deleted lab no longer counts
    print(_("maillab {project} stopped and its volumes deleted.").format(project=lab.project))
    return Exit.OK


@command("build")
def build(lab: Lab, args: argparse.Namespace) -> Exit:
    """(re)build the images, and the Debian base image if no registry has it"""
    lab.build()
    return Exit.OK


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--markdown", action="store_true",
                        help="the README's table of the providers' settings")


@command("config", _config_arguments)
def show_config(lab: Lab, args: argparse.Namespace) -> Exit:
    """check .env and show every value derived from it, and the providers' settings"""
    if args.markdown:
        print(provider_settings.markdown(), end="")
        return Exit.OK
    print(_("# .env is valid; project {project} would use:").format(project=lab.project))
    for key, value in sorted(composeenv.compose_env(lab.settings).items()):
        print(f"{key}={value}")
    print()
    print(_("# the providers' settings (lab/provider_settings.py): .env's value, and its default"))
    for t in provider_settings.TABLE:
        what = t.what if t.env else _("{what} (a switch of the running lab only)").format(what=t.what)
        print(_("{env} {value} default {default} {what}").format(
            env=f"{t.env or '-':<26}", value=f"{lab.settings.provider[t.name]:<8}", default=f"{t.default:<7}",
            what=what))
    return Exit.OK


@command("status")
def status(lab: Lab, args: argparse.Namespace) -> Exit:
    """each service's state, and whether the customers are dialled in"""
    states = lab.states()
    if not states:
        print(_("maillab {project} is not running: start it with `make up`.").format(project=lab.project))
        return Exit.FAILED
    for service in config.SERVICES:
        state = states.get(service, "missing")
        line = f"  {service:<11} {_STATES.get(state, state)}"
        if service.startswith("client-") and state == "healthy":
            who = service.removeprefix("client-")
            said = _("(dialled in)") if access.is_online(lab, who) else \
                _("(hung up: lab dial {who})").format(who=who)
            line += f"  {said}"
        print(line)
    healthy = all(states.get(s) == "healthy" for s in config.SERVICES)
    if all(states.get(p.service) == "healthy" for p in config.PROVIDERS):
        print(_("Switches:"))
        for service, provider in switches.state(lab).items():
            blocked = _("({count} blocked since the last reset)").format(count=provider.blocked) \
                if provider.op25b else ""
            blocked = f" {blocked}" if blocked else ""
            print(f"  {service:<11} {i18n.join(provider.on(), _(', '))}{blocked}")
    for p in config.PROVIDERS:
        if own := overrides.differences(lab.settings, p):
            where = overrides.folder(lab.settings, p).relative_to(config.REPO)
            own_settings = _("Settings of your own for {service} ({where}/; lab reset --overrides clears "
                             "them):")
            print(own_settings.format(service=p.service, where=where))
            print("\n".join(f"  {line}" for line in own))
    return Exit.OK if healthy else Exit.FAILED


def _service(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", choices=config.SERVICES)


@command("shell", _service)
def shell(lab: Lab, args: argparse.Namespace) -> Exit:
    """a shell in a service's container (client-x, client-y, outsider, ...)"""
    docker.become("exec", "-it", lab.container(args.service), "bash")


@command("nft", _service)
def nft(lab: Lab, args: argparse.Namespace) -> Exit:
    """a container's packet filter (nft list ruleset): the seal, and a provider's port 25 block"""
    print(netseal.netadmin(lab, args.service, "nft", "list", "ruleset"), end="")
    return Exit.OK


def _capture_arguments(parser: argparse.ArgumentParser) -> None:
    _service(parser)
    parser.add_argument("filter", nargs="*", help="a tcpdump filter, e.g. port 25")


@command("capture", _capture_arguments)
def capture(lab: Lab, args: argparse.Namespace) -> Exit:
    """watch a container's packets with tcpdump (e.g. lab capture client-x port 587); Ctrl-C stops"""
    # No lab container may open a raw socket (the sealed lab): tcpdump runs beside it,
    # in a throwaway container of the client image that shares its network and alone
    # holds NET_RAW (and SETUID, SETGID: tcpdump then drops root for its own user),
    # without promiscuous mode (-p), which would need NET_ADMIN too.
    docker.become("run", "--rm", "-it" if sys.stdin.isatty() else "-i",
                  "--network", f"container:{lab.container(args.service)}", "--cap-drop", "ALL",
                  "--cap-add", "NET_RAW", "--cap-add", "SETUID", "--cap-add", "SETGID",
                  "--security-opt", "no-new-privileges:true",
                  "--entrypoint", "tcpdump", config.IMAGES["client"], "-p", "-n", "-l", "-i", "any",
                  *args.filter)


def _logs_arguments(parser: argparse.ArgumentParser) -> None:
    _service(parser)
    parser.add_argument("--tail", type=int, help="only the last N lines")


@command("logs", _logs_arguments)
def logs(lab: Lab, args: argparse.Namespace) -> Exit:
    """a service's log (Postfix and Dovecot write theirs there)"""
    sys.stdout.write(lab.logs(args.service, tail=args.tail))
    return Exit.OK
