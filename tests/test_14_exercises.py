"""The learner's side: every exercise's check fails on a clean lab (saying why) and
passes after the reference solution (tests/solutions.py); `lab reset` cleans a dirtied
lab; `lab trace` follows a delivered, a deferred and a bounced message."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from lab import access, config, exercises, switches
from lab.config import PROVIDER_A, PROVIDER_B, SERVICES, X, Y
from lab.markdown import render
from tests import solutions, solutions_after
from tests.harness import deferred_entry, fill_mailbox, submit_many, wait_until
from tests.solutions import (
    lab_command,
    lab_ok,
    mailbox_count,
    swaks_x_to,
    trace_saying,
    type_in_shell,
    wait_for_attempt,
    wait_for_check,
)

EXERCISES = exercises.all_exercises()
SOLUTIONS = {**solutions.SOLUTIONS, **solutions_after.SOLUTIONS}


def test_every_exercise_has_both_editions_and_a_check():
    assert [e.number for e in EXERCISES] == list(range(1, 17))
    assert sorted(SOLUTIONS) == [e.number for e in EXERCISES]
    for exercise in EXERCISES:
        for language in exercises.LANGUAGES:
            text = exercise.text(language)
            assert text.startswith(f"# {exercise.number}. "), (exercise.path, language)
            assert "lab check" in text, (exercise.path, language)
        english = exercise.text("en")
        for section in ("## Goal", "## Background", "## Steps", "## Questions", "## What `lab check"):
            assert section in english, (exercise.path, section)
        assert len(exercise.steps) >= 4


def test_no_text_or_solution_names_an_address_of_lab_0():
    """A class runs labs 1..N, each on subnets of its own (LAB_ID): an address of lab 0,
    or a name made of one (dialup-10-80-1-100), in a text or a solution is wrong in
    every other lab. The texts name the command that finds it (hostname -I, dig)."""
    lab0 = config.load(lab_id=0, environ={})
    networks = list(lab0.subnets.values())
    texts = {f"{e.path.name} ({lang})": e.text(lang) for e in EXERCISES for lang in exercises.LANGUAGES}
    texts.update({p.name: p.read_text() for p in Path(__file__).parent.glob("solutions*.py")})
    found = []
    for name, text in texts.items():
        for quad in re.findall(r"\b\d+[.-]\d+[.-]\d+[.-]\d+\b", text):
            try:
                address = ipaddress.IPv4Address(quad.replace("-", "."))
            except ValueError:
                continue
            found += [f"{name}: {quad}" for n in networks if address in n]
    assert found == []


def test_show_renders_markdown_without_colour_when_piped():
    text = render(EXERCISES[0].text(), color=False)
    assert "\033[" not in text
    assert text.splitlines()[:2] == [f"1. {EXERCISES[0].title}", "=" * len(f"1. {EXERCISES[0].title}")]
    assert "    dig MX provider-b.test" in text  # code blocks indented, kept verbatim


def test_show_keeps_a_list_items_next_paragraph_under_its_text():
    text = render("Steps:\n\n1. Send it:\n\n       swaks --to y\n\n   What does B answer?\n2. Next.\n",
                  color=False)
    assert text.splitlines() == ["Steps:", "", "  1. Send it:", "", "       swaks --to y", "",
                                 "     What does B answer?", "  2. Next."]


def test_list_shows_every_exercise(lab):
    code, out = lab_command(lab, "list")
    assert code == 0
    for exercise in EXERCISES:
        assert re.search(rf"^\s+{exercise.number}\. {re.escape(exercise.title)}", out, re.M)


def test_status_names_every_service_and_who_is_dialled_in(lab):
    out = lab_ok(lab, "status")
    for service in SERVICES:
        assert re.search(rf"^\s+{service}\s+healthy", out, re.M), out
    assert out.count("(dialled in)") == 2, out


def test_unknown_exercise_says_which_exist(lab, capsys):
    assert lab_command(lab, "check", "42")[0] == 1
    assert "there is no exercise 42: the exercises are 1, 2, 3" in capsys.readouterr().err


@pytest.mark.disruptive
@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: f"{e.number:02d}-{e.slug}")
def test_check_fails_on_a_clean_lab_and_passes_after_the_solution(lab, exercise):
    assert lab.settings.lab_id != 0  # the solutions hold in any lab, as in a class (LAB_ID 1..N)
    lab_ok(lab, "reset")
    code, out = lab_command(lab, "check", str(exercise.number))
    assert code == 1, out
    steps = len(exercise.steps)
    failing = out.count("[FAIL]")
    assert failing >= 1 and out.count("hint:") == failing, out
    assert f"{steps - failing} of {steps} steps done" in out
    SOLUTIONS[exercise.number](lab)
    wait_for_check(lab, exercise.number)
    code, out = lab_command(lab, "check", str(exercise.number))
    assert code == 0 and f"{steps} of {steps} steps done" in out, out
    assert "[FAIL]" not in out


@pytest.mark.disruptive
def test_reset_cleans_a_dirtied_lab(lab, container):
    lab_ok(lab, "reset")
    swaks_x_to(lab)
    wait_until(lambda: mailbox_count(lab, Y) == 1, "mail in Y's mailbox")
    type_in_shell(lab, "client-x", "echo dirty")
    type_in_shell(lab, PROVIDER_A.service, "postconf -e smtpd_tls_auth_only=no", "postfix reload")  # by hand
    settings = lab.settings
    other_profile = next(p for p in config.RETRY_PROFILES if p != settings.retry_profile)
    other_answer = next(m for m in config.QUOTA_FULL_MODES if m != settings.quota_full)
    other_policy = next(p for p in config.DMARC_POLICIES if p != settings.dmarc)
    flipped = [["op25b", "off" if settings.op25b else "on"],
               ["greylist", "off" if settings.greylist else "on"],
               ["dmarc", other_policy], ["dkim", "break"]]
    for command in (["open-relay", "on"], ["quota-full", other_answer], ["retry-profile", other_profile],
                    *flipped):
        lab_ok(lab, *command)
    before = switches.state(lab)[PROVIDER_A.service]
    assert (before.op25b, before.greylist) == (not settings.op25b, not settings.greylist)
    assert (before.dmarc, before.dkim_key) == (other_policy, "broken")
    a, b = container(PROVIDER_A.service), container(PROVIDER_B.service)
    assert f"quota-full-mode {other_answer}" in b.output("cat", "/etc/dovecot/quota-full.conf")
    lab_ok(lab, "fault", "b-down")
    waiting = swaks_x_to(lab)
    wait_for_attempt(lab, PROVIDER_A.service, waiting, "deferred",
                     lambda m: any(a.status == "deferred" for a in m.attempts))
    for who in ("x", "y"):
        lab_ok(lab, "hangup", who)
    # The lab is dirty in every way reset undoes (each checked, so the reset has work).
    assert "echo dirty" in container("client-x").output("cat", config.SHELL_HISTORY)
    assert a.postconf("smtpd_tls_auth_only") == "no" and switches.is_open_relay(lab)
    assert lab.states()[PROVIDER_B.service] == "exited"
    assert not access.is_online(lab, "x") and not access.is_online(lab, "y")
    assert [m["queue_name"] for m in a.queue()] == ["deferred"]
    assert a.postconf("maximal_backoff_time") == config.RETRY_PROFILES[other_profile]["maximal_backoff_time"]
    b_mx = re.compile(rf"^{re.escape(PROVIDER_B.domain)}\.\s+\d+\s+IN\s+MX\s", re.M)
    assert b_mx.search(a.output("resolver", "dump"))  # A's resolver remembers B's MX
    lab_ok(lab, "reset")
    assert not b_mx.search(container(PROVIDER_A.service).output("resolver", "dump"))  # forgotten
    assert all(lab.states()[s] == "healthy" for s in SERVICES)
    assert access.is_online(lab, "x") and access.is_online(lab, "y")
    assert not switches.is_open_relay(lab)
    assert all((p.op25b, p.greylist, p.quota_full, p.retry_profile)
               == (settings.op25b, settings.greylist, settings.quota_full, settings.retry_profile)
               for p in switches.state(lab).values())
    assert all((p.dmarc, p.dkim_key) == (settings.dmarc, "good") for p in switches.state(lab).values())
    a, b = container(PROVIDER_A.service), container(PROVIDER_B.service)
    assert a.postconf("smtpd_tls_auth_only") == "yes"
    schedule = config.RETRY_PROFILES[settings.retry_profile]
    assert a.postconf("maximal_backoff_time") == schedule["maximal_backoff_time"]
    assert f"quota-full-mode {settings.quota_full}" in b.output("cat", "/etc/dovecot/quota-full.conf")
    assert a.queue() == [] and b.queue() == []
    assert mailbox_count(lab, Y) == 0
    assert container("client-x").output("cat", config.SHELL_HISTORY) == ""
    # and the lab works: X's next message reaches Y
    swaks_x_to(lab)
    wait_until(lambda: mailbox_count(lab, Y) == 1, "mail in Y's mailbox after the reset")


@pytest.mark.disruptive
def test_trace_of_a_delivered_message(lab, client_x, settings):
    lab_ok(lab, "reset")
    [(mid, code, _)] = submit_many(client_x, X, settings.password(X), Y, 1, "trace-sent")
    assert code == 250
    wait_until(lambda: mailbox_count(lab, Y) == 1, "the message at Y")
    code, out = lab_command(lab, "trace", mid)
    assert code == 0, out
    steps = re.findall(r"\((\d)\) ([a-zA-Z -]+):", out)
    assert [s for s, _ in steps] == ["1", "2", "3", "4", "5", "5"]  # B checks who sent it, then stores
    assert "who really sent it? spf=pass dkim=pass dmarc=pass" in out
    assert f"AUTH as {X}" in out and f"MX {PROVIDER_B.domain}? → {PROVIDER_B.mx}" in out
    assert "250 2.0.0 Ok: queued as" in out and f"LMTP into {Y}'s mailbox" in out
    assert f"Now: in {Y}'s mailbox at {PROVIDER_B.service}" in out
    mermaid = _mermaid_file(out).read_text()
    assert mermaid.startswith("sequenceDiagram") and "X->>A" in mermaid and "A->>B" in mermaid


@pytest.mark.disruptive
def test_trace_of_a_deferred_message(lab, client_x, settings, container):
    lab_ok(lab, "reset")
    lab_ok(lab, "fault", "b-refuses")
    try:
        [sent] = submit_many(client_x, X, settings.password(X), Y, 1, "trace-deferred")
        assert sent.code == 250
        wait_until(lambda: deferred_entry(container(PROVIDER_A.service), sent.queue_id),
                   f"{sent.queue_id} deferred at A")
        code, out = lab_command(lab, "trace", sent.message_id)
    finally:
        lab_ok(lab, "reset")
    assert code == 0
    assert "deferred, A keeps it and retries" in out and "450 4.3.2" in out
    assert f"Now: waiting in {PROVIDER_A.service}'s queue" in out


@pytest.mark.disruptive
def test_trace_of_a_bounced_message(lab, client_x, settings, container):
    lab_ok(lab, "reset")
    size = config.size_in_bytes(settings.mailbox_quota) // 10
    fill_mailbox(container(PROVIDER_B.service), Y, config.size_in_bytes(settings.mailbox_quota) - size // 2)
    [(mid, code, _)] = submit_many(client_x, X, settings.password(X), Y, 1, "trace-bounced", size=size)
    assert code == 250
    wait_for_attempt(lab, PROVIDER_A.service, mid, "returned to X",
                     lambda m: any(kind == "non-delivery" for _, kind, _ in m.notices))
    code, out = lab_command(lab, "trace", mid)
    lab_ok(lab, "reset")
    assert code == 0
    assert "bounced (5.2.2)" in out and "Mailbox is full" in out
    assert "non-delivery notification" in out and f"returned to {X}" in out


@pytest.mark.disruptive
def test_trace_of_a_greylisted_message(lab, client_x, settings):
    lab_ok(lab, "reset")
    lab_ok(lab, "greylist", "on")
    try:
        [(mid, code, _)] = submit_many(client_x, X, settings.password(X), Y, 1, "trace-greylisted")
        assert code == 250
        wait_for_attempt(lab, PROVIDER_A.service, mid, "delivered",
                         lambda m: bool(m.attempts) and m.attempts[-1].status == "sent",
                         timeout=settings.greylist_delay + 30)
        # B's LMTP line may reach B's log a moment after A logged B's 250 (CI once traced
        # in between)
        out = trace_saying(lab, mid, f"Now: in {Y}'s mailbox at {PROVIDER_B.service}")
    finally:
        lab_ok(lab, "reset")
    assert "B: try again later — greylisted; A retries" in out and "Greylisted: try again in" in out


@pytest.mark.disruptive
def test_trace_of_a_discarded_message(lab, client_x, settings, container):
    lab_ok(lab, "reset")
    lab_ok(lab, "quota-full", "discard")
    try:
        size = config.size_in_bytes(settings.mailbox_quota) // 10
        quota = config.size_in_bytes(settings.mailbox_quota)
        fill_mailbox(container(PROVIDER_B.service), Y, quota - size // 2)
        [(mid, code, _)] = submit_many(client_x, X, settings.password(X), Y, 1, "trace-discarded", size=size)
        assert code == 250
        wait_for_attempt(lab, PROVIDER_A.service, mid, "handed to B", lambda m: bool(m.attempts))
        code, out = lab_command(lab, "trace", mid)
    finally:
        lab_ok(lab, "reset")
    assert code == 0, out
    assert "discarded at B: mailbox full — nobody is told" in out
    assert f"Now: discarded at {PROVIDER_B.service}: mailbox full — nobody is told" in out


def _mermaid_file(out: str) -> Path:
    match = re.search(r"Mermaid picture for a report: (\S+)", out)
    assert match, out
    return config.REPO / match.group(1)
