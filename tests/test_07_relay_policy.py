"""Never an open relay: every classic relay trick, from every side, is refused at RCPT
with 554 5.7.1, and nothing is queued. Each provider takes mail only for its own domain
and refuses unknown users while the client is still connected (no backscatter)."""

from __future__ import annotations

import re

import pytest

from lab import config, probes, relaycheck
from tests.harness import make_message, swaks

# (vantage point, provider attacked): strangers on the internet, the Docker host
# through the published ports, the other provider's customer, and A's own customer
# without logging in.
PAIRS = [
    ("outsider", "provider-a"), ("outsider", "provider-b"),
    (probes.HOST, "provider-a"), (probes.HOST, "provider-b"),
    ("client-y", "provider-a"), ("client-x", "provider-a"), ("client-x", "provider-b"),
]
THIRD_PARTIES = ["other-provider", probes.NOWHERE]
RELAY_DENIED = re.compile(r"554 5\.7\.1 <[^>]*>: Relay access denied")

_results: dict[tuple[str, str], list[relaycheck.Attempt]] = {}


def _cases() -> list:
    cases = []
    for vantage, service in PAIRS:
        for third in THIRD_PARTIES:
            for mail_t, rcpt_t in relaycheck.FORMS:
                names = ["mx", "domain"] if "{S}" in mail_t + rcpt_t else ["mx"]
                for s in names:
                    form = relaycheck.form_name(mail_t, rcpt_t)
                    cases.append(pytest.param(vantage, service, third, form, s,
                                              id=f"{vantage}->{service}:{form}:D={third}:S={s}"))
    return cases


@pytest.fixture
def attempts(lab):
    """The battery's results for a (vantage, provider) pair, run once per session."""
    def get(vantage: str, service: str) -> list[relaycheck.Attempt]:
        if (vantage, service) not in _results:
            provider = next(p for p in config.PROVIDERS if p.service == service)
            _results[vantage, service] = probes.relay_check(lab, vantage, provider)
        return _results[vantage, service]
    return get


@pytest.mark.parametrize(("vantage", "service", "third", "form", "s"), _cases())
def test_relay_trick_is_refused(attempts, vantage, service, third, form, s):
    provider = next(p for p in config.PROVIDERS if p.service == service)
    other = next(p for p in config.PROVIDERS if p is not provider)
    domain = other.domain if third == "other-provider" else third
    server_name = provider.mx if s == "mx" else provider.domain
    [attempt] = [a for a in attempts(vantage, service)
                 if a.form == form and a.third_party == domain and a.server_name == server_name]
    assert RELAY_DENIED.fullmatch(attempt.reply), (attempt.mail_from, attempt.rcpt_to, attempt.reply)
    assert attempt.verdict == "refused"


def test_the_battery_queued_nothing(attempts, container):
    for pair in PAIRS:
        attempts(*pair)
    for p in config.PROVIDERS:
        assert container(p.service).queue() == [], f"{p.service} queued something"


@pytest.mark.parametrize("sender", ["<>", f"<{config.Y2}>", "<anyone@nowhere.example>"])
def test_senders_are_not_refused_at_mail(outsider, sender):
    """The null sender (bounces) and B's own domain are legitimate senders on B's MX
    (RFC 2505 2.6); the decision is made per recipient."""
    session = swaks(outsider, "--server", config.PROVIDER_B.mx, "--port", "25",
                    "--from", sender.strip("<>"), "--to", config.Y, "--quit-after", "RCPT")
    assert session.reply("MAIL").startswith("250 2.1.0")
    assert session.reply("RCPT").startswith("250 2.1.5")


def test_unknown_user_is_refused_at_rcpt(outsider, provider_b):
    message = make_message("someone@nowhere.example", "nobody@provider-b.test")
    session = swaks(outsider, "--server", config.PROVIDER_B.mx, "--port", "25",
                    "--from", "someone@nowhere.example", "--to", "nobody@provider-b.test",
                    message=message.as_bytes())
    assert session.reply("RCPT") == (
        "550 5.1.1 <nobody@provider-b.test>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert provider_b.queue() == []
