"""A class on one server: labs 1..N side by side, one per learner (`lab class ...`).

Lab N of a class is the lab `LAB_ID=N` names (project maillab-N, its own subnets), so a
learner reaches their own with `LAB_ID=N make shell SERVICE=client-x` or
`LAB_ID=N lab check 3`. A class lab publishes no host port (a class server needs no
desktop mail client, and ports would cap LAB_ID): lab/config.py makes it so for every
LAB_ID of the class, which .lab/class.json records; `lab` then refuses to guess a
missing LAB_ID (lab/cli.py).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from lab import config, exercises, faults, i18n, markdown, overrides, switches
from lab.compose import Lab, LabError, missing_images
from lab.config import SERVICES, SHELL_HISTORY
from lab.i18n import Text, _
from lab.journal import Journal
from lab.provider_settings import SWITCHES
from lab.text import printable

# Labs started at once: each start is a burst of CPU (six containers, Postfix, Dovecot,
# NSD); more at once only makes each slower on a small server.
PARALLEL_STARTS = int(os.environ.get("CLASS_PARALLEL", "4"))
CUSTOMERS = ("client-x", "client-y", "outsider")  # where a learner types


def labs(ids: range | None = None) -> list[Lab]:
    """The class's labs (or those of `ids`), their settings checked."""
    return [Lab(config.load(lab_id=n, in_class=True)) for n in (config.class_labs() if ids is None else ids)]


def _each(found: list[Lab], work: Callable[[Lab], str], parallel: int) -> Iterator[tuple[Lab, str]]:
    """Run `work` on every lab, `parallel` at a time; (lab, what it said) as each ends."""
    with ThreadPoolExecutor(max(1, parallel)) as pool:
        futures = {pool.submit(work, lab): lab for lab in found}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except LabError as err:
                yield futures[future], _("FAILED: {error}").format(error=i18n.message(err))


def up(count: int, report: Callable[[str], None], first: int = 1) -> bool:
    """Start labs first..first+count-1 (those running stay as they are) and record them
    as the class; True if all are healthy."""
    if count < 1 or first < 1:
        raise LabError(_("a class has at least one lab, numbered from 1 up: lab class up N [--first K]"))
    found = labs(range(first, first + count))  # every LAB_ID checked before anything starts
    config.CLASS_FILE.parent.mkdir(exist_ok=True)
    config.CLASS_FILE.write_text(json.dumps({"first": first, "labs": count, "started": time.time()}) + "\n")
    return start(found, report)


def start(found: list[Lab], report: Callable[[str], None]) -> bool:
    """Start these labs, PARALLEL_STARTS at a time, reporting each as it is healthy."""
    if missing_images():
        found[0].build()

    def start_one(lab: Lab) -> str:
        before = lab.states()
        seconds = lab.up(quiet=True)
        if before and all(before.get(s) == "healthy" for s in SERVICES):
            return _("already running, healthy")
        return _("healthy in {seconds} s").format(seconds=f"{seconds:.1f}")

    results = []
    for lab, said in _each(found, start_one, PARALLEL_STARTS):
        results.append(not said.startswith("FAILED"))
        report(_report(lab, said))
    return all(results)


def down(volumes: bool, report: Callable[[str], None]) -> None:
    """Stop every lab of the class (with volumes: delete them too, and forget the class)."""
    stop(labs(), volumes, report)
    if volumes:
        config.CLASS_FILE.unlink(missing_ok=True)


def stop(found: list[Lab], volumes: bool, report: Callable[[str], None]) -> None:
    def stop_one(lab: Lab) -> str:
        lab.down(volumes=volumes, quiet=True)
        if volumes:  # its journal, progress and DKIM keys go with it: the next class starts afresh
            shutil.rmtree(lab.settings.state_dir, ignore_errors=True)
        return _("removed with its volumes") if volumes else _("stopped, volumes kept")

    for lab, said in _each(found, stop_one, PARALLEL_STARTS):
        report(_report(lab, said))


def _report(lab: Lab, said: str) -> str:
    return "  " + str(_("lab {lab_id} ({project}): {said}").format(
        lab_id=f"{lab.settings.lab_id:>3}", project=lab.project, said=said))


# --- where everyone is -----------------------------------------------------------------


@dataclass
class Row:
    lab_id: int
    project: str
    health: str  # "healthy", "stopped", or which services are not healthy
    progress: dict[int, tuple[int, int, bool]] = field(default_factory=dict)  # N -> (passed, total, done)
    # N -> (checks run until the first pass, or so far; seconds from starting it to the first pass)
    grading: dict[int, tuple[int | None, float | None]] = field(default_factory=dict)
    last_action: str = ""
    last_time: float = 0.0
    left_on: list[str] = field(default_factory=list)  # faults and switches not at .env's values

    @property
    def done(self) -> int:
        return sum(1 for _, _, done in self.progress.values() if done)


def _health(lab: Lab) -> str:
    states = lab.states()
    if not states:
        return "not created"
    if all(states.get(s) == "healthy" for s in SERVICES):
        return "healthy"
    if not any(state in ("healthy", "starting") for state in states.values()):
        return "stopped"
    return ", ".join(f"{s} {states.get(s, 'missing')}" for s in SERVICES if states.get(s) != "healthy")


def _last_typed(lab: Lab, service: str) -> tuple[float, str]:
    """The last command typed in a container, and when (bash writes "#EPOCH" before it)."""
    try:
        tail = lab.run(service, "tail", "-n", "2", SHELL_HISTORY).splitlines()
    except LabError:
        return 0.0, ""
    if len(tail) == 2 and tail[0].startswith("#") and tail[0][1:].isdigit():
        return float(tail[0][1:]), printable(f"{service}$ {tail[1]}")  # as the learner typed it
    return 0.0, ""


def _switches_left(lab: Lab) -> list[str]:
    """The switches not at .env's value, and the admin's own settings, per provider."""
    words = []
    for service, live in switches.state(lab).items():
        letter = service.removeprefix("provider-").upper()
        words += [f"{letter}: {s.command} {live.values.get(s.name)}" for s in SWITCHES
                  if live.values.get(s.name) != lab.settings.provider[s.name]]
    for p in config.PROVIDERS:
        letter = p.service.removeprefix("provider-").upper()
        words += [_("{letter}: own {setting}").format(letter=letter, setting=printable(line))
                  for line in overrides.differences(lab.settings, p)]
    return words


def row(lab: Lab) -> Row:
    journal = Journal(lab.settings)
    health = _health(lab)
    found = Row(lab.settings.lab_id, lab.project, health)
    read_progress(found, journal)
    moments = [(e.time, " ".join([e.event, *(str(v) for v in e.detail.values())]))
               for e in journal.entries()]
    moments += [(p["time"], f"lab check {n}") for n, p in journal.progress().items()]
    found.left_on = [f"fault {name}" for name in faults.left_on(journal)]
    if health == "healthy":
        moments += [_last_typed(lab, service) for service in CUSTOMERS]
        found.left_on += _switches_left(lab)
    if moments:
        found.last_time, last = max(moments)
        found.last_action = printable(last)  # learner-written (a typed line, a trace's id)
    found.left_on = [word if isinstance(word, Text) else printable(word) for word in found.left_on]
    return found


def read_progress(found: Row, journal: Journal) -> None:
    """Each exercise's last check, and what grading needs, from the lab's records."""
    for number, p in journal.progress().items():
        found.progress[number] = (p["passed"], p["total"], p["done"])
        found.grading[number] = grading(p)


def status(parallel: int = 8) -> list[Row]:
    found = labs()
    if not found:
        raise LabError(_("no class on this machine: start one with `lab class up N`"))

    with ThreadPoolExecutor(parallel) as pool:
        return list(pool.map(row, found))


def grading(p: dict) -> tuple[int | None, float | None]:
    """From one exercise's progress record (Journal.progress): the checks run until the
    first pass (so far, if none passed yet), and the seconds from when the learner began
    it to that pass (None if it has not passed, or the record is older than these)."""
    attempts = p.get("attempts_to_pass", p.get("attempts"))
    began, passed = p.get("started"), p.get("first_pass")
    return attempts, (passed - began if began is not None and passed is not None else None)


def progress_cell(row: Row, number: int) -> str:
    """One exercise of one lab, as the table and the class page show it: done, 2/5, -."""
    passed, total, done = row.progress.get(number, (0, 0, False))
    return "done" if done else (f"{passed}/{total}" if total else "-")


# What `lab class status` says of a lab's health (Row.health stays these English words:
# the CSV, the class page's data), and of an exercise done
HEALTH = {"healthy": _("healthy"), "stopped": _("stopped"), "not created": _("not created")}


def _cell(text: str, columns: int, right: bool = False) -> str:
    """`text` (rendered) padded to `columns` terminal columns (a wide character takes two)."""
    text = i18n.render(text)
    room = " " * max(0, columns - markdown.width(text))
    return room + text if right else text + room


def table(rows: list[Row]) -> str:
    numbers = [e.number for e in exercises.all_exercises()]
    # Translators: the heads of `lab class status`'s columns: a few letters each (lab: 4, health: 10, done: 4)
    head = f"{_cell(_('lab'), 4, True)}  {_cell(_('health'), 10)} {_cell(_('done'), 4, True)}  " + \
        " ".join(f"{n:>4}" for n in numbers)
    lines = [f"{head}  {_('last action')}", "-" * (markdown.width(head) + 14)]
    for r in rows:
        when = time.strftime("%H:%M", time.localtime(r.last_time)) if r.last_time else "--:--"
        health = HEALTH.get(r.health, r.health) if len(r.health) <= 10 else _("DEGRADED")
        cells = " ".join(_cell(_("done") if progress_cell(r, n) == "done" else progress_cell(r, n), 4, True)
                         for n in numbers)
        lines.append(f"{r.lab_id:>4}  {_cell(health, 10)} {r.done:>4}  {cells}  {when} {r.last_action[:40]}")
        if len(r.health) > 10:
            lines.append(" " * 6 + str(_("not healthy: {services}").format(services=r.health)))
        if r.left_on:
            lines.append(" " * 6 + str(_("left on: {what}").format(what=i18n.join(r.left_on, _(", ")))))
    return "\n".join(lines)


def export(rows: list[Row]) -> str:
    numbers = [e.number for e in exercises.all_exercises()]
    out = io.StringIO()
    writer = csv.writer(out)
    # per exercise: its progress, the checks run until it first passed, and the minutes
    # from starting it to that pass (empty until it passes)
    columns = [f"ex{n:02d}{part}" for n in numbers for part in ("", "_attempts", "_minutes_to_pass")]
    writer.writerow(["lab_id", "project", "health", "exercises_done", *columns, "last_action", "last_time",
                     "left_on"])
    for r in rows:
        when = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r.last_time)) if r.last_time else ""
        cells = []
        for n in numbers:
            attempts, seconds = r.grading.get(n, (None, None))
            cells += [progress_cell(r, n), "" if attempts is None else str(attempts),
                      "" if seconds is None else f"{seconds / 60:.1f}"]
        writer.writerow([r.lab_id, r.project, r.health, r.done, *cells, r.last_action, when,
                         "; ".join(r.left_on)])
    return out.getvalue()
