"""What the `lab` command did to one lab, kept on the host: .lab/<project>/journal.jsonl.

The containers' logs tell what the mail servers did; the journal tells what the learner
asked `lab` to do (reset, dial, hang up, faults, switches, relay checks) and when, and
when. A reset starts a new journal: checks look only at what happened after the last
reset. The result of each exercise's last check (for `lab list`) is kept apart, in
progress.json, and survives resets, with what a teacher grades by (`lab class export`):
how many checks were run until the first pass, and how long the learner took to get
there.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from lab.config import STATE_DIR, Settings


@dataclass(frozen=True)
class Entry:
    time: float
    event: str  # reset, dial, hangup, fault, restore, open-relay, relay-check
    detail: dict

    def get(self, key: str, default=None):
        return self.detail.get(key, default)


class Journal:
    def __init__(self, settings: Settings) -> None:
        self.dir: Path = STATE_DIR / settings.project
        self.path = self.dir / "journal.jsonl"
        self.progress_path = self.dir / "progress.json"

    def record(self, event: str, **detail) -> Entry:
        entry = Entry(time.time(), event, detail)
        self.dir.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps({"time": entry.time, "event": event, **detail}) + "\n")
        return entry

    def start_over(self) -> Entry:
        """A reset: forget everything before now (the old journal is kept beside it)."""
        if self.path.exists():
            self.path.replace(self.path.with_suffix(".jsonl.old"))
        return self.record("reset")

    def entries(self, event: str | None = None) -> list[Entry]:
        if not self.path.exists():
            return []
        found = []
        for line in self.path.read_text().splitlines():
            data = json.loads(line)
            entry = Entry(data.pop("time"), data.pop("event"), data)
            if event is None or entry.event == event:
                found.append(entry)
        return found

    @property
    def since(self) -> float | None:
        """When the last reset happened (None: never, so everything counts)."""
        resets = self.entries("reset")
        return resets[-1].time if resets else None

    # --- progress -------------------------------------------------------------------

    def progress(self) -> dict[int, dict]:
        """exercise number -> {"passed": n, "total": m, "time": t (the last check), "done":
        ever completed, "started": when work on it began, "attempts": checks run,
        "first_pass": when a check first passed, "attempts_to_pass": checks run until then}.
        The last four are missing in records written before they were kept."""
        if not self.progress_path.exists():
            return {}
        return {int(k): v for k, v in json.loads(self.progress_path.read_text()).items()}

    def save_progress(self, exercise: int, passed: int, total: int) -> None:
        progress = self.progress()
        now = time.time()
        before = progress.get(exercise)
        entry = {"passed": passed, "total": total, "time": now,
                 "done": bool(before and before["done"]) or passed == total}
        if before is None:  # the first check of this exercise
            entry.update(started=self._work_began(progress, now), attempts=1)
        elif "attempts" in before:
            entry.update({k: before[k] for k in ("started", "first_pass", "attempts_to_pass") if k in before},
                         attempts=before["attempts"] + 1)
        if "attempts" in entry and "first_pass" not in entry and passed == total:
            entry.update(first_pass=now, attempts_to_pass=entry["attempts"])
        progress[exercise] = entry
        self.dir.mkdir(parents=True, exist_ok=True)
        self.progress_path.write_text(json.dumps(progress, indent=1, sort_keys=True) + "\n")

    def _work_began(self, progress: dict[int, dict], now: float) -> float:
        """When the learner began the exercise being checked for the first time: at the
        last reset (every exercise starts with one), or at the last check of another
        exercise if that came later (3 follows 2 without a reset); else at this check."""
        marks = [self.since, *(p["time"] for p in progress.values())]
        return max((t for t in marks if t is not None and t <= now), default=now)
