"""The exercises: one folder each, `NN-name/`, holding the text (README.md, and the
Japanese edition README.ja.md) and the check (check.py, a list of STEPS). The folder
is the exercise: adding one needs no change anywhere else.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from lab.checker import Step
from lab.compose import LabError

HERE = Path(__file__).resolve().parent
LANGUAGES = {"en": "README.md", "ja": "README.ja.md"}


@dataclass(frozen=True)
class Exercise:
    number: int
    slug: str  # the folder's name without its number: "tour", "smtp-by-hand"
    path: Path

    def text(self, language: str = "en") -> str:
        return (self.path / LANGUAGES[language]).read_text()

    @property
    def title(self) -> str:
        first = self.text().splitlines()[0]
        return re.sub(r"^#\s*(\d+\.\s*)?", "", first).strip()

    @property
    def steps(self) -> list[Step]:
        spec = importlib.util.spec_from_file_location(f"lab.exercises.ex{self.number:02d}",
                                                      self.path / "check.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.STEPS


def all_exercises() -> list[Exercise]:
    found = []
    for path in sorted(HERE.iterdir()):
        if m := re.fullmatch(r"(\d\d)-([a-z0-9-]+)", path.name):
            found.append(Exercise(int(m.group(1)), m.group(2), path))
    return found


def get(number: int) -> Exercise:
    for exercise in all_exercises():
        if exercise.number == number:
            return exercise
    numbers = ", ".join(str(e.number) for e in all_exercises())
    raise LabError(f"there is no exercise {number}: the exercises are {numbers} (`lab list`)")
