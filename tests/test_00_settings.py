"""A wrong setting is named, with what would be right, before anything starts.
(These tests read .env and the environment only; they start no container.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lab import config
from lab.compose import Lab

GOOD = config.read_env_file(config.ENV_FILE)


def load(**overrides: str) -> config.Settings:
    return config.load(environ={**GOOD, **overrides})


@pytest.mark.parametrize(("setting", "value", "complaint"), [
    ("INTERNET_SUBNET", "10.80.0.0", "must be a /24"),
    ("INTERNET_SUBNET", "10.80.0.0/16", "must be a /24"),
    ("INTERNET_SUBNET", "not-a-subnet", "must be an IPv4 network"),
    ("ACCESS_A_SUBNET", "8.8.8.0/24", "private range"),
    ("ACCESS_B_SUBNET", "10.80.0.0/24", "overlaps"),
    ("HOST_PORT_BASE", "80", "whole number from 1024"),
    ("X_PASSWORD", "has space", "must be 4 to 64"),
    ("Y_PASSWORD", "a:b", "must be 4 to 64"),
    ("MAILBOX_QUOTA", "10MB", "must be a size"),
    ("MAX_RECIPIENTS", "0", "whole number from 1"),
    ("QUOTA_FULL", "drop", "must be one of bounce, tempfail, discard"),
    ("OP25B", "yes", "must be on or off"),
    ("GREYLIST", "1", "must be on or off"),
    ("GREYLIST_DELAY", "0", "whole number from 1 to 3600"),
    ("RETRY_PROFILE", "fast", "must be one of"),
    ("PUBLISH_PORTS", "yes", "must be on or off"),
    ("LAB_ID", "300", "whole number from 0 to 255"),
])
def test_a_bad_value_names_its_setting(setting, value, complaint):
    with pytest.raises(config.SettingError) as raised:
        load(**{setting: value})
    assert raised.value.setting == setting
    assert str(raised.value).startswith(f"{setting}=")
    assert complaint in str(raised.value)


def test_lab_id_moves_subnets_and_ports():
    lab0, lab7 = load(), load(LAB_ID="7")
    assert lab7.project == "maillab-7"
    first, second, third, _ = GOOD["INTERNET_SUBNET"].split(".")
    assert str(lab7.subnets["internet"]) == f"{first}.{int(second) + 7}.{third}.0/24"
    assert lab7.host_port(config.PROVIDER_A, 587) - lab0.host_port(config.PROVIDER_A, 587) == 14000
    with pytest.raises(config.SettingError, match=r"LAB_ID=3 moves it out of 10\.0\.0\.0/8"):
        load(LAB_ID="3", INTERNET_SUBNET="192.168.50.0/24")


def test_without_host_ports_only_the_subnets_limit_lab_id():
    """A class server (PUBLISH_PORTS=off) can run far more labs than host ports allow."""
    base = int(GOOD["HOST_PORT_BASE"])
    highest = (65535 - config.PORT_SPAN - base) // config.LAB_ID_PORT_STRIDE
    assert load(LAB_ID=str(highest), PUBLISH_PORTS="on").publish_ports
    with pytest.raises(config.SettingError) as raised:
        load(LAB_ID=str(highest + 1), PUBLISH_PORTS="on")
    assert raised.value.setting == "LAB_ID"
    assert f"LAB_ID can be at most {highest} (PUBLISH_PORTS=off lifts that limit)" in str(raised.value)
    lab = load(LAB_ID="150", PUBLISH_PORTS="off", INTERNET_SUBNET="10.80.0.0/24",
               ACCESS_A_SUBNET="10.80.1.0/24", ACCESS_B_SUBNET="10.80.2.0/24")
    assert not lab.publish_ports and str(lab.subnets["internet"]) == "10.230.0.0/24"
    with pytest.raises(config.SettingError) as raised:
        load(LAB_ID="176", PUBLISH_PORTS="off", INTERNET_SUBNET="10.80.0.0/24",
             ACCESS_A_SUBNET="10.80.1.0/24", ACCESS_B_SUBNET="10.80.2.0/24")
    assert raised.value.setting == "LAB_ID"
    assert "LAB_ID can be at most 175" in str(raised.value)


def test_make_up_stops_before_anything_starts():
    clash = GOOD["ACCESS_A_SUBNET"]
    env = {**os.environ, "ACCESS_B_SUBNET": clash, "COMPOSE": "false"}
    done = subprocess.run([sys.executable, "-m", "lab", "up"], capture_output=True, text=True,
                          env=env, cwd=config.REPO)
    assert done.returncode == 2
    assert f"error: ACCESS_B_SUBNET='{clash}': overlaps ACCESS_A_SUBNET={clash}" in done.stderr
    assert "nothing was started" in done.stderr
    assert "Starting" not in done.stdout


def test_a_setting_from_the_environment_reaches_compose_as_derived(monkeypatch):
    """`INTERNET_SUBNET=... LAB_ID=7 make up`: Compose prefers the process environment to
    the env file, so the lab must hand it the subnet with LAB_ID applied, not the raw one."""
    monkeypatch.setenv("INTERNET_SUBNET", GOOD["INTERNET_SUBNET"])
    lab = Lab(load(LAB_ID="7"))
    resolved = lab.compose("config", capture=True).stdout
    assert f"subnet: {lab.settings.subnets['internet']}" in resolved
    assert f"subnet: {GOOD['INTERNET_SUBNET']}" not in resolved


def test_certificates_are_made_once_and_again_only_for_a_new_name(tmp_path, monkeypatch):
    """Running labs mount the certificates: a `make up` of another lab must not rewrite
    them (a provider reading one mid-write disables TLS), unless a name is missing."""
    from lab import tls

    tls_dir = tmp_path / "tls"
    assert tls.ensure_certificates(tls_dir)
    made = {f.name: f.read_bytes() for f in tls_dir.iterdir()}
    assert not tls.ensure_certificates(tls_dir)
    assert {f.name: f.read_bytes() for f in tls_dir.iterdir()} == made
    names = tls._names
    monkeypatch.setattr(tls, "_names", lambda p: [*names(p), f"webmail.{p.domain}"])
    assert tls.ensure_certificates(tls_dir)
    assert (tls_dir / "ca.crt").read_bytes() == made["ca.crt"]  # the same CA: clients keep trusting it
    assert (tls_dir / "provider-a.crt").read_bytes() != made["provider-a.crt"]
