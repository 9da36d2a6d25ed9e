"""Fixtures: one isolated lab for the whole session, and handles on its containers.

The test lab runs beside a learner's lab without touching it: its own Compose project
(maillab-test) and, through LAB_ID, its own subnets and host ports. It is built and
started once, checked for health with a deadline, and removed with its volumes at the
end (MAILLAB_KEEP=1 keeps it for debugging). When a test fails, every container's log
is saved under .lab/test-logs/ and the last lines are shown in the summary.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import testinfra

from lab import config
from lab.compose import Lab
from tests.harness import Container, Provider

TEST_PROJECT = "maillab-test"
# 10 (and 9 for test_13's second lab) keep the host ports below 32768, where Linux
# takes the source ports of outgoing connections: a test lab at LAB_ID 23 once failed
# to publish 127.0.0.1:56110 because a connection held that port ("address already in
# use"). 1-8 are left to classrooms (and the bench's side-by-side labs).
TEST_LAB_ID = int(os.environ.get("MAILLAB_TEST_LAB_ID", "10"))
LOG_DIR = config.STATE_DIR / "test-logs"


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    test_lab = Lab(config.load(lab_id=TEST_LAB_ID, project=TEST_PROJECT))
    test_lab.build()
    test_lab.down(volumes=True)  # whatever an earlier, interrupted run left behind
    try:
        test_lab.up()
        yield test_lab
    finally:
        if _FAILED:
            _save_logs(test_lab)
        if os.environ.get("MAILLAB_KEEP") != "1":
            test_lab.down(volumes=True)


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
def infra(lab: Lab):
    """infra(service): a testinfra host inside that service's container."""
    return lambda service: testinfra.get_host(f"docker://{lab.container(service)}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Disruptive tests last: if one fails to restore the lab, the rest have run."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)


# --- logs on failure -------------------------------------------------------------------

_FAILED = False


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    global _FAILED
    report = yield
    if report.failed:
        _FAILED = True
    return report


def _save_logs(lab: Lab) -> None:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    for service in config.SERVICES:
        (LOG_DIR / f"{service}.log").write_text(lab.logs(service))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not _FAILED or not LOG_DIR.exists():
        return
    terminalreporter.section("lab logs (last 25 lines each; all of them in .lab/test-logs/)")
    for path in sorted(LOG_DIR.glob("*.log")):
        lines = path.read_text().splitlines()  # the first line names the service
        terminalreporter.write_line(lines[0])
        for line in lines[1:][-25:]:
            terminalreporter.write_line(line)
