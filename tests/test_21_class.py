"""A class on one server: `lab class up` starts labs side by side (no host ports),
`status` and `export` show where each learner is, `down` stops them; a lab command
without LAB_ID is refused while a class exists; a taken host port stops `make up`
before anything starts.

The class here is labs 21..23 (`--first 21`), so that it never meets a class or a lab
of the machine's own, and its record is kept apart (config.CLASS_FILE)."""

from __future__ import annotations

import csv
import io
import os
import socket

import pytest

from lab import cli, config, exercises
from lab.compose import Lab, LabError, docker
from lab.web import classpage
from lab.web.browser import chromedriver, free_port
from tests.conftest import TEST_OFFSET
from tests.harness import wait_until
from tests.solutions import lab_command
from tests.webpage import Served, browser_session, read_all

FIRST, COUNT = 21 + TEST_OFFSET, 3
IDS = range(FIRST, FIRST + COUNT)


@pytest.fixture
def class_record(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CLASS_FILE", tmp_path / "class.json")
    yield
    if config.CLASS_FILE.exists():
        lab_command(Lab(config.load(lab_id=0)), "class", "clean")


def volumes(lab: Lab) -> list[str]:
    return docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={lab.project}").split()


def rows_by_lab(lab: Lab) -> dict[str, dict[str, str]]:
    code, out = lab_command(lab, "class", "export")
    assert code == 0, out
    return {r["lab_id"]: r for r in csv.DictReader(io.StringIO(out))}


@pytest.mark.disruptive
def test_a_class_of_three(class_record, monkeypatch, capsys):
    teacher = Lab(config.load(lab_id=0))
    code, out = lab_command(teacher, "class", "up", str(COUNT), "--first", str(FIRST))
    assert code == 0, out
    for n in IDS:
        assert f"lab {n:>3} (maillab-{n}): healthy in" in out, out
    labs = {n: Lab(config.load(lab_id=n)) for n in IDS}
    assert not any(lab.settings.publish_ports for lab in labs.values())
    for lab in labs.values():  # no host port: nothing published
        assert all(not c["NetworkSettings"]["Ports"] or not any(c["NetworkSettings"]["Ports"].values())
                   for c in lab._inspect().values())

    code, again = lab_command(teacher, "class", "up", str(COUNT), "--first", str(FIRST))
    assert code == 0 and again.count("already running, healthy") == COUNT, again

    # The class page, open before anything happens: it must change without a reload.
    page = Served(lambda ports, ready, stop: classpage.serve(ports, ready, stop), (free_port(),))
    page.start_serving()
    shot = config.STATE_DIR / "test-logs" / "web" / "test_a_class_of_three.png"
    with chromedriver(f"maillab-test-class-browser-{os.getpid()}", page.ports) as driver_url, \
            browser_session(driver_url, "en", shot) as browser:
        try:
            browser.get(page.url + "/?lang=en")
            wait_until(lambda: [r["data"].get("health") for r in read_all(browser, "#class-table tbody tr")]
                       == ["healthy"] * COUNT, "three healthy rows")

            # Progress appears once a learner checks; a switch left on is named.
            learner = labs[FIRST + 1]
            assert lab_command(learner, "check", "1")[0] == 1
            assert lab_command(labs[FIRST + 2], "op25b", "off")[0] == 0

            def cell(n: int, selector: str) -> str:
                return "".join(c["text"] for c in read_all(browser, f"tr[data-lab='{n}'] {selector}"))

            steps = len(exercises.get(1).steps)
            wait_until(lambda: cell(FIRST + 1, "td[data-exercise='1']").endswith(f"/{steps}")
                       and "op25b off" in cell(FIRST + 2, "td:last-child"), "the check and the switch, live")
            assert cell(FIRST, "td[data-exercise='1']") == "-"
        finally:
            page.stop()
    code, table = lab_command(teacher, "class", "status")
    assert code == 0, table
    assert table.count("healthy") == COUNT, table
    rows = rows_by_lab(teacher)
    assert list(rows) == [str(n) for n in IDS]
    untouched, checked, switched = (rows[str(n)] for n in IDS)
    steps = len(exercises.get(1).steps)
    assert checked["ex01"].endswith(f"/{steps}") and checked["last_action"] == "lab check 1", checked
    assert untouched["ex01"] == "-" and untouched["left_on"] == "" and untouched["last_action"] == ""
    assert switched["left_on"] == "A: op25b off; B: op25b off", switched
    assert switched["last_action"] == "op25b on=False", switched

    # Without LAB_ID, a command for one lab is refused: it would act on lab 0.
    monkeypatch.delenv("LAB_ID", raising=False)
    assert cli.main(["status"]) == 2
    assert f"this machine runs a class (labs {FIRST} to {IDS[-1]}): say which lab with LAB_ID" \
        in capsys.readouterr().err

    code, out = lab_command(teacher, "class", "down")
    assert code == 0 and out.count("stopped, volumes kept") == COUNT, out
    assert all(lab.containers() == {} and volumes(lab) for lab in labs.values())  # mailboxes kept
    code, out = lab_command(teacher, "class", "clean")
    assert code == 0 and out.count("removed with its volumes") == COUNT, out
    assert all(lab.containers() == {} and not volumes(lab) for lab in labs.values())
    assert not config.CLASS_FILE.exists()


def test_a_taken_host_port_stops_up_before_anything_starts():
    lab = Lab(config.load(lab_id=9, environ={"PUBLISH_PORTS": "on"}, in_class=False))
    port = lab.settings.host_port(config.PROVIDER_A, 25)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(LabError) as raised:
            lab.up()
    assert str(raised.value).startswith(f"port 127.0.0.1:{port} (provider-a's 25) is already in use on this "
                                        "machine; nothing was started.")
    assert "HOST_PORT_BASE or LAB_ID in .env, or set PUBLISH_PORTS=off" in str(raised.value)
    assert lab.containers() == {}
