"""A provider a mail admin would sign off on: TLS 1.2 and 1.3 only, with ECDHE and AEAD
ciphers in the server's order, on every TLS port; no address harvesting (VRFY, EXPN,
ETRN); every service with the least privilege and bounded resources."""

from __future__ import annotations

import json
import re
from email import message_from_bytes
from email.policy import default

import pytest

from lab import config
from lab.compose import docker
from lab.config import PROVIDER_A, PROVIDER_B, X, Y
from tests.harness import Container, submit_many, wait_until
from tests.rawsession import STARTTLS, auth_plain, raw_session

# (port, how TLS starts): the MX and submission after STARTTLS, submission with TLS from
# the first byte (465), POP3 after STLS, POP3S, IMAP after STARTTLS, IMAPS.
TLS_PORTS = [(25, "smtp"), (587, "smtp"), (465, None), (110, "pop3"), (995, None), (143, "imap"), (993, None)]
# The scanner takes about 24 s a port: 143 is left to the handshakes above, since
# Dovecot serves it with the very TLS settings of 993, which the scanner covers.
SCANNED_PORTS = [p for p in TLS_PORTS if p[0] != 143]


def handshake(client, host: str, port: int, starttls: str | None, *options: str) -> str:
    """openssl s_client's account of one handshake (empty input: it just says goodbye)."""
    args = ["openssl", "s_client", "-connect", f"{host}:{port}", "-brief", *options]
    if starttls:
        args += ["-starttls", starttls]
    done = client.run("timeout", "10", *args, input=b"", check=False)
    return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")


# The probes of the refusals below: (openssl options, what a server that offers it says).
OLD_PROBES = {
    "TLS 1.0": (("-tls1", "-cipher", "DEFAULT@SECLEVEL=0"), "Protocol version: TLSv1\n"),
    "TLS 1.1": (("-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"), "Protocol version: TLSv1.1\n"),
    "CBC": (("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"), "Ciphersuite: ECDHE-ECDSA-AES128-SHA256\n"),
}
PERMISSIVE_PORT = 4433


@pytest.fixture(scope="module")
def permissive_server(lab):
    """The positive control of the refusals: a TLS server in the outsider that offers
    TLS 1.0, 1.1 and CBC, as old servers did."""
    outsider = Container("outsider", lab.container("outsider"))
    outsider.run("sh", "-c", "cd /tmp && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
                 "-nodes -keyout permissive.key -out permissive.crt -days 1 -subj /CN=permissive")
    docker("exec", "-d", outsider.id, "openssl", "s_server", "-accept", f"127.0.0.1:{PERMISSIVE_PORT}",
           "-cert", "/tmp/permissive.crt", "-key", "/tmp/permissive.key", "-cipher", "DEFAULT@SECLEVEL=0",
           "-min_protocol", "TLSv1", "-quiet")
    wait_until(lambda: f":{PERMISSIVE_PORT:04X} " in outsider.output("cat", "/proc/net/tcp"),
               "the permissive server to listen")
    yield outsider
    outsider.run("pkill", "-f", f"s_server -accept 127.0.0.1:{PERMISSIVE_PORT}", check=False)


@pytest.mark.parametrize("probe", list(OLD_PROBES))
def test_the_probes_see_old_tls_where_a_server_offers_it(permissive_server, probe):
    """Without this, a probe that cannot offer TLS 1.0 (or names no real cipher) would
    "find" every server refusing it."""
    options, offered = OLD_PROBES[probe]
    out = handshake(permissive_server, "127.0.0.1", PERMISSIVE_PORT, None, *options)
    assert "CONNECTION ESTABLISHED" in out and offered in out, out


@pytest.mark.parametrize(("port", "starttls"), TLS_PORTS, ids=lambda v: str(v))
@pytest.mark.parametrize("provider", config.PROVIDERS, ids=lambda p: p.service)
def test_old_tls_versions_and_cbc_are_refused(container, provider, port, starttls):
    client = container("outsider")
    for probe, (options, offered) in OLD_PROBES.items():
        out = handshake(client, provider.mx, port, starttls, *options)
        assert "CONNECTION ESTABLISHED" not in out and offered not in out, (probe, out)
        # refused in the handshake, by the server, not a connection that never was
        assert "SSL routines" in out and "connect:errno" not in out, (probe, out)
    good = handshake(client, provider.mx, port, starttls, "-tls1_2")
    assert "Protocol version: TLSv1.2" in good and "Ciphersuite: ECDHE-ECDSA-AES" in good, good
    assert "Protocol version: TLSv1.3" in handshake(client, provider.mx, port, starttls)


NOT_FINDINGS = {"engine_problem", "service", "scanTime"}  # about the scanner, not the server


@pytest.mark.parametrize(("port", "starttls"), SCANNED_PORTS, ids=lambda v: str(v))
@pytest.mark.parametrize("provider", config.PROVIDERS, ids=lambda p: p.service)
def test_an_independent_scanner_finds_nothing_to_fix(container, provider, port, starttls):
    """testssl.sh, the scanner admins use, from the outsider: protocols, server cipher
    order, every cipher per protocol, and its vulnerability checks."""
    target = f"{provider.mx}:{port}"
    report = f"/tmp/testssl-{provider.letter}-{port}.json"
    container("outsider").run(
        "sh", "-c", f"rm -f {report}; testssl --quiet --color 0 --warnings off -p -P -E -U "
        f"--jsonfile {report} {'-t ' + starttls if starttls else ''} {target} >/dev/null",
        check=False, timeout=180)
    findings = {f["id"]: f for f in json.loads(container("outsider").output("cat", report))}
    problems = {i: f["finding"] for i, f in findings.items()
                if f["severity"] in ("LOW", "MEDIUM", "HIGH", "CRITICAL", "WARN") and i not in NOT_FINDINGS}
    assert problems == {}, problems
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert findings[old]["finding"] == "not offered", findings[old]
    assert findings["TLS1_2"]["finding"] == "offered" and findings["TLS1_3"]["finding"].startswith("offered")
    assert findings["cipher_order"]["finding"] == "server"
    tls12 = [f["finding"].split()[3] for i, f in findings.items() if i.startswith("cipher-tls1_2_")]
    assert tls12 and all(c.startswith("ECDHE-") and ("GCM" in c or "CHACHA20" in c) for c in tls12), tls12


@pytest.mark.parametrize("provider", config.PROVIDERS, ids=lambda p: p.service)
def test_the_server_picks_the_cipher(container, provider):
    """Offered the weakest allowed first, the server still chooses its own first choice."""
    out = handshake(container("outsider"), provider.mx, 587, "smtp", "-tls1_2", "-cipher",
                    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256")
    assert "Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256" in out, out


def test_port_25_still_takes_mail_in_clear(outsider):
    session = raw_session(outsider, PROVIDER_B.mx, 25, [b"EHLO outsider\r\n", b"MAIL FROM:<>\r\n",
                                                       f"RCPT TO:<{Y}>\r\n".encode(), b"RSET\r\n"])
    assert session.replies[2].startswith("250 2.1.5")


def test_a_hands_mail_to_b_over_tls_1_3(container, client_x, settings):
    """Read from the message itself: B's Received: header of the hop from A names the TLS
    version and cipher (a reused connection logs no new handshake, the header always)."""
    [sent] = submit_many(client_x, X, settings.password(X), Y, 1, "tls13")
    b = container(PROVIDER_B.service)
    [stored] = wait_until(lambda: b.messages_with(Y, sent.message_id), "the message at Y")
    b.delete_message(Y, sent.message_id)
    hops = message_from_bytes(stored, policy=default).get_all("Received")
    [from_a] = [h for h in hops if "by mx.provider-b.test (Postfix) with ESMTPS" in h]
    assert re.search(r"\(using TLSv1\.3 with cipher TLS_(AES|CHACHA20)", from_a), from_a


# --- no harvesting -------------------------------------------------------------------

HARVEST = {
    "VRFY of a real user": (b"VRFY y@provider-b.test\r\n", "502 5.5.1 VRFY command is disabled\r\n"),
    "VRFY of nobody": (b"VRFY nobody@provider-b.test\r\n", "502 5.5.1 VRFY command is disabled\r\n"),
    "EXPN": (b"EXPN postmaster\r\n", "500 5.5.2 Error: command not recognized\r\n"),
    "ETRN": (b"ETRN provider-b.test\r\n",
             "554 5.7.1 <provider-b.test>: Etrn command rejected: Access denied\r\n"),
}


@pytest.mark.parametrize("name", list(HARVEST))
@pytest.mark.parametrize(("provider", "port"),
                         [(PROVIDER_A, 25), (PROVIDER_B, 25), (PROVIDER_A, 587), (PROVIDER_A, 465)],
                         ids=["A:25", "B:25", "A:587 before AUTH", "A:465 before AUTH"])
def test_no_directory_of_customers(outsider, provider, port, name):
    """A stranger learns nothing: every address gets the same answer, and EXPN and ETRN
    none at all (587: after STARTTLS, which it requires first, and before AUTH; 465:
    inside TLS from the start, before AUTH)."""
    command, reply = HARVEST[name]
    tls = [b"STARTTLS\r\n", STARTTLS, b"EHLO outsider\r\n"] if port == 587 else []
    session = raw_session(outsider, provider.mx, port, [b"EHLO outsider\r\n", *tls, command],
                          tls="implicit" if port == 465 else "none")
    assert session.replies[-1] == reply


def test_vrfy_after_login_gives_nothing_away_either(client_x, settings):
    session = raw_session(client_x, PROVIDER_A.smtp, 587, [
        b"EHLO client\r\n", b"STARTTLS\r\n", STARTTLS, b"EHLO client\r\n",
        auth_plain(config.X, settings.password(config.X)), b"VRFY x2@provider-a.test\r\n"])
    assert session.replies[-1] == "502 5.5.1 VRFY command is disabled\r\n"


# --- least privilege, bounded resources ---------------------------------------------------


def inspect(lab, service: str) -> dict:
    return json.loads(docker("inspect", lab.container(service)))[0]["HostConfig"]


NEEDED = {  # compose.yaml says why each is needed; none has NET_ADMIN or NET_RAW (sealed)
    "provider-a": {"NET_BIND_SERVICE", "SETUID", "SETGID", "CHOWN", "FOWNER", "DAC_OVERRIDE",
                   "KILL", "SYS_CHROOT"},
    "client-x": set(),
    "dns": {"NET_BIND_SERVICE", "SETUID", "SETGID", "KILL"},
}
NEEDED["provider-b"], NEEDED["client-y"], NEEDED["outsider"] = NEEDED["provider-a"], NEEDED["client-x"], \
    NEEDED["client-x"]


@pytest.mark.parametrize("service", config.SERVICES)
def test_least_privilege_and_bounded_resources(lab, service):
    host = inspect(lab, service)
    assert host["CapDrop"] == ["ALL"]
    assert {c.removeprefix("CAP_") for c in host["CapAdd"] or []} == NEEDED[service]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Memory"] > 0 and host["PidsLimit"] > 0 and host["NanoCpus"] > 0
    assert host["ReadonlyRootfs"]  # what each writes is a volume or a tmpfs (compose.yaml)


@pytest.mark.parametrize("service", ["client-x", "provider-b"])
def test_root_cannot_change_the_image_s_programs(container, service):
    """Not even the ones that run before the seal at the next start (README, Security)."""
    for path in ("/usr/local/bin/start", "/usr/local/bin/x", "/usr/sbin/nft", "/etc/passwd"):
        done = container(service).run("sh", "-c", f"echo x >> {path}", check=False)
        assert done.returncode != 0 and b"Read-only file system" in done.stderr, (path, done)


def test_a_read_only_client_still_works_as_a_toolbox(container):
    x = container("client-x")
    x.run("sh", "-c", "head -c 1M /dev/zero > /root/big && rm /root/big")  # where the exercises write


def processes(container_id: str) -> int:
    return int(docker("stats", "--no-stream", "--format", "{{.PIDs}}", container_id).strip() or 0)


@pytest.mark.disruptive
def test_a_fork_bomb_in_a_client_is_contained(lab, container, settings):
    """Typed in the outsider, the classic fork bomb fills its process limit and stops
    there; meanwhile X's mail still reaches Y and the host still answers."""
    outsider = lab.container("outsider")
    limit = inspect(lab, "outsider")["PidsLimit"]
    try:
        docker("exec", "-d", outsider, "bash", "-c", ":(){ :|:& };:")
        wait_until(lambda: processes(outsider) >= limit - 2, "the bomb to fill the outsider's process limit")
        [sent] = submit_many(container("client-x"), X, settings.password(X), Y, 1, "during-the-bomb")
        b = container(PROVIDER_B.service)
        wait_until(lambda: b.messages_with(Y, sent.message_id), "X's mail at Y during the bomb")
        b.delete_message(Y, sent.message_id)
        assert processes(outsider) <= limit
    finally:
        docker("kill", outsider)
        lab.start("outsider")
        lab.wait_healthy(60)
