"""The teacher's packs, without a lab: every exercise has one in English and in Japanese
(lab/exercises/NN-*/TEACHER.md, TEACHER.ja.md), with a model answer for each Question
of the exercise's text in the same language, a rubric line for each, the common
stumbles and a worksheet that asks every Question; `lab show --teacher N` renders each
(and --ja, --en, LANG=ja_*), `--worksheet` the worksheet alone. The terminal renderer
lays out the packs' tables as columns."""

from __future__ import annotations

import ipaddress
import re

import pytest

from lab import cli, config, exercises
from lab.markdown import render, width

EXERCISES = exercises.all_exercises()
IDS = [f"{e.number:02d}-{e.slug}" for e in EXERCISES]
STUMBLES = {"en": "## Common stumbles", "ja": "## よくあるつまずき"}
RUBRIC = {"en": "## Rubric", "ja": "## 採点基準"}


def test_a_table_is_drawn_in_columns_that_fit_the_terminal():
    japanese = "問 2 の答えは日本語で、長い文を折り返しても、句読点で行を始めない。" * 2
    text = render("| Question | full (2) | none (0) |\n| --- | :-- | --- |\n"
                  "| Q1 | " + "names the MX record and what A does without one " * 3 + "| `dig` |\n"
                  f"| Q2 | {japanese} | - |\n", color=False)
    lines = text.splitlines()
    assert all(width(line) <= 88 for line in lines), text
    assert lines[0].split("│")[0].strip() == "Question" and "─┼─" in lines[1], text
    assert len({width(line[:line.index("│")]) for line in lines if "│" in line}) == 1, text  # aligned
    cells = [line.split("│")[1].strip() for line in lines if "│" in line]
    assert cells and not any(cell.startswith(("、", "。")) for cell in cells), text
    assert "`dig`" in text and "|" not in text


def test_html_alone_on_a_line_is_left_out_and_a_rule_is_drawn():
    text = render('Before\n\n<div style="page-break-before: always"></div>\n\n---\n\nAfter\n', color=False)
    assert "<div" not in text and "─" * 88 in text and text.startswith("Before")


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
@pytest.mark.parametrize("language", sorted(exercises.PACKS))
def test_each_pack_answers_every_question_of_its_exercise(exercise, language):
    pack = exercise.pack(language)
    questions = exercise.questions(language)
    # Both editions ask the same Questions; where one asks more (exercise 1's Japanese
    # text lacks its English fourth), each pack answers them all, in the same order.
    asked = max(len(exercise.questions(other)) for other in exercises.LANGUAGES)
    answers = exercise.model_answers(language)
    assert questions, (exercise.path, language, "no Questions found in the exercise's text")
    assert len(answers) == asked, (
        f"exercise {exercise.number} ({language}) has {len(questions)} Questions in "
        f"{exercises.LANGUAGES[language]} ({asked} in the longer edition) and {len(answers)} model "
        f"answers in {exercises.PACKS[language]}: write one `### ` answer per Question, in order")
    assert len(answers) == len(exercise.model_answers("en")), (exercise.path, "both packs answer alike")
    for n, heading in enumerate(answers, start=1):
        assert re.match(rf"(Q|問\s?){n}\b", heading), (exercise.path, language, heading)
    assert pack.startswith("# "), (exercise.path, language)
    assert STUMBLES[language] in pack and RUBRIC[language] in pack, (exercise.path, language)
    rubric = exercises.section(pack, RUBRIC[language].removeprefix("## "))
    for n in range(1, len(answers) + 1):  # one row per Question
        assert re.search(rf"^\| *(Q|問 ?){n} *\|", rubric, re.M), (exercise.path, language, f"rubric row {n}")
    on_the_sheet = re.findall(r"^\d+\. ", exercise.worksheet(language), re.M)
    assert len(on_the_sheet) >= len(answers), (exercise.path, language, "the worksheet asks every Question")


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_lab_show_teacher_renders_each_pack(exercise, capsys, monkeypatch):
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    n = str(exercise.number)
    english, japanese = exercise.pack("en"), exercise.pack("ja")
    for argv, pack in ((["show", "--teacher", n], english), (["show", "--teacher", n, "--ja"], japanese)):
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[0] == pack.splitlines()[0].removeprefix("# "), argv
        assert "\033[" not in out and "<div" not in out, argv  # piped: plain text, no HTML
        assert "\n| " not in out, argv  # tables drawn in columns
        assert all(width(line) <= 88 for line in out.splitlines()), argv  # fits a terminal
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")  # the locale picks Japanese, --en overrides it
    assert cli.main(["show", "--teacher", n]) == 0
    assert capsys.readouterr().out.splitlines()[0] == japanese.splitlines()[0].removeprefix("# ")
    assert cli.main(["show", "--teacher", n, "--en"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == english.splitlines()[0].removeprefix("# ")
    assert cli.main(["show", "--worksheet", n, "--en"]) == 0
    sheet = capsys.readouterr().out
    assert sheet.startswith("Worksheet") and "Model answers" not in sheet, sheet[:200]


def test_a_copy_without_the_packs_says_so(tmp_path, capsys, monkeypatch):
    (tmp_path / "01-tour").mkdir()
    for name in ("README.md", "README.ja.md"):
        (tmp_path / "01-tour" / name).write_text((EXERCISES[0].path / name).read_text())
    monkeypatch.setattr(exercises, "HERE", tmp_path)
    assert cli.main(["show", "--teacher", "1"]) == 1
    assert "exercise 1 has no teacher's pack in this copy" in capsys.readouterr().err


def test_no_pack_names_an_address_of_lab_0():
    """As the texts (test_14): a class's labs each have subnets of their own, so a pack
    names the command that finds an address, never lab 0's address."""
    networks = list(config.load(lab_id=0, environ={}).subnets.values())
    found = []
    for exercise in EXERCISES:
        for language in exercises.PACKS:
            for quad in re.findall(r"\b\d+[.-]\d+[.-]\d+[.-]\d+\b", exercise.pack(language)):
                try:
                    address = ipaddress.IPv4Address(quad.replace("-", "."))
                except ValueError:
                    continue
                found += [f"{exercise.path.name} ({language}): {quad}" for n in networks if address in n]
    assert found == []
