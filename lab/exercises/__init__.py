"""The exercises: one folder each, `NN-name/`, holding the text (README.md, and the
Japanese edition README.ja.md), the check (check.py, a list of STEPS) and the teacher's
pack (TEACHER.md, TEACHER.ja.md: model answers to the Questions, common stumbles, a
rubric, a printable worksheet; `lab show --teacher N`). The folder is the exercise:
adding one needs no change anywhere else.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

from lab import i18n
from lab.checker import Step
from lab.compose import LabError
from lab.i18n import _

HERE = Path(__file__).resolve().parent
LANGUAGES = {"en": "README.md", "ja": "README.ja.md"}
PACKS = {"en": "TEACHER.md", "ja": "TEACHER.ja.md"}
# The sections the teacher's tools read, by language: the exercise's Questions, the
# pack's model answers (one `### ` heading per Question, in order) and its worksheet.
QUESTIONS = {"en": "Questions", "ja": "考えてみよう"}
ANSWERS = {"en": "Model answers", "ja": "模範解答"}
WORKSHEET = {"en": "Worksheet", "ja": "ワークシート"}


def edition(language: str) -> str:
    """The edition of the texts to show a reader of `language` (English where the
    exercises have no text in it: a catalog can come before the texts)."""
    return language if language in LANGUAGES else "en"


def section(text: str, title: str) -> str:
    """The body of the `## title` section of a Markdown text, up to the next `## ` ("" if none)."""
    found = re.search(rf"^## {re.escape(title)}[ \t]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return found.group(1) if found else ""


@dataclass(frozen=True)
class Exercise:
    number: int
    slug: str  # the folder's name without its number: "tour", "smtp-by-hand"
    path: Path

    def text(self, language: str = "en") -> str:
        return (self.path / LANGUAGES[language]).read_text()

    def pack(self, language: str = "en") -> str:
        """The teacher's pack in this language (a learner's copy may have none)."""
        path = self.path / PACKS[language]
        if not path.exists():
            raise LabError(_("exercise {number} has no teacher's pack in this copy ({path})").format(
                number=self.number, path=path.relative_to(HERE.parent.parent)))
        return path.read_text()

    def questions(self, language: str = "en") -> list[str]:
        """The Questions of the exercise's text: one per top-level list item."""
        items = re.split(r"^- ", section(self.text(language), QUESTIONS[language]), flags=re.M)[1:]
        return [" ".join(item.split()) for item in items]

    def model_answers(self, language: str = "en") -> list[str]:
        """The headings of the pack's model answers, one per Question."""
        return re.findall(r"^### (.+)$", section(self.pack(language), ANSWERS[language]), re.M)

    def worksheet(self, language: str = "en") -> str:
        """The pack's printable worksheet: its last section, from its heading on."""
        text = self.pack(language)
        found = re.search(rf"^## {re.escape(WORKSHEET[language])}\b.*", text, re.M | re.S)
        if not found:
            raise LabError(_("exercise {number}'s teacher's pack has no worksheet ({file})").format(
                number=self.number, file=PACKS[language]))
        return found.group(0)

    @property
    def title(self) -> str:
        return self.title_in("en")

    def title_in(self, language: str) -> str:
        """The title of the edition a reader of `language` gets (its first heading)."""
        first = self.text(edition(language)).splitlines()[0]
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
    numbers = i18n.join([e.number for e in all_exercises()], _(", "))
    raise LabError(_("there is no exercise {number}: the exercises are {numbers} (`lab list`)").format(
        number=number, numbers=numbers))
