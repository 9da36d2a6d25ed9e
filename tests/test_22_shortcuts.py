"""Checks that see the learner's own act: a plausible shortcut fails the step it would
fake, with a hint saying why, where the act itself passes (test_14 runs the reference
solutions)."""

from __future__ import annotations

import re
import time

import pytest

from lab import overrides
from lab.compose import docker
from lab.config import PROVIDER_A, PROVIDER_B, X, Y
from tests.harness import wait_until
from tests.solutions import (
    container,
    lab_command,
    lab_ok,
    swaks_x_to,
    type_in_shell,
    type_into,
    wait_for_attempt,
)

pytestmark = pytest.mark.disruptive


def test_exercise_2_someone_elses_failed_login_is_not_xs(lab):
    lab_ok(lab, "reset")
    outsider = container(lab, "outsider")
    outsider.run("swaks", "--server", f"{PROVIDER_A.smtp}:587", "--tls", "--auth-user", X,
                 "--auth-password", "not-the-password", "--from", X, "--to", Y, check=False)
    a = container(lab, PROVIDER_A.service)
    outsider_ip = re.escape(lab.settings.address("outsider"))
    failure = re.compile(rf"\[{outsider_ip}\]:\d+: SASL \w+ authentication failed")
    wait_until(lambda: failure.search(a.log()), "the outsider's failed login in A's log")
    code, out = lab_command(lab, "check", "2")
    assert code == 1
    assert "[FAIL] 3. You saw A refuse a wrong password (535)" in out, out
    assert "no failed login from X's machine (only from others:" in out, out


def test_exercise_6_a_look_too_early_and_a_flush_do_not_count(lab):
    lab_ok(lab, "reset")
    # Postfix's own schedule (next try in 300 s): only the flush can deliver the message
    # within this test. (With the lab's 5-10 s, A once retried by itself while B was
    # still being restored, before the flush was typed, and rightly passed the step.)
    lab_ok(lab, "retry-profile", "postfix")
    try:
        type_in_shell(lab, PROVIDER_A.service, "mailq")  # nothing waits yet
        lab_ok(lab, "fault", "b-down")
        message_id = swaks_x_to(lab)
        wait_for_attempt(lab, PROVIDER_A.service, message_id, "deferred",
                         lambda m: any(a.status == "deferred" for a in m.attempts))
        lab_ok(lab, "restore", "b-down")
        # B slow to answer (frozen for 5 s, as a busy machine can be): the flush's
        # delivery comes seconds after it was typed, and is still the flush's doing.
        # (CI once saw it 4 s late, and the check took it for A's own retry.)
        slow_b = lab.container(PROVIDER_B.service)
        docker("pause", slow_b)
        try:
            type_in_shell(lab, PROVIDER_A.service, "postqueue -f")  # pushed out by hand
            time.sleep(5)
        finally:
            docker("unpause", slow_b)
        wait_for_attempt(lab, PROVIDER_A.service, message_id, "delivered",
                         lambda m: any(a.status == "sent" for a in m.attempts))
        code, out = lab_command(lab, "check", "6")
    finally:
        lab_ok(lab, "reset")  # .env's retry schedule again
    assert code == 1
    assert "[FAIL] 2. You looked at A's queue while the message waited" in out, out
    assert "(you looked, but not while one waited)" in out, out
    assert "[FAIL] 3. A retried by itself and delivered it" in out, out
    assert "left after `postqueue -f`, typed in provider-a: that was you" in out, out


def test_exercise_1_listing_the_zone_files_is_not_reading_one(lab):
    lab_ok(lab, "reset")
    type_in_shell(lab, "dns", "ls /run/nsd/zones/*.zone")
    code, out = lab_command(lab, "check", "1")
    assert code == 1
    assert "[FAIL] 7. On the DNS server you read the zone file that gives these answers" in out, out
    assert "no reading of a zone file (cat, less, grep, ...) typed in dns yet" in out, out


def test_exercise_13_a_forgery_while_the_key_is_broken_is_not_a_forwarded_copy(lab):
    """Step 6 wants B to refuse a copy of X's own broken-key message, found by its
    Message-ID: the outsider's forgery, refused by DMARC in the same minutes, is not one."""
    lab_ok(lab, "reset")
    try:
        lab_ok(lab, "dkim", "break")
        swaks_x_to(lab)
        out = type_in_shell(lab, "outsider", f'swaks --server {PROVIDER_B.mx} --from bulk@nowhere.example '
                                             f'--header "From: {X}" --to {Y}')
        assert "550 5.7.1 rejected by DMARC policy" in out, out
        code, out = lab_command(lab, "check", "13")
    finally:
        lab_ok(lab, "reset")
    assert code == 1
    assert "[FAIL] 6. With the key broken, a forwarded copy was refused" in out, out
    assert "B has refused no forwarded copy of X's mail signed with the broken key" in out, out


@pytest.mark.parametrize("port", [587, 465])
def test_exercise_10_a_refusal_on_bs_submission_port_is_not_the_story(lab, port):
    """Step 2 wants X on B's port 25, which only the block's being off makes possible.
    B's 587 and 465 are open to everyone, block or not: B's refusal of X there (no login)
    is no direct hand-over, and the step says so (the check once took any refusal)."""
    lab_ok(lab, "reset")
    type_in_shell(lab, "client-x", f"swaks --server {PROVIDER_B.mx} --from {X} --to {Y}")  # blocked
    tls = "--tls" if port == 587 else "--tlsc"
    type_in_shell(lab, "client-x", f"swaks --server {PROVIDER_B.mx}:{port} {tls} --from {X} --to {Y}")
    b = container(lab, PROVIDER_B.service)
    x_address = re.escape(lab.settings.address("client-x", "access-a"))
    service = "submission" if port == 587 else "submissions"
    refused = re.compile(rf"postfix/{service}/smtpd\[\d+\]: NOQUEUE: reject: RCPT from \S+\[{x_address}\]")
    wait_until(lambda: refused.search(b.log()), f"B's refusal of X on its port {port}")
    code, out = lab_command(lab, "check", "10")
    assert code == 1
    assert "[PASS] 1. X tried B's port 25 directly, and A's block refused it" in out, out
    assert "[FAIL] 2. With the block off, X reached B's port 25 itself" in out, out
    assert f"(B refused X on port {port}, a submission port, which the block leaves open)" in out, out


def test_exercise_11_a_look_before_the_message_existed_does_not_count(lab):
    """Step 2 accepts a `watch` started before the first attempt (the reference solution
    does that); a single `postqueue -p` typed before the message existed saw nothing."""
    lab_ok(lab, "reset")
    try:
        lab_ok(lab, "greylist", "on")
        type_in_shell(lab, PROVIDER_A.service, "postqueue -p")  # nothing waits yet
        looked = time.time()
        # the history keeps whole seconds, and the check allows a second's slack
        wait_until(lambda: time.time() > looked + 2, "two seconds past the look")
        message_id = swaks_x_to(lab)
        wait_for_attempt(lab, PROVIDER_A.service, message_id, "through the greylist",
                         lambda m: bool(m.attempts) and m.attempts[-1].status == "sent",
                         timeout=lab.settings.greylist_delay + 30)
        code, out = lab_command(lab, "check", "11")
    finally:
        lab_ok(lab, "reset")
    assert code == 1
    assert "[PASS] 1. B greylisted X's message at first (450 4.2.0)" in out, out
    assert "[FAIL] 2. You saw it wait in A's queue" in out, out
    assert "you looked at A's queue, but not while a greylisted message waited there" in out, out


def test_exercise_16_a_look_before_the_change_and_a_deleted_file_do_not_count(lab):
    """Step 1 wants the outsider's greeting while the banner of your own is on; step 4 a
    MAIL FROM before EHLO while HELO is required (before, B takes it: 250); step 6 B's
    live values back, which deleting the overrides file by hand does not do."""
    lab_ok(lab, "reset", "--overrides")
    try:
        type_in_shell(lab, "outsider", f"swaks --server {PROVIDER_B.mx} --quit-after CONNECT")  # too early
        type_into(lab, "outsider", ["nc", "-C", PROVIDER_B.mx, "25"], [
            {"pause": 1}, ("MAIL FROM:<someone@nowhere.example>", r"^250 "), ("QUIT", r"^221 ")])
        lab_ok(lab, "postconf", PROVIDER_B.service, "smtpd_banner=$myhostname ESMTP changed too late",
               "smtpd_helo_required=yes")
        (overrides.folder(lab.settings, PROVIDER_B) / overrides.POSTFIX_FILE).unlink()  # by hand
        code, out = lab_command(lab, "check", "16")
    finally:
        lab_ok(lab, "reset", "--overrides")
    out = " ".join(out.split())  # (details are wrapped to the terminal)
    assert code == 1
    assert "[FAIL] 1. B greets the outsider with a banner of your own" in out, out
    assert "the outsider has not connected to B's port 25 while your banner was on" in out, out
    assert "[FAIL] 4. With HELO required, B refused the outsider's MAIL FROM before EHLO" in out, out
    assert "[FAIL] 6. All undone" in out, out
    left = "provider-b runs with smtpd_banner = $myhostname ESMTP changed too late, the lab's own is"
    assert left in out, out
    assert "this may come from settings of your own" not in out, out  # they are the exercise
