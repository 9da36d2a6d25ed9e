"""The terminal renderer lays out the teacher's packs' tables as columns, and leaves
out the HTML meant for printing."""

from __future__ import annotations

from lab.markdown import render, width


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
