"""A class on one server: `lab class up` starts labs side by side (no host ports),
`status` and `export` show where each learner is, `down` stops them; a lab command
without LAB_ID is refused while a class exists; a taken host port stops `make up`
before anything starts.

The class here is labs 21..23 (`--first 21`), so that it never meets a class or a lab
of the machine's own, and its record is kept apart (config.CLASS_FILE)."""

from __future__ import annotations

import csv
import io
import json
import os
import socket

import pytest

from lab import classroom, cli, config, exercises
from lab import journal as journal_module
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
    assert (checked["ex01_attempts"], checked["ex01_minutes_to_pass"]) == ("1", ""), checked  # not passed
    assert (untouched["ex01_attempts"], untouched["ex01_minutes_to_pass"]) == ("", ""), untouched
    assert untouched["ex01"] == "-" and untouched["left_on"] == "" and untouched["last_action"] == ""
    assert switched["left_on"] == "A: op25b off; B: op25b off", switched
    assert switched["last_action"] == "op25b off", switched

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


class Clock:
    """time.time() for the journal: the test moves it on."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_export_counts_the_checks_until_the_first_pass_and_the_minutes_it_took(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "STATE_DIR", tmp_path)
    clock = Clock(1_000_000.0)
    monkeypatch.setattr(journal_module.time, "time", clock)
    journal = journal_module.Journal(config.load(lab_id=7, project="maillab-7", in_class=True,
                                                 environ=config.read_env_file(config.ENV_FILE)))

    def at(seconds: float, exercise: int, passed: int, total: int = 5) -> None:
        clock.now = 1_000_000.0 + seconds
        journal.save_progress(exercise, passed, total)

    journal.start_over()  # the reset that begins exercise 2
    at(300, 2, 3)
    at(600, 2, 5)  # passes at the second check, 10 minutes after the reset
    at(700, 2, 4)  # later checks change neither figure
    at(1000, 3, 5)  # 3 follows 2 without a reset: its work began at 2's last check
    clock.now = 1_002_000.0
    journal.start_over()
    at(2100, 4, 1, 4)
    at(2200, 4, 2, 4)  # two checks, no pass yet
    old = journal.progress()
    old[5] = {"passed": 6, "total": 6, "time": 999_000.0, "done": True}  # written before attempts were kept
    journal.progress_path.write_text(json.dumps(old))

    found = classroom.Row(7, "maillab-7", "healthy")
    classroom.read_progress(found, journal)
    rows = list(csv.DictReader(io.StringIO(classroom.export([found]))))
    assert len(rows) == 1
    got = {n: (rows[0][f"ex{n:02d}"], rows[0][f"ex{n:02d}_attempts"], rows[0][f"ex{n:02d}_minutes_to_pass"])
           for n in (1, 2, 3, 4, 5)}
    assert got == {1: ("-", "", ""), 2: ("done", "2", "10.0"), 3: ("done", "1", "5.0"),
                   4: ("2/4", "2", ""), 5: ("done", "", "")}, got
    header = next(csv.reader(io.StringIO(classroom.export([found]))))
    assert header[4:7] == ["ex01", "ex01_attempts", "ex01_minutes_to_pass"], header
    assert header[-3:] == ["last_action", "last_time", "left_on"], header
