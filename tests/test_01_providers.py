"""Step 0: each provider runs Postfix and Dovecot, listens where the story needs it, and
holds the settings that make it a safe provider (testinfra, inside the containers)."""

import json
import re

import pytest

from lab import config
from lab.compose import docker
from lab.config import PROVIDER_B, Y
from tests.harness import wait_until
from tests.rawsession import pop3, pop3_login

POSTFIX_STARTED = re.compile(r"^\S+ \S+ \S+ mx postfix/master\[\d+\]: daemon started -- version 3\.7\.\d+, "
                             r"configuration /etc/postfix$", re.MULTILINE)
DOVECOT_STARTED = re.compile(r"^\S+ \S+ \S+ master: Info: Dovecot v2\.3\.\S+ \(\w+\) starting up for "
                             r"pop3, imap, lmtp", re.MULTILINE)

PROVIDERS = [p.service for p in config.PROVIDERS]


@pytest.mark.parametrize("service", PROVIDERS)
def test_postfix_and_dovecot_run(infra, service):
    host = infra(service)
    assert host.process.filter(comm="master"), "Postfix's master process is not running"
    assert host.process.filter(comm="dovecot"), "Dovecot is not running"


@pytest.mark.parametrize("port", [25, 587, 465, 110, 995, 143, 993])
@pytest.mark.parametrize("service", PROVIDERS)
def test_listens(infra, service, port):
    assert infra(service).socket(f"tcp://0.0.0.0:{port}").is_listening


@pytest.mark.parametrize("provider", config.PROVIDERS, ids=PROVIDERS)
def test_postfix_policy(infra, provider):
    host = infra(provider.service)

    def postconf(name: str) -> str:
        return host.check_output("postconf -h %s", name)

    assert postconf("mydomain") == provider.domain
    assert postconf("myhostname") == provider.mx
    assert postconf("virtual_mailbox_domains") == "$mydomain"
    assert postconf("mydestination") == ""
    assert postconf("mynetworks") == "127.0.0.0/8"
    assert postconf("smtpd_relay_restrictions") == (
        "check_recipient_access regexp:/etc/postfix/lab-destinations, "
        "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
    )
    assert postconf("smtpd_end_of_data_restrictions") == "check_policy_service unix:private/queue-guard"
    assert postconf("smtpd_tls_auth_only") == "yes"
    assert postconf("virtual_transport") == "lmtp:unix:private/dovecot-lmtp"
    # Mail to the other provider is routed by its MX record, never by a fixed route.
    assert postconf("relayhost") == ""
    assert postconf("transport_maps") == ""
    submission = host.check_output("postconf -P submission/inet")
    assert "submission/inet/smtpd_tls_security_level = encrypt" in submission
    assert "submission/inet/smtpd_sasl_auth_enable = yes" in submission


@pytest.mark.parametrize("service", PROVIDERS)
def test_465_has_the_rules_of_587_and_tls_from_the_start(infra, service):
    """Submission over implicit TLS (RFC 8314): the same login, sender and recipient rules
    as 587, setting for setting; only its log name and the TLS wrapper differ."""
    def settings_of(name: str) -> dict[str, str]:
        lines = infra(service).check_output("postconf -P %s/inet", name).splitlines()
        return dict(line.split(f"{name}/inet/", 1)[1].split(" = ", 1) for line in lines)

    plain, wrapped = settings_of("submission"), settings_of("submissions")
    assert wrapped.pop("smtpd_tls_wrappermode") == "yes" and "smtpd_tls_wrappermode" not in plain
    names = plain.pop("syslog_name"), wrapped.pop("syslog_name")
    assert names == ("postfix/submission", "postfix/submissions")
    assert wrapped == plain


@pytest.mark.parametrize("service", PROVIDERS)
def test_dovecot_policy(infra, settings, service):
    host = infra(service)

    def doveconf(name: str) -> str:
        return host.check_output("doveconf -h %s", name)

    assert doveconf("protocols").split() == ["pop3", "imap", "lmtp"]
    assert doveconf("ssl") == "required"
    assert doveconf("disable_plaintext_auth") == "yes"
    assert "quota" in doveconf("mail_plugins").split()
    assert host.check_output("doveconf -h plugin/quota_rule") == f"*:storage={settings.mailbox_quota}"


@pytest.mark.parametrize("service", [*PROVIDERS, "dns", "outsider"])
def test_internet_hosts_have_no_way_out(infra, service):
    """No default route: nothing these hosts send can leave through Docker's gateway."""
    routes = infra(service).check_output("ip route")
    assert "default" not in routes


@pytest.mark.parametrize("service", PROVIDERS)
def test_both_daemons_log_to_the_container_output(container, service):
    log = container(service).log()
    assert len(POSTFIX_STARTED.findall(log)) == 1, log[:2000]
    assert len(DOVECOT_STARTED.findall(log)) == 1, log[:2000]


def _started_at(lab, service: str) -> str:
    return json.loads(docker("inspect", lab.container(service)))[0]["State"]["StartedAt"]


@pytest.mark.disruptive
def test_a_provider_never_runs_half_working(lab, container, settings):
    """If Dovecot dies, the whole container stops; a restart brings both daemons back
    (new start lines in the log, a POP3 login that works), not a stale "healthy"."""
    provider, before = container(PROVIDER_B.service), _started_at(lab, PROVIDER_B.service)
    try:
        provider.run("sh", "-c", "kill -KILL $(cat /run/dovecot/master.pid)")
        wait_until(lambda: lab.states().get(PROVIDER_B.service) == "exited", "provider-b to exit",
                   timeout=15)
        said = "maillab: Postfix or Dovecot exited (status 137); stopping the container"
        assert said in provider.log(tail=20)
    finally:
        lab.start(PROVIDER_B.service)
        lab.wait_healthy(timeout=60)
    assert _started_at(lab, PROVIDER_B.service) != before
    since_restart = provider.log(since=_started_at(lab, PROVIDER_B.service))
    assert len(DOVECOT_STARTED.findall(since_restart)) == 1, since_restart
    assert len(POSTFIX_STARTED.findall(since_restart)) == 1, since_restart
    client_y = container("client-y")
    *_, password, quit_ = pop3(client_y, PROVIDER_B.pop, [*pop3_login(Y, settings.password(Y)), "QUIT"])
    assert password.reply.startswith("+OK Logged in") and quit_.ok
