"""Every fact once: a value the lab's Python holds (lab/config.py, the table of provider
settings, lab/dnszones.py) must not appear in a second place (shell, YAML, templates,
the README) with a different value. Each fact is looked for where it could be written
again by hand; the places that should take it from Python must name a variable.
No lab is needed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab import config, dnszones, provider_settings, tls
from lab.config import REPO

IMAGES = REPO / "images"
TEMPLATES = sorted(p for p in IMAGES.rglob("*") if p.is_file() and "browser" not in p.parts)
COMPOSE = [REPO / "compose.yaml", REPO / "compose.ports.yaml"]
ZONES = sorted((REPO / "lab" / "zones").glob("*.zone"))
README = [REPO / "README.md"]


def occurrences(files: list[Path], pattern: str) -> list[tuple[str, str]]:
    """(file, what the pattern's first group found) for every match."""
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [(str(path.relative_to(REPO)), m.group(1)) for m in re.finditer(pattern, text)]
    return found


def test_the_dkim_selector_is_written_once():
    """lab/config.py's DKIM_SELECTOR: every <selector>._domainkey and s=<selector>."""
    seen = occurrences(TEMPLATES + COMPOSE + ZONES + README, r"(?<![\w$])([\w${}]+)\._domainkey\b")
    seen += occurrences(README, r"\bs=(\w+);")
    wrong = [(f, s) for f, s in seen if s not in (config.DKIM_SELECTOR, "${SELECTOR}", "<selector>")]
    assert seen and not wrong, wrong
    assert dnszones.SELECTOR == config.DKIM_SELECTOR


def test_mx_names_come_from_the_topology():
    """The MX host of each domain is Provider.mx: no template, script or Compose file
    spells an mx. name of its own (each takes MAIL_HOSTNAME, ${MX}, PROVIDER_A_HOSTNAME)."""
    seen = occurrences(TEMPLATES + COMPOSE + ZONES, r"\b(mx\.[\w${][\w${}.-]*)")
    assert seen == [], seen
    assert dnszones.INTERNET_NAMES["provider-a"] == f"{config.PROVIDER_A.mx}."


@pytest.mark.parametrize("name", config.MILTER_PORTS)
def test_a_milter_port_is_written_once(name):
    """lab/config.py's MILTER_PORTS: main.cf and each milter's configuration take them
    as ${MILTER_..._PORT}; no file of the images writes the number."""
    port = config.MILTER_PORTS[name]
    assert occurrences(TEMPLATES, rf"\b({port})\b") == []
    assert any(f"${{MILTER_{name.upper()}_PORT}}" in p.read_text() for p in TEMPLATES)


def test_the_published_ports_are_the_lab_s():
    """compose.ports.yaml publishes each provider's PUBLISHED_PORTS, and only them."""
    published = occurrences([REPO / "compose.ports.yaml"], r"\$\{HOST_PORT_([AB]_\d+)\}:(?:\d+)")
    for letter in ("A", "B"):
        assert sorted(int(p.split("_")[1]) for _, p in published if p.startswith(letter)) \
            == sorted(config.PUBLISHED_PORTS)
    for line in (REPO / "compose.ports.yaml").read_text().splitlines():
        if m := re.search(r"HOST_PORT_[AB]_(\d+)\}:(\d+)", line):
            assert m.group(1) == m.group(2), line  # A's 465 is published as HOST_PORT_A_465


def test_retry_settings_are_the_table_s():
    """main.cf takes each of RETRY_PROFILES' settings from the environment, by the name
    the table gives it, and no script lists them by hand."""
    main_cf = (IMAGES / "provider" / "postfix" / "main.cf").read_text()
    for key in provider_settings.RETRY_KEYS:
        assert re.search(rf"^{key} = \$\{{POSTFIX_{key.upper()}\}}$", main_cf, re.MULTILINE), key
    scripts = [p for p in TEMPLATES if p.suffix not in (".cf", ".conf")]
    listed = [(f, k) for f, k in occurrences(scripts, r"\b(maximal_backoff_time|queue_run_delay)\b")]
    assert listed == [], listed


def test_the_tls_directory_is_written_once():
    """lab/config.py's TLS_DIR: compose.yaml mounts from ${TLS_DIR}, nothing names the
    folder by hand."""
    assert tls.TLS_DIR == config.TLS_DIR
    seen = occurrences(COMPOSE + TEMPLATES, r"(\.lab/tls)")
    assert seen == [], seen
    assert "${TLS_DIR}/ca.crt" in (REPO / "compose.yaml").read_text()


def test_image_names_are_written_once():
    seen = occurrences(COMPOSE, r"image:\s*(\S+)")
    assert seen and all(name.startswith("${") for _, name in seen), seen


def test_the_readme_s_table_of_settings_is_the_table():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert provider_settings.markdown() in readme, "README: run `lab config --markdown` and paste it"
