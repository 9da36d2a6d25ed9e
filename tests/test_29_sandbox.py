"""A mail admin's sandbox (README): settings of the admin's own over the lab's, tried by
Postfix or Dovecot before they are kept, kept over resets, restarts and crashes, shown,
and cleared only when asked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lab import faults, overrides
from lab.config import PROVIDER_B, REPO, X, Y
from lab.journal import Journal
from tests.harness import Container, submit, swaks
from tests.solutions import lab_command, lab_ok

BANNER = "$myhostname ESMTP run by the admin's own settings"
SHOWN = "220 mx.provider-b.test ESMTP run by the admin's own settings"


@pytest.fixture
def clean(lab) -> Iterator[None]:
    """The test lab runs with the lab's own settings before and after."""
    lab_ok(lab, "reset", "--overrides")
    yield
    lab_ok(lab, "reset", "--overrides")


def greeting(outsider: Container) -> str:
    return swaks(outsider, "--server", PROVIDER_B.mx, "--quit-after", "CONNECT").greeting


def test_a_setting_postfix_takes_changes_the_running_provider_and_is_kept(lab, clean, outsider):
    said = lab_ok(lab, "postconf", "provider-b", f"smtpd_banner={BANNER}")
    assert f"provider-b's Postfix now runs with:\n  smtpd_banner = {BANNER}" in said
    assert greeting(outsider) == SHOWN
    path = overrides.folder(lab.settings, PROVIDER_B) / overrides.POSTFIX_FILE
    assert f"smtpd_banner = {BANNER}" in path.read_text()
    assert f"  smtpd_banner = {BANNER}" in lab_ok(lab, "status")
    assert lab_ok(lab, "postconf", "provider-b") == f"smtpd_banner = {BANNER}\n"


@pytest.mark.disruptive
def test_it_survives_a_reset_a_crash_and_a_new_start(lab, clean, outsider):
    lab_ok(lab, "postconf", "provider-b", f"smtpd_banner={BANNER}")
    lab_ok(lab, "reset")
    assert greeting(outsider) == SHOWN
    crash = faults.FAULTS["b-crash"]
    crash.cause(lab)
    crash.cure(lab)
    assert greeting(outsider) == SHOWN
    lab.down()
    lab.up()
    assert greeting(Container("outsider", lab.container("outsider"))) == SHOWN  # a new container


@pytest.mark.parametrize(("setting", "said"), [
    ("smtpd_helo_required=maybe", "fatal: bad boolean configuration: smtpd_helo_required = maybe"),
    ("message_size_limit=lots", "fatal: bad numerical configuration: message_size_limit = lots"),
    ("smtpd_bannner=typo", "postconf: warning: smtpd_bannner: unknown parameter"),
    ("smtpd_helo_restrictions=reject_no_such_thing",
     'warning: unknown smtpd restriction: "reject_no_such_thing"'),
])
def test_a_setting_postfix_refuses_is_refused_in_its_words_and_nothing_changes(
        lab, clean, settings, client_x, outsider, capsys, setting, said):
    before = greeting(outsider)
    code, _ = lab_command(lab, "postconf", "provider-b", setting)
    assert code == 1 and said in capsys.readouterr().err
    assert not (overrides.folder(lab.settings, PROVIDER_B) / overrides.POSTFIX_FILE).exists()
    assert greeting(outsider) == before  # serving as before
    assert submit(client_x, X, settings.password(X), Y).data_reply.startswith("250 ")


def test_the_refusal_names_what_postfix_said(lab, clean, capsys):
    assert lab_command(lab, "postconf", "provider-b", "smtpd_helo_required=maybe")[0] == 1
    err = capsys.readouterr().err
    assert "error: Postfix refuses it, nothing was written and provider-b serves as before:" in err
    assert "postfix/smtpd" in err and "fatal: bad boolean configuration: smtpd_helo_required = maybe" in err
    [refused] = Journal(lab.settings).entries("postconf-refused")  # what exercise 16 reads
    assert refused.get("provider") == "provider-b"
    assert refused.get("settings") == "smtpd_helo_required=maybe"
    assert refused.get("said").endswith("fatal: bad boolean configuration: smtpd_helo_required = maybe")


def test_unset_of_a_setting_the_lab_leaves_to_postfix_takes_it_out(lab, clean, container):
    """smtpd_helo_required is not in the lab's main.cf: --unset removes it (postconf -X),
    and Postfix's default is in force again."""
    b = container(PROVIDER_B.service)
    lab_ok(lab, "postconf", "provider-b", "smtpd_helo_required=yes")
    assert b.postconf("smtpd_helo_required") == "yes"
    lab_ok(lab, "postconf", "provider-b", "--unset", "smtpd_helo_required")
    assert b.postconf("smtpd_helo_required") == "no"
    assert "smtpd_helo_required" not in b.output("postconf", "-n")


@pytest.mark.parametrize("key", overrides.RELAY_SETTINGS)
def test_who_may_relay_is_not_offered(lab, clean, capsys, key):
    assert lab_command(lab, "postconf", "provider-b", f"{key}=0.0.0.0/0")[0] == 1
    assert f"{key} decides who may relay" in capsys.readouterr().err


def test_unset_puts_back_the_lab_s_own_value(lab, clean, outsider):
    own = greeting(outsider)
    lab_ok(lab, "postconf", "provider-b", f"smtpd_banner={BANNER}", "message_size_limit=100000")
    said = lab_ok(lab, "postconf", "provider-b", "--unset", "smtpd_banner")
    assert "smtpd_banner: back to the lab's own value" in said
    assert greeting(outsider) == own
    assert lab_ok(lab, "postconf", "provider-b") == "message_size_limit = 100000\n"


def test_reset_with_overrides_clears_them(lab, clean, outsider):
    own = greeting(outsider)
    lab_ok(lab, "postconf", "provider-b", f"smtpd_banner={BANNER}")
    said = lab_ok(lab, "reset", "--overrides")
    assert f"{overrides.folder(lab.settings, PROVIDER_B).relative_to(REPO)}/postfix-main.cf deleted" in said
    assert greeting(outsider) == own
    assert "Settings of your own" not in lab_ok(lab, "status")


def test_dovecot_settings_too(lab, clean, container, capsys):
    lab_ok(lab, "doveconf", "provider-b", "login_greeting=B's own POP")
    b = container(PROVIDER_B.service)
    assert b.output("doveconf", "-h", "login_greeting").strip() == "B's own POP"
    pop = container("client-y").run("sh", "-c", "printf 'QUIT\\r\\n' | nc -w 3 pop.provider-b.test 110")
    assert pop.stdout.startswith(b"+OK B's own POP")
    assert lab_command(lab, "doveconf", "provider-b", "no_such_setting=1")[0] == 1
    assert "doveconf: Fatal: Error in configuration file" in capsys.readouterr().err
    assert b.output("doveconf", "-h", "login_greeting").strip() == "B's own POP"  # kept, serving


def test_a_failing_check_says_settings_of_your_own_may_be_why(lab, clean):
    lab_ok(lab, "postconf", "provider-b", f"smtpd_banner={BANNER}")
    code, out = lab_command(lab, "check", "2")
    out = " ".join(out.split())  # (the hints are wrapped to the terminal)
    assert code == 1
    assert "this may come from settings of your own" in out and "provider-b: smtpd_banner = " in out
