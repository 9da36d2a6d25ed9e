"""Never an open relay: every classic relay trick, from every side, on port 25 and on
the submission ports without a login, is refused at RCPT with 554 5.7.1, and nothing is
queued. Each provider takes mail only for its own domain
and refuses unknown users while the client is still connected (no backscatter).

The battery stops after RCPT, so "nothing was queued" is read from the server's own
account of each attempt: one NOQUEUE refusal per attempt, found by the EHLO name the
battery used. Its twin (test_the_battery_detects_an_open_relay) shows that the same
evidence turns against a server made an open relay on purpose."""

from __future__ import annotations

import re
import time

import pytest

from lab import config, probes, relaycheck, switches
from tests.conftest import PORTS_LAB
from tests.harness import Container, make_message, refusals, swaks, wait_until

# (vantage point, provider attacked): strangers on the internet, the Docker host
# through the published ports, the other provider's customer, and A's own customer
# without logging in. A customer reaches another provider's port 25 only with the port
# 25 block off (OP25B), so the battery of those pairs runs with it off: what is proven
# is that the server itself never relays, whoever reaches it.
PAIRS = [
    ("outsider", "provider-a"), ("outsider", "provider-b"),
    (probes.HOST, "provider-a"), (probes.HOST, "provider-b"),
    ("client-y", "provider-a"), ("client-x", "provider-a"), ("client-x", "provider-b"),
]
THIRD_PARTIES = ["other-provider", probes.NOWHERE]
RELAY_DENIED = re.compile(r"554 5\.7\.1 <[^>]*>: Relay access denied")

_results: dict[tuple[str, str], tuple[float, list[relaycheck.Attempt]]] = {}  # (when, attempts)


def _pair_marks(vantage: str, service: str) -> list:
    """One worker runs each pair's battery once; the host's need the lab with ports."""
    return [PORTS_LAB] if vantage == probes.HOST else [pytest.mark.xdist_group(f"relay-{vantage}-{service}")]


def _cases() -> list:
    cases = []
    for vantage, service in PAIRS:
        for third in THIRD_PARTIES:
            for mail_t, rcpt_t in relaycheck.FORMS:
                names = ["mx", "domain"] if "{S}" in mail_t + rcpt_t else ["mx"]
                for s in names:
                    form = relaycheck.form_name(mail_t, rcpt_t)
                    cases.append(pytest.param(vantage, service, third, form, s,
                                              marks=_pair_marks(vantage, service),
                                              id=f"{vantage}->{service}:{form}:D={third}:S={s}"))
    return cases


@pytest.fixture
def attempts(request):
    """The battery's results for a (vantage, provider) pair, run once per worker, and the
    lab it ran against (the host reaches only the lab with published ports)."""
    def get(vantage: str, service: str):
        lab = request.getfixturevalue("ports_lab" if vantage == probes.HOST else "lab")
        if (vantage, service) not in _results:
            provider = next(p for p in config.PROVIDERS if p.service == service)
            blocked = vantage != provider.customer and vantage.startswith("client-") and lab.settings.op25b
            started = time.time()
            if blocked:
                switches.set_op25b(lab, False)
            try:
                _results[vantage, service] = started, probes.relay_check(lab, vantage, provider)
            finally:
                if blocked:
                    switches.set_op25b(lab, True)
        return lab, *_results[vantage, service]
    return get


@pytest.mark.parametrize(("vantage", "service", "third", "form", "s"), _cases())
def test_relay_trick_is_refused(attempts, vantage, service, third, form, s):
    provider = next(p for p in config.PROVIDERS if p.service == service)
    other = next(p for p in config.PROVIDERS if p is not provider)
    domain = other.domain if third == "other-provider" else third
    server_name = provider.mx if s == "mx" else provider.domain
    _, _, tried = attempts(vantage, service)
    [attempt] = [a for a in tried
                 if a.form == form and a.third_party == domain and a.server_name == server_name]
    assert RELAY_DENIED.fullmatch(attempt.reply), (attempt.mail_from, attempt.rcpt_to, attempt.reply)
    assert attempt.verdict == "refused"


@pytest.mark.parametrize(("vantage", "service"), [pytest.param(v, s, marks=_pair_marks(v, s),
                                                               id=f"{v}->{s}") for v, s in PAIRS])
def test_the_battery_queued_nothing(attempts, vantage, service):
    """The server refused every attempt before a queue file existed: its log holds one
    NOQUEUE refusal of the recipient per attempt, under the battery's EHLO name."""
    lab, started, tried = attempts(vantage, service)
    provider = Container(service, lab.container(service))
    refused = refusals(provider, tried[0].helo, started, expected=len(tried))
    assert len(refused) == len(tried), f"{len(tried)} attempts, {len(refused)} refused in the log"
    assert all(" 554 5.7.1 " in line and "reject: RCPT from " in line for line in refused)


# The battery on the submission ports, without a login: from a stranger, from A's own
# customer, from the other provider's customer, and from this machine through the
# published ports. Each attempt starts TLS as its port demands (STARTTLS on 587, TLS from
# the first byte on 465): what is proven is that TLS alone relays nothing.
SUBMISSION_PAIRS = [("outsider", "provider-a", 587), ("outsider", "provider-a", 465),
                    ("client-x", "provider-a", 465), ("client-x", "provider-b", 465),
                    (probes.HOST, "provider-a", 465), (probes.HOST, "provider-b", 465)]


@pytest.mark.parametrize(("vantage", "service", "port"), [
    pytest.param(v, s, p, marks=_pair_marks(v, s), id=f"{v}->{s}:{p}") for v, s, p in SUBMISSION_PAIRS])
def test_the_submission_ports_relay_nothing_without_a_login(request, vantage, service, port):
    """The submission ports count every recipient a client tries, refused or not, per
    minute (MAX_RECIPIENTS_PER_MINUTE; test_08 uses up the outsider's): a reload first
    restarts that count, so that each attempt meets the relay rule itself."""
    lab = request.getfixturevalue("ports_lab" if vantage == probes.HOST else "lab")
    provider = next(p for p in config.PROVIDERS if p.service == service)
    server = Container(service, lab.container(service))
    started = time.time()
    server.run("postfix", "reload")
    wait_until(lambda: "reload -- version" in server.log(since=started - 1), f"{service}'s reload")
    tried = probes.relay_check(lab, vantage, provider, port)
    assert tried and all(RELAY_DENIED.fullmatch(a.reply) for a in tried), relaycheck.table(tried)
    refused = refusals(server, tried[0].helo, started, expected=len(tried))
    assert len(refused) == len(tried) and all(" 554 5.7.1 " in line for line in refused)


@pytest.mark.disruptive
def test_the_battery_detects_an_open_relay(lab, outsider, container):
    """Twin of the two tests above: with A made an open relay on purpose, the battery
    reports RELAYED, the log no longer holds a refusal per attempt, and a complete
    relay attempt leaves A's queue for B."""
    switches.open_relay(lab, True)
    try:
        started = time.time()
        tried = probes.relay_check(lab, "outsider", config.PROVIDER_A)
        assert sum(a.relayed for a in tried) >= len(tried) // 2, relaycheck.table(tried)
        refused = refusals(container("provider-a"), tried[0].helo, started, expected=0)
        assert len(refused) < len(tried)
        spam = make_message("spammer@nowhere.example", config.Y2, subject="relayed on purpose")
        session = swaks(outsider, "--server", config.PROVIDER_A.mx, "--from", "spammer@nowhere.example",
                        "--to", config.Y2, message=spam.as_bytes())
        assert session.data_reply.startswith("250 2.0.0 Ok: queued as ")
    finally:
        switches.open_relay(lab, False)
    b = container("provider-b")
    wait_until(lambda: b.messages_with(config.Y2, spam["Message-ID"]), "the relayed message at B")
    b.delete_message(config.Y2, spam["Message-ID"])


@pytest.mark.parametrize(("sender", "rcpt"), [("<>", "250 2.1.5"), ("<anyone@nowhere.example>", "250 2.1.5"),
                                             (f"<{config.Y2}>", "550 5.7.1")])
def test_senders_are_not_refused_at_mail(outsider, sender, rcpt):
    """The null sender (bounces) and B's own domain are legitimate senders on B's MX
    (RFC 2505 2.6); the decision is made per recipient. There, B's own domain claimed
    by a stranger fails SPF (test_19_sender_auth.py)."""
    session = swaks(outsider, "--server", config.PROVIDER_B.mx, "--port", "25",
                    "--from", sender.strip("<>"), "--to", config.Y, "--quit-after", "RCPT")
    assert session.reply("MAIL").startswith("250 2.1.0")
    assert session.reply("RCPT").startswith(rcpt)


def test_unknown_user_is_refused_at_rcpt(outsider, provider_b):
    message = make_message("someone@nowhere.example", "nobody@provider-b.test")
    session = swaks(outsider, "--server", config.PROVIDER_B.mx, "--port", "25",
                    "--from", "someone@nowhere.example", "--to", "nobody@provider-b.test",
                    message=message.as_bytes())
    assert session.reply("RCPT") == (
        "550 5.1.1 <nobody@provider-b.test>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert provider_b.queued_for("nobody@provider-b.test") == []
