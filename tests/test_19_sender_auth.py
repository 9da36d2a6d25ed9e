"""After the story, 3: who really sent it. Each domain publishes SPF, a DKIM key and a
DMARC policy; the lab's addresses have names (reverse DNS); each provider signs its
customers' mail and checks strangers' mail on port 25. Forged senders are refused: an
SPF failure at RCPT, a DMARC failure at the end of DATA."""

from __future__ import annotations

import re
import shutil
import time

import pytest

from lab import config, dnszones, switches
from lab.compose import Lab
from lab.config import PROVIDER_A, PROVIDER_B, X, Y
from lab.mailbox import auth_results, header_block
from tests.harness import make_message, new_helo, refusals, settle, submit_many, swaks, wait_until
from tests.rawsession import raw_session
from tests.solutions import lab_ok, trace_saying

VANTAGE_POINTS = ["client-x", "provider-a", "client-y", "provider-b", "outsider"]
SPF_REFUSAL = re.compile(r"550 5\.7\.1 <[^>]+>: Recipient address rejected: SPF: [0-9.]+ is not a mail "
                         r"server of provider-a\.test \(dig TXT provider-a\.test\)")
DMARC_REFUSAL = "550 5.7.1 rejected by DMARC policy for provider-a.test\r\n"


def dig(container, *args: str) -> list[str]:
    return container.output("dig", "+short", "+time=2", "+tries=2", *args).split("\n")[:-1]


def verdicts(message: bytes, receiver: config.Provider) -> dict[str, str]:
    return auth_results(message, receiver.mx)


def stored(provider, address: str, message_id: str) -> bytes:
    [found] = wait_until(lambda: provider.messages_with(address, message_id), f"{message_id} at {address}")
    return found


# --- the DNS ------------------------------------------------------------------------------


@pytest.mark.parametrize("service", VANTAGE_POINTS)
@pytest.mark.parametrize("provider", config.PROVIDERS, ids=lambda p: p.domain)
def test_each_domain_publishes_spf_dkim_and_dmarc(container, settings, service, provider):
    c = container(service)
    address = settings.address(provider.service)
    assert dig(c, "TXT", provider.domain) == [f'"v=spf1 ip4:{address} -all exp=spf-why.{provider.domain}"']
    [key] = dig(c, "TXT", f"{dnszones.SELECTOR}._domainkey.{provider.domain}")
    published = "".join(re.findall(r'"([^"]*)"', key))
    assert published == f"v=DKIM1; k=rsa; p={dnszones.dkim_public_key(settings, provider)}"
    assert dig(c, "TXT", f"_dmarc.{provider.domain}") == [
        f'"v=DMARC1; p={settings.dmarc}; rua=mailto:postmaster@{provider.domain}; adkim=r; aspf=r"']


@pytest.mark.parametrize("provider", config.PROVIDERS, ids=lambda p: p.domain)
def test_the_dmarc_reports_address_takes_mail(outsider, provider):
    """rua= names a mailbox that exists: the domain's own MX takes a report for it from a
    stranger's reporting server (stopped after RCPT: nothing is sent)."""
    reports = dnszones.DMARC_REPORTS.format(domain=provider.domain)
    session = swaks(outsider, "--server", provider.mx, "--from", "dmarc-reports@nowhere.example",
                    "--to", reports, "--quit-after", "RCPT")
    assert session.reply("RCPT").startswith("250 2.1.5"), session.reply("RCPT")


@pytest.mark.parametrize("service", VANTAGE_POINTS)
def test_reverse_dns_is_forward_confirmed(container, settings, service):
    c = container(service)
    for p in config.PROVIDERS:
        address = settings.address(p.service)
        assert dig(c, "-x", address) == [f"{p.mx}."]
        assert dig(c, p.mx) == [address]
        customer = settings.address(p.customer, p.access_network)
        name = f"dialup-{customer.replace('.', '-')}.{p.domain}"
        assert dig(c, "-x", customer) == [f"{name}."]
        assert dig(c, name) == [customer]
    # the outsider is a stranger's machine with no name, as many spam sources are
    assert "status: NXDOMAIN" in c.output("dig", "-x", settings.address("outsider"))


def lab_beside(settings: config.Settings, offset: int, project: str) -> config.Settings:
    """The settings of another lab, never started: a project and a state of its own."""
    return config.load(lab_id=settings.lab_id + offset, project=project, environ={
        **config.read_env_file(config.ENV_FILE), "PUBLISH_PORTS": "off"})


def test_every_lab_has_keys_of_its_own(lab, settings):
    mine = dnszones.dkim_public_key(settings, PROVIDER_A)
    other = lab_beside(settings, 40, "maillab-test-keys")
    try:
        dnszones.ensure_dkim_keys(other)
        assert dnszones.dkim_public_key(other, PROVIDER_A) != mine
    finally:
        shutil.rmtree(other.state_dir, ignore_errors=True)
    private = dnszones.dkim_dir(settings, PROVIDER_A) / "good.key"
    assert config.STATE_DIR in private.parents and "PRIVATE KEY" in private.read_text()


def test_make_clean_deletes_a_labs_keys_and_its_next_start_makes_new_ones(settings):
    """`lab clean` on a lab of its own, never started: its DKIM keys go with its volumes."""
    other = lab_beside(settings, 44, "maillab-test-clean")
    try:
        dnszones.ensure_dkim_keys(other)
        before = dnszones.dkim_public_key(other, PROVIDER_A)
        assert "stopped and its volumes deleted" in lab_ok(Lab(other), "clean")
        assert not dnszones.dkim_dir(other, PROVIDER_A).exists()
        dnszones.ensure_dkim_keys(other)
        assert dnszones.dkim_public_key(other, PROVIDER_A) != before
    finally:
        shutil.rmtree(other.state_dir, ignore_errors=True)
        other.env_file.unlink(missing_ok=True)


# --- honest mail: signed, and checked --------------------------------------------------------


@pytest.mark.parametrize(("sender", "recipient"), [(X, Y), (Y, X)], ids=["X to Y", "Y to X"])
def test_honest_mail_is_signed_and_passes_every_check(container, settings, sender, recipient):
    origin, receiver = config.provider_of(sender), config.provider_of(recipient)
    client = container(origin.customer)
    [sent] = submit_many(client, sender, settings.password(sender), recipient, 1, "honest")
    message = stored(container(receiver.service), recipient, sent.message_id)
    signature = re.search(r"^DKIM-Signature: (.*)$", header_block(message), re.M).group(1)
    assert f"d={origin.domain};" in signature and f"s={dnszones.SELECTOR};" in signature
    assert "c=relaxed/relaxed;" in signature
    signed = re.search(r"\bh=([^;]+);", signature).group(1).lower().split(":")
    assert {"from", "to", "subject", "date", "message-id"} <= set(signed)
    assert verdicts(message, receiver) == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    # one header (RFC 8601), this receiver's, holding all three verdicts
    [results] = re.findall(r"^Authentication-Results: (.*)$", header_block(message), re.M)
    assert re.fullmatch(rf"{re.escape(receiver.mx)}; spf=pass [^;]*; dkim=pass [^;]*; dmarc=pass .*", results)
    container(receiver.service).delete_message(recipient, sent.message_id)


def test_an_independent_verifier_agrees_and_one_changed_byte_breaks_it(container, settings):
    """dkimpy's dkimverify, not the providers' OpenDKIM, from Y's own machine."""
    [sent] = submit_many(container("client-x"), X, settings.password(X), Y, 1, "verify-me")
    b = container(PROVIDER_B.service)
    message = stored(b, Y, sent.message_id)
    y = container("client-y")
    assert y.run("dkimverify", input=message, check=False).stdout.decode().strip() == "signature ok"
    body_at = message.index(b"\n\n") + 2
    flipped = message[:body_at] + bytes([message[body_at] ^ 1]) + message[body_at + 1:]
    failed = y.run("dkimverify", input=flipped, check=False)
    assert failed.returncode != 0 and "body hash mismatch" in (failed.stdout + failed.stderr).decode()
    b.delete_message(Y, sent.message_id)


def test_a_report_from_b_is_signed_and_passes_at_a(container, settings):
    """B's delivery report to X (null sender, From: MAILER-DAEMON@mx.provider-b.test)
    crosses port 25 like any mail, signed by B and aligned with provider-b.test."""
    [sent] = submit_many(container("client-x"), X, settings.password(X), Y, 1, "report",
                         rcpt_options=["NOTIFY=SUCCESS"])
    a = container(PROVIDER_A.service)
    report = wait_until(lambda: [m for m in a.messages(X) if sent.message_id.encode() in m],
                        "the report at X")
    assert verdicts(report[0], PROVIDER_A) == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    a.delete_message(X, re.search(r"^Message-ID: (\S+)", header_block(report[0]), re.M | re.I).group(1))
    container(PROVIDER_B.service).delete_message(Y, sent.message_id)


def test_an_honest_stranger_without_a_domain_is_delivered_and_marked_none(container, outsider):
    """The outsider's domain exists nowhere: nothing can be checked, so B takes the mail
    and records that (spf=none dmarc=none); SPF and DMARC refuse only what a domain
    has published a policy against."""
    mail = make_message("bulk@nowhere.example", Y, subject="an honest stranger")
    session = swaks(outsider, "--server", PROVIDER_B.mx, "--from", "bulk@nowhere.example", "--to", Y,
                    message=mail.as_bytes())
    assert session.data_reply.startswith("250 2.0.0 Ok: queued as"), session.transcript
    b = container(PROVIDER_B.service)
    message = stored(b, Y, mail["Message-ID"])
    assert verdicts(message, PROVIDER_B) == {"spf": "none", "dmarc": "none"}  # no signature: no dkim=
    b.delete_message(Y, mail["Message-ID"])


def test_a_strangers_own_verdicts_are_removed(container, outsider):
    mail = make_message("bulk@nowhere.example", Y, subject="trust me")
    mail["Authentication-Results"] = (f"{PROVIDER_B.mx}; spf=pass; dkim=pass header.d=provider-a.test; "
                                      "dmarc=pass")
    swaks(outsider, "--server", PROVIDER_B.mx, "--from", "bulk@nowhere.example", "--to", Y,
          message=mail.as_bytes())
    b = container(PROVIDER_B.service)
    message = stored(b, Y, mail["Message-ID"])
    assert "header.d=provider-a.test; dmarc=pass" not in header_block(message)
    assert verdicts(message, PROVIDER_B)["dmarc"] == "none"  # B's own verdict, and only it
    b.delete_message(Y, mail["Message-ID"])


# --- forgeries --------------------------------------------------------------------------------


def test_a_forged_envelope_sender_is_refused_at_rcpt_by_spf(container, outsider):
    helo = new_helo("forger")
    mail = make_message(X, Y, subject="forged envelope")
    started = time.time()
    session = swaks(outsider, "--server", PROVIDER_B.mx, "--from", X, "--to", Y, message=mail.as_bytes(),
                    helo=helo)
    assert SPF_REFUSAL.fullmatch(session.reply("RCPT")), session.transcript
    assert "DATA" not in [sent for sent, _ in session.exchanges]
    [refused] = refusals(container(PROVIDER_B.service), helo, started)
    assert f"from=<{X}> to=<{Y}>" in refused


def test_a_forged_helo_with_a_null_sender_is_refused_at_rcpt_by_spf(outsider, settings):
    """With no envelope sender (a bounce) SPF judges the name given in HELO: the outsider
    claiming to be A's server is refused, while B's own reports (null sender) pass at A."""
    session = swaks(outsider, "--server", PROVIDER_B.mx, "--from", "<>", "--to", Y, "--quit-after", "RCPT",
                    helo=PROVIDER_A.mx)
    assert session.reply("RCPT") == (
        f"550 5.7.1 <{Y}>: Recipient address rejected: SPF: {settings.address('outsider')} is not a mail "
        f"server of {PROVIDER_A.mx} (dig TXT {PROVIDER_A.mx})"), session.transcript


def forge_header_from(outsider, recipient: str = Y) -> tuple[str, object]:
    """The outsider's cleanest forgery: a null envelope sender (nothing for SPF to fail)
    and X only in the From: header, which the reader sees."""
    mail = make_message(X, recipient, subject="forged From: only")
    session = raw_session(outsider, PROVIDER_B.mx, 25, [
        b"EHLO outsider\r\n", b"MAIL FROM:<>\r\n", f"RCPT TO:<{recipient}>\r\n".encode(), b"DATA\r\n",
        mail.as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n") + b".\r\n"])
    return session.replies[-1], mail


@pytest.fixture
def dmarc(lab):
    """Set both domains' DMARC policy; DMARC_POLICY from .env again afterwards."""
    yield lambda policy: lab_ok(lab, "dmarc", policy)
    switches.set_dmarc(lab, lab.settings.dmarc)


@pytest.mark.disruptive
def test_under_reject_a_forged_header_from_is_refused_at_the_end_of_data(lab, container, outsider, dmarc):
    dmarc("reject")
    reply, mail = forge_header_from(outsider)
    assert reply == DMARC_REFUSAL
    b = container(PROVIDER_B.service)
    settle([b], Y)
    assert b.messages_with(Y, mail["Message-ID"]) == []


@pytest.mark.disruptive
def test_under_quarantine_it_is_delivered_marked(lab, container, outsider, dmarc):
    dmarc("quarantine")
    reply, mail = forge_header_from(outsider)
    assert reply.startswith("250 2.0.0 Ok: queued as"), reply
    b = container(PROVIDER_B.service)
    message = stored(b, Y, mail["Message-ID"])
    assert re.search(r"^Subject: \[DMARC quarantine\] forged From: only$", header_block(message), re.M)
    assert re.search(r"^X-Quarantine: DMARC", header_block(message), re.M)
    assert verdicts(message, PROVIDER_B)["dmarc"] == "fail"
    b.delete_message(Y, mail["Message-ID"])


@pytest.mark.disruptive
def test_under_none_it_is_delivered_and_only_recorded(lab, container, outsider, dmarc):
    dmarc("none")
    reply, mail = forge_header_from(outsider)
    assert reply.startswith("250 2.0.0 Ok: queued as"), reply
    b = container(PROVIDER_B.service)
    message = stored(b, Y, mail["Message-ID"])
    assert re.search(r"^Subject: forged From: only$", header_block(message), re.M)
    assert "X-Quarantine" not in header_block(message)
    assert verdicts(message, PROVIDER_B) == {"spf": "none", "dmarc": "fail"}
    b.delete_message(Y, mail["Message-ID"])


@pytest.mark.disruptive
def test_a_broken_key_fails_dkim_and_fix_mends_it(lab, container, settings):
    """With a key the DNS does not publish, A's mail fails DKIM at B; DMARC still passes
    through SPF (A's own address, aligned): either check is enough. `fix` mends it."""
    b = container(PROVIDER_B.service)
    try:
        lab_ok(lab, "dkim", "break")
        assert switches.state(lab)[PROVIDER_A.service].dkim_key == "broken"
        [sent] = submit_many(container("client-x"), X, settings.password(X), Y, 1, "broken-key")
        assert verdicts(stored(b, Y, sent.message_id), PROVIDER_B) == {
            "spf": "pass", "dkim": "fail", "dmarc": "pass"}
    finally:
        lab_ok(lab, "dkim", "fix")
    [mended] = submit_many(container("client-x"), X, settings.password(X), Y, 1, "mended-key")
    assert verdicts(stored(b, Y, mended.message_id), PROVIDER_B)["dkim"] == "pass"
    for m in (sent, mended):
        b.delete_message(Y, m.message_id)


def forwarded(stored_copy: bytes) -> bytes:
    """The copy a plain forwarder (a mailing list that changes nothing) sends on: the
    message as it reached its reader, less the lines final delivery added."""
    lines = stored_copy.split(b"\n")
    return b"\n".join(line for line in lines if not line.startswith((b"Return-Path:", b"Delivered-To:")))


@pytest.mark.disruptive
def test_a_forwarded_copy_passes_on_its_signature_alone(lab, container, settings, outsider, dmarc):
    """Where SPF cannot align, DMARC rests on DKIM alone. The outsider forwards copies of
    X's messages to Y2 with an envelope sender of its own: the copy signed with A's good
    key passes (dkim=pass, dmarc=pass); the copy signed with the broken key is refused
    under p=reject, while X's own message with that key was saved by SPF."""
    dmarc("reject")
    b = container(PROVIDER_B.service)
    [good] = submit_many(container("client-x"), X, settings.password(X), Y, 1, "forward-me")
    copy = forwarded(stored(b, Y, good.message_id))
    session = swaks(outsider, "--server", PROVIDER_B.mx, "--from", "list@nowhere.example", "--to", config.Y2,
                    message=copy)
    assert session.data_reply.startswith("250 2.0.0 Ok: queued as"), session.transcript
    assert verdicts(stored(b, config.Y2, good.message_id), PROVIDER_B) == {
        "spf": "none", "dkim": "pass", "dmarc": "pass"}
    try:
        lab_ok(lab, "dkim", "break")
        [broken] = submit_many(container("client-x"), X, settings.password(X), Y, 1, "forward-me-broken")
        copy = forwarded(stored(b, Y, broken.message_id))
    finally:
        lab_ok(lab, "dkim", "fix")
    session = swaks(outsider, "--server", PROVIDER_B.mx, "--from", "list@nowhere.example", "--to", config.Y2,
                    message=copy)
    assert session.data_reply == DMARC_REFUSAL.strip(), session.transcript
    settle([b], config.Y2)
    assert b.messages_with(config.Y2, broken.message_id) == []
    # `lab trace` of X's message shows it delivered, and the copy B refused
    outsider_ip = settings.address("outsider")
    trace = trace_saying(lab, broken.message_id, f"a copy sent on by unknown[{outsider_ip}] "
                         "(from=<list@nowhere.example>) refused at the end of DATA: 5.7.1 rejected by DMARC "
                         "policy for provider-a.test")
    assert "spf=pass dkim=fail dmarc=pass" in trace, trace
    for address, message_id in ((Y, good.message_id), (Y, broken.message_id), (config.Y2, good.message_id)):
        b.delete_message(address, message_id)


def test_trace_shows_the_receivers_verdicts(lab, container, settings):
    [sent] = submit_many(container("client-x"), X, settings.password(X), Y, 1, "traced")
    stored(container(PROVIDER_B.service), Y, sent.message_id)
    out = lab_ok(lab, "trace", sent.message_id)
    assert "who really sent it? spf=pass dkim=pass dmarc=pass" in out, out
    container(PROVIDER_B.service).delete_message(Y, sent.message_id)


def test_submission_needs_no_dkim_check_and_spf_never_judges_customers(container, settings):
    """X's own mail to X2 stays at A: signed, but not checked (it never crossed port 25)."""
    [sent] = submit_many(container("client-x"), X, settings.password(X), config.X2, 1, "local")
    a = container(PROVIDER_A.service)
    message = stored(a, config.X2, sent.message_id)
    assert "DKIM-Signature: v=1;" in header_block(message) and verdicts(message, PROVIDER_A) == {}
    a.delete_message(config.X2, sent.message_id)
