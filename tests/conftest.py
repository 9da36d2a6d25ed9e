"""Fixtures: an isolated lab per test worker, and handles on its containers.

`make test` runs the suite on several workers at once (pytest-xdist, TEST_WORKERS in
the Makefile); each worker starts its own lab beside a learner's lab without touching
it: its own Compose project (maillab-test-N), its own subnets through LAB_ID (11, 12,
...) and no host ports (PUBLISH_PORTS=off). The few tests that need ports published
on 127.0.0.1 share one more lab, `ports_lab` (LAB_ID 10, project maillab-test-ports),
and run on one worker (the xdist group "ports-lab"); it is also the "other lab" of the
isolation tests. Every lab is started once, with a deadline, and removed with its
volumes at the end (MAILLAB_KEEP=1 keeps them). When a test fails, every container's
log is saved under .lab/test-logs/<project>/ and the last lines are shown; the logs at
the moment a test failed are under .lab/test-logs/<project>/at-failure/<test>/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import testinfra

from lab import config
from lab.compose import Lab
from tests.harness import Container, Provider, settle

# LAB_ID 10 (ports_lab) keeps its host ports (30025..31995) below 32768, where Linux
# takes the source ports of outgoing connections: a test lab at LAB_ID 23 once failed
# to publish 127.0.0.1:56110 because a connection held that port. The workers' labs
# publish nothing, so their LAB_ID only moves their subnets (10.91.x.x, 10.92.x.x...).
# 1-9 are left to classrooms and the bench.
# MAILLAB_TEST_OFFSET=K moves every test lab (and the test class) by K LAB_IDs, with
# projects of their own, so that a second checkout's suite can run beside this one;
# MAILLAB_TEST_PORTS_LAB then picks a free LAB_ID for the ports lab (with HOST_PORT_BASE
# lowered so that its ports fit below 65536).
# The suite reads what the lab says in English (lab/i18n.py chooses the language from the
# locale): whatever this machine's locale, every command speaks English, unless a test asks
# for another language itself (test_33_japanese_run.py sets LANG=ja_JP.UTF-8).
for _variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
    os.environ.pop(_variable, None)
os.environ["LANG"] = "C.UTF-8"
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
TEST_OFFSET = int(os.environ.get("MAILLAB_TEST_OFFSET", "0"))
_SUFFIX = f"-o{TEST_OFFSET}" if TEST_OFFSET else ""
TEST_LAB_ID, TEST_PROJECT = 11 + WORKER + TEST_OFFSET, f"maillab-test-{WORKER + 1}{_SUFFIX}"
PORTS_LAB_ID = int(os.environ.get("MAILLAB_TEST_PORTS_LAB", "10"))
PORTS_PROJECT = f"maillab-test-ports{_SUFFIX}"
PORTS_LAB = pytest.mark.xdist_group("ports-lab")  # tests that use ports_lab
LOG_DIR = config.STATE_DIR / "test-logs"


def start_lab(lab_id: int, project: str, publish_ports: bool) -> Lab:
    environ = {**os.environ, "PUBLISH_PORTS": "on" if publish_ports else "off"}
    test_lab = Lab(config.load(lab_id=lab_id, project=project, environ=environ))
    test_lab.down(volumes=True)  # whatever an earlier, interrupted run left behind
    test_lab.up()
    return test_lab


def stop_lab(test_lab: Lab, failed: bool) -> None:
    if failed:
        _save_logs(test_lab)
    if os.environ.get("MAILLAB_KEEP") != "1":
        test_lab.down(volumes=True)


@pytest.fixture(scope="session")
def lab(request) -> Iterator[Lab]:
    failed_before = request.session.testsfailed
    test_lab = start_lab(TEST_LAB_ID, TEST_PROJECT, publish_ports=False)
    try:
        yield test_lab
    finally:
        stop_lab(test_lab, request.session.testsfailed > failed_before)


@pytest.fixture(scope="session")
def ports_lab(request, lab) -> Iterator[Lab]:
    """A second lab, with its ports published on 127.0.0.1 (tests marked PORTS_LAB)."""
    failed_before = request.session.testsfailed
    other = start_lab(PORTS_LAB_ID, PORTS_PROJECT, publish_ports=True)
    try:
        yield other
    finally:
        stop_lab(other, request.session.testsfailed > failed_before)


@pytest.fixture(scope="session")
def settings(lab: Lab) -> config.Settings:
    return lab.settings


def _provider(lab: Lab, p: config.Provider) -> Provider:
    return Provider(p.service, lab.container(p.service), domain=p.domain)


@pytest.fixture
def provider_a(lab: Lab) -> Provider:
    return _provider(lab, config.PROVIDER_A)


@pytest.fixture
def provider_b(lab: Lab) -> Provider:
    return _provider(lab, config.PROVIDER_B)


@pytest.fixture
def client_x(lab: Lab) -> Container:
    return Container("client-x", lab.container("client-x"))


@pytest.fixture
def client_y(lab: Lab) -> Container:
    return Container("client-y", lab.container("client-y"))


@pytest.fixture
def outsider(lab: Lab) -> Container:
    return Container("outsider", lab.container("outsider"))


@pytest.fixture
def container(lab: Lab) -> type[Container]:
    """container(service) for tests parametrized over services."""
    def get(service: str) -> Container:
        for p in config.PROVIDERS:
            if p.service == service:
                return _provider(lab, p)
        return Container(service, lab.container(service))
    return get  # type: ignore[return-value]


@pytest.fixture
def empty_y_mailbox(container) -> Iterator[Provider]:
    """Y's mailbox is empty and no mail for Y is on its way (POP3 and IMAP tests)."""
    a, b = container(config.PROVIDER_A.service), container(config.PROVIDER_B.service)
    settle([a, b], config.Y)
    b.empty_mailbox(config.Y)
    yield b
    b.empty_mailbox(config.Y)


@pytest.fixture
def infra(lab: Lab):
    """infra(service): a testinfra host inside that service's container."""
    return lambda service: testinfra.get_host(f"docker://{lab.container(service)}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Keep each phase's report on the test (item.report_call): a fixture can then tell
    whether its test failed (the web view's screenshots)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    if report.failed:
        # the logs as they are now: a later test may recreate the containers, and their
        # logs with them, before the session ends
        for name in ("lab", "ports_lab"):
            if isinstance(found := item.funcargs.get(name), Lab):
                test = re.sub(r"[^\w.\[\]-]", "_", item.name)
                _save_logs(found, LOG_DIR / found.project / "at-failure" / test)
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Disruptive tests last: if one fails to restore its lab, the rest have run."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


# --- logs on failure -------------------------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, or a run without xdist
        shutil.rmtree(LOG_DIR, ignore_errors=True)


def _save_logs(lab: Lab, folder: Path | None = None) -> None:
    folder = folder or LOG_DIR / lab.project
    folder.mkdir(parents=True, exist_ok=True)
    for service in config.SERVICES:
        (folder / f"{service}.log").write_text(lab.logs(service))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not LOG_DIR.exists():
        return
    terminalreporter.section("lab logs (last 25 lines each; all of them in .lab/test-logs/)")
    for path in sorted(LOG_DIR.glob("*/*.log")):
        lines = path.read_text().splitlines()  # the first line names the service
        terminalreporter.write_line(f"{path.parent.name}: {lines[0]}")
        for line in lines[1:][-25:]:
            terminalreporter.write_line(line)
