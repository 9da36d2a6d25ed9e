"""The lab's certificate authority, made on this machine the first time it is needed.

No private key is ever committed: `.lab/tls/` is created locally with openssl, its keys
readable by their owner alone. Each provider gets a certificate for its names (mx.,
smtp., pop., imap. and the domain itself) and for 127.0.0.1, so a desktop mail client
that trusts ca.crt can verify it too. A certificate made before a name was added is
made again, by the same CA (a client that trusts ca.crt keeps trusting the lab).

The CA can vouch for the lab's names only (X.509 name constraints, RFC 5280 4.2.1.10):
names under `.test`, `localhost` and the address 127.0.0.1. A user who imports ca.crt
into a mail client or a browser trusts it for nothing else, so whoever reads its key
cannot impersonate any real site to them. A CA made before it had that limit is
replaced at the next `lab up`, which says so.
"""

from __future__ import annotations

import fcntl
import ipaddress
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from lab.config import PROVIDERS, TLS_DIR, Provider

CA_CERT = TLS_DIR / "ca.crt"
CA_KEY = TLS_DIR / "ca.key"
# What the CA may sign for: every name under .test (RFC 6761), localhost, 127.0.0.1.
NAME_CONSTRAINTS = ("critical,permitted;DNS:test,permitted;DNS:localhost,"
                    "permitted;IP:127.0.0.1/255.255.255.255")
RENEWED = ("the lab's certificate authority was made again, now limited to the lab's own names "
           "(.test, localhost, 127.0.0.1): if a mail client trusts the old one, import the new "
           ".lab/tls/ca.crt there and remove the old \"maillab lab CA\"")


def _openssl(*args: str) -> None:
    """openssl, whose new files (keys above all) are its owner's alone from the start."""
    subprocess.run(["openssl", *args], check=True, capture_output=True, umask=0o077)


def ensure_certificates(tls_dir: Path = TLS_DIR, say: Callable[[str], None] = print) -> bool:
    """Create the CA and the provider certificates unless they exist. True if created.
    Labs started at once (the test workers, a class) share them: one makes them, under
    a lock, and the others wait and use them. A CA without name constraints is made
    again, with them (`say` tells the user)."""
    tls_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(tls_dir.parent / "tls.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ca_crt, ca_key = tls_dir / "ca.crt", tls_dir / "ca.key"
        made = not (ca_crt.exists() and ca_key.exists())
        if not made and not _constrained(ca_crt):
            say(RENEWED)
            made = True
        if made:
            _make_ca(tls_dir)
        for p in PROVIDERS:
            if made or not _covers(tls_dir / f"{p.service}.crt", _names(p)):
                _make_certificate(tls_dir, p)
                made = True
        for key in tls_dir.glob("*.key"):  # an older lab's keys were made with the umask's mode
            key.chmod(0o600)
    return made


def _names(p: Provider) -> list[str]:
    return [p.mx, p.smtp, p.pop, p.imap, p.domain, "localhost"]


def _covers(crt: Path, names: list[str]) -> bool:
    """Whether a certificate exists, with its key, and names every one of `names`."""
    if not (crt.exists() and crt.with_suffix(".key").exists()):
        return False
    done = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(crt)],
                          capture_output=True, text=True)
    return set(names) <= set(re.findall(r"DNS:([^,\s]+)", done.stdout))


def _constrained(ca_crt: Path) -> bool:
    done = subprocess.run(["openssl", "x509", "-noout", "-ext", "nameConstraints", "-in", str(ca_crt)],
                          capture_output=True, text=True)
    return "Permitted" in done.stdout


def _make_ca(tls_dir: Path) -> None:
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca_crt, ca_key = tls_dir / "ca.crt", tls_dir / "ca.key"
    _openssl(
        "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "3650",
        "-subj", "/O=maillab/CN=maillab lab CA (local to this machine)",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-addext", f"nameConstraints={NAME_CONSTRAINTS}",
    )
    ca_crt.chmod(0o644)  # what the clients and mail programs trust: everyone may read it


def _make_certificate(tls_dir: Path, p: Provider) -> None:
    ca_crt, ca_key = tls_dir / "ca.crt", tls_dir / "ca.key"
    key, crt = tls_dir / f"{p.service}.key", tls_dir / f"{p.service}.crt"
    san = ",".join([f"DNS:{n}" for n in _names(p)] + ["IP:127.0.0.1"])
    with tempfile.TemporaryDirectory() as tmp:
        csr, ext = Path(tmp) / "req.csr", Path(tmp) / "ext.cnf"
        ext.write_text(
            f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
            "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        )
        _openssl(
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={p.mx}",
        )
        _openssl(
            "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
            "-CAcreateserial", "-out", str(crt), "-days", "825", "-extfile", str(ext),
        )
    key.chmod(0o600)  # an older lab's key may have been made readable by all
    crt.chmod(0o644)


# --- the class server (lab class web --bind ADDR --lab-ca) -----------------------------
# The lab's CA can vouch for 127.0.0.1 and .test names only, which no learner's browser
# reaches the class server by. So the class server gets a CA of its own, limited by the
# same kind of name constraints to the server's own names and addresses, and a
# certificate from it: a learner who imports class-ca.crt trusts it for that server and
# for nothing else. A change of name or address makes both again.


def _subject_names(names: list[str]) -> list[str]:
    found = []
    for name in names:
        try:
            ipaddress.ip_address(name)
            found.append(f"IP:{name}")
        except ValueError:
            found.append(f"DNS:{name}")
    return found


def _constraint(entry: str) -> str:
    kind, _, value = entry.partition(":")
    if kind == "IP":
        mask = "255.255.255.255" if ipaddress.ip_address(value).version == 4 else "FFFF:" * 7 + "FFFF"
        return f"permitted;IP:{value}/{mask}"
    return f"permitted;DNS:{value}"


def class_certificate(names: list[str], tls_dir: Path = TLS_DIR) -> tuple[Path, Path]:
    """(certificate, key) for a class server reached by `names`, from a CA limited to
    them (made when missing, or when the names changed)."""
    entries = _subject_names(names)
    ca_crt, ca_key = tls_dir / "class-ca.crt", tls_dir / "class-ca.key"
    crt, key = tls_dir / "class-server.crt", tls_dir / "class-server.key"
    record = tls_dir / "class-server.names"
    tls_dir.mkdir(parents=True, exist_ok=True)
    with open(tls_dir.parent / "tls.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if record.exists() and record.read_text() == "\n".join(entries) and crt.exists() and key.exists():
            return crt, key
        _openssl(
            "req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "825",
            "-subj", f"/O=maillab/CN=maillab class server CA ({names[0]})",
            "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-addext", "nameConstraints=critical," + ",".join(_constraint(e) for e in entries),
        )
        ca_crt.chmod(0o644)  # what learners import
        with tempfile.TemporaryDirectory() as tmp:
            csr, ext = Path(tmp) / "req.csr", Path(tmp) / "ext.cnf"
            ext.write_text(f"subjectAltName={','.join(entries)}\nbasicConstraints=CA:FALSE\n"
                           "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
            _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                     "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={names[0]}")
            _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                     "-CAcreateserial", "-out", str(crt), "-days", "825", "-extfile", str(ext))
        key.chmod(0o600)
        ca_key.chmod(0o600)
        record.write_text("\n".join(entries))
    return crt, key
