"""Faults and switches: what goes wrong between the providers, and the settings a
learner flips on a running lab. Every one is undone by `lab restore` or `lab reset`."""

from __future__ import annotations

import argparse

from lab import config, faults, probes, relaycheck, switches
from lab.commands import Exit, command
from lab.compose import Lab
from lab.journal import Journal


def _relay_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="vantage", default="outsider", choices=probes.VANTAGE_POINTS,
                        help="where the attempts come from (host: through the published ports)")
    parser.add_argument("--server", default="provider-a", choices=[p.service for p in config.PROVIDERS])
    parser.add_argument("--port", type=int, default=25, choices=(25, 587, 465))


@command("relay-check", _relay_check_arguments)
def relay_check(lab: Lab, args: argparse.Namespace) -> Exit:
    """try every relay trick against a provider; exit 1 if any works"""
    provider = next(p for p in config.PROVIDERS if p.service == args.server)
    where = "this machine, through 127.0.0.1" if args.vantage == probes.HOST else args.vantage
    print(f"Relay check of {provider.service} port {args.port}, from {where}:", flush=True)
    attempts = probes.relay_check(lab, args.vantage, provider, args.port)
    print(relaycheck.table(attempts))
    relayed = sum(a.relayed for a in attempts)
    Journal(lab.settings).record("relay-check", server=provider.service, vantage=args.vantage,
                                 port=args.port, attempts=len(attempts), relayed=relayed)
    return Exit.FAILED if relayed else Exit.OK


@command("fault", lambda p: p.add_argument("fault", choices=faults.FAULTS))
def fault(lab: Lab, args: argparse.Namespace) -> Exit:
    """cause a fault: b-down, partition, b-refuses, dns-down, a-crash, b-crash, a-disk-full, b-disk-full"""
    print(faults.FAULTS[args.fault].apply(lab))
    Journal(lab.settings).record("fault", name=args.fault)
    return Exit.OK


@command("restore", lambda p: p.add_argument("fault", nargs="?", choices=faults.FAULTS))
def restore(lab: Lab, args: argparse.Namespace) -> Exit:
    """undo a fault (all of them, without a name)"""
    if args.fault:
        print(faults.FAULTS[args.fault].restore(lab))
    else:
        faults.restore_all(lab)
        print("Every fault is undone: B runs and is connected, accepts mail, and the DNS answers.")
    Journal(lab.settings).record("restore", name=args.fault or "all")
    return Exit.OK


def _retry_profile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", choices=config.RETRY_PROFILES)
    parser.add_argument("--provider", default=config.PROVIDER_A.service,
                        choices=[p.service for p in config.PROVIDERS])


@command("retry-profile", _retry_profile_arguments)
def retry_profile(lab: Lab, args: argparse.Namespace) -> Exit:
    """switch a running provider's retry schedule"""
    switches.set_retry_profile(lab, args.provider, args.profile)
    Journal(lab.settings).record("retry-profile", provider=args.provider, profile=args.profile)
    print(f"{args.provider} now retries with the {args.profile!r} schedule: "
          + ", ".join(f"{k}={v}" for k, v in config.RETRY_PROFILES[args.profile].items()))
    return Exit.OK


QUOTA_FULL_WORDS = {
    "bounce": "refuses the message with 552 5.2.2: A returns it to its sender at once",
    "tempfail": "answers 452 4.2.2: A keeps the message and retries until there is room",
    "discard": "takes the message (250) and throws it away: nobody is told, as in the story's days",
}


@command("quota-full", lambda p: p.add_argument("mode", choices=config.QUOTA_FULL_MODES))
def quota_full(lab: Lab, args: argparse.Namespace) -> Exit:
    """what B's full mailboxes answer, live: bounce, tempfail or discard"""
    switches.set_quota_full(lab, args.mode)
    Journal(lab.settings).record("quota-full", mode=args.mode)
    print(f"A full mailbox on provider-b now {QUOTA_FULL_WORDS[args.mode]} (QUOTA_FULL={args.mode}).")
    return Exit.OK


def _on_off(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("state", choices=("on", "off"))


@command("op25b", _on_off)
def op25b(lab: Lab, args: argparse.Namespace) -> Exit:
    """LAB SWITCH: providers block their customers' port 25 (on, as ISPs do) or not"""
    on = args.state == "on"
    switches.set_op25b(lab, on)
    Journal(lab.settings).record("op25b", on=on)
    if on:
        print("Port 25 is blocked for the customers again (OP25B): X and Y can reach another host's\n"
              "port 25 no more; they submit through their own provider's port 587, with a login.")
    else:
        print("LAB SWITCH: port 25 blocking is OFF, as in the story's days: X and Y can connect to\n"
              "any mail server's port 25 directly (and so could a customer's virus). Undo: lab op25b on")
    return Exit.OK


@command("greylist", _on_off)
def greylist(lab: Lab, args: argparse.Namespace) -> Exit:
    """LAB SWITCH: both providers greylist strangers' mail on port 25 (on) or not"""
    on = args.state == "on"
    switches.set_greylist(lab, on)
    Journal(lab.settings).record("greylist", on=on)
    delay = lab.settings.greylist_delay
    if on:
        print("LAB SWITCH: greylisting is ON: the first attempt of each (client, sender, recipient)\n"
              f"on port 25 gets a 450; a retry after {delay} s passes. A retries by itself.\n"
              "Undo: lab greylist off")
    else:
        print("Greylisting is off: port 25 takes mail at the first attempt again.")
    return Exit.OK


DMARC_WORDS = {
    "none": "only recorded: a message failing DMARC is delivered, with dmarc=fail in its headers",
    "quarantine": "delivered but marked: \"[DMARC quarantine]\" in its Subject and an X-Quarantine header",
    "reject": "refused while the sender is still connected: 550 5.7.1 rejected by DMARC policy",
}


@command("dmarc", lambda p: p.add_argument("policy", choices=config.DMARC_POLICIES))
def dmarc(lab: Lab, args: argparse.Namespace) -> Exit:
    """LAB SWITCH: the DMARC policy both domains publish: none, quarantine or reject"""
    switches.set_dmarc(lab, args.policy)
    Journal(lab.settings).record("dmarc", policy=args.policy)
    print(f"Both domains now publish p={args.policy} (dig TXT _dmarc.provider-a.test): mail whose From:\n"
          f"fails DMARC is {DMARC_WORDS[args.policy]}. `lab reset` puts back DMARC_POLICY from .env.")
    return Exit.OK


@command("dkim", lambda p: p.add_argument("action", choices=("break", "fix")))
def dkim(lab: Lab, args: argparse.Namespace) -> Exit:
    """LAB SWITCH: provider-a signs with a key the DNS does not publish (break), or its own (fix)"""
    broken = args.action == "break"
    switches.set_dkim_key(lab, "broken" if broken else "good")
    Journal(lab.settings).record("dkim", broken=broken)
    if broken:
        print("LAB SWITCH: provider-a now signs with a key the DNS does not publish: its mail fails DKIM\n"
              "at B (dkim=fail), and DMARC passes only if SPF does. X's own mail comes from A's listed\n"
              "address and still passes; a copy forwarded from elsewhere is refused under p=reject\n"
              "(exercise 13). Undo: lab dkim fix")
    else:
        print("provider-a signs with the key its DNS publishes again (dkim=pass at B).")
    return Exit.OK


@command("open-relay", lambda p: p.add_argument("state", choices=("on", "off")))
def open_relay(lab: Lab, args: argparse.Namespace) -> Exit:
    """LAB SWITCH for exercise 5: provider-a relays for anyone"""
    on = args.state == "on"
    value = switches.open_relay(lab, on)
    Journal(lab.settings).record("open-relay", on=on)
    if on:
        print(f"LAB SWITCH: provider-a is now an OPEN RELAY (mynetworks = {value}): it relays mail for\n"
              "anyone, as badly configured servers once did. Only inside this lab. Undo: lab open-relay off")
    else:
        print(f"provider-a relays only for its customers again (mynetworks = {value}).")
    return Exit.OK
