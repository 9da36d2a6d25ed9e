"""Step 0: each provider runs Postfix and Dovecot, listens where the story needs it, and
holds the settings that make it a safe provider (testinfra, inside the containers)."""

import pytest

from lab import config
from tests.harness import wait_until

PROVIDERS = [p.service for p in config.PROVIDERS]


@pytest.mark.parametrize("service", PROVIDERS)
def test_postfix_and_dovecot_run(infra, service):
    host = infra(service)
    assert host.process.filter(comm="master"), "Postfix's master process is not running"
    assert host.process.filter(comm="dovecot"), "Dovecot is not running"


@pytest.mark.parametrize("port", [25, 587, 110, 995])
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
        "permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination"
    )
    assert postconf("smtpd_tls_auth_only") == "yes"
    assert postconf("virtual_transport") == "lmtp:unix:private/dovecot-lmtp"
    # Mail to the other provider is routed by its MX record, never by a fixed route.
    assert postconf("relayhost") == ""
    assert postconf("transport_maps") == ""
    submission = host.check_output("postconf -P submission/inet")
    assert "submission/inet/smtpd_tls_security_level = encrypt" in submission
    assert "submission/inet/smtpd_sasl_auth_enable = yes" in submission


@pytest.mark.parametrize("service", PROVIDERS)
def test_dovecot_policy(infra, settings, service):
    host = infra(service)

    def doveconf(name: str) -> str:
        return host.check_output("doveconf -h %s", name)

    assert doveconf("protocols").split() == ["pop3", "lmtp"]
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
    assert "postfix/master" in log and "daemon started" in log
    assert "dovecot" in log.lower() and "starting up" in log


@pytest.mark.disruptive
def test_a_provider_never_runs_half_working(lab, container):
    """If Dovecot dies, the whole container stops (and a restart brings it back)."""
    provider = container("provider-b")
    try:
        provider.run("sh", "-c", "kill -KILL $(cat /run/dovecot/master.pid)")
        wait_until(lambda: lab.states().get("provider-b") == "exited", "provider-b to exit", timeout=15)
    finally:
        lab.compose("start", "provider-b", capture=True)
        lab.wait_healthy(timeout=60)
