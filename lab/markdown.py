"""Just enough Markdown for a terminal: the exercise texts, as `lab show` prints them.

Headings, lists, block quotes, fenced code and `inline code`; bold and colour only when
the output is a terminal (and NO_COLOR is unset), so piping to a file gives clean text.
"""

from __future__ import annotations

import re
import textwrap

BOLD, DIM, CYAN, UNDERLINE, RESET = "\033[1m", "\033[2m", "\033[36m", "\033[4m", "\033[0m"
WIDTH = 88


def render(text: str, color: bool) -> str:
    def style(s: str, *codes: str) -> str:
        return "".join(codes) + s + RESET if color else s

    def inline(s: str) -> str:
        s = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", s)  # links: text (target)
        s = re.sub(r"\*\*([^*]+)\*\*", lambda m: style(m.group(1), BOLD), s)
        return re.sub(r"`([^`]+)`", lambda m: style(m.group(1), CYAN) if color else f"`{m.group(1)}`", s)

    out: list[str] = []
    in_code = False
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            out.extend(textwrap.wrap(inline(" ".join(paragraph)), WIDTH, break_on_hyphens=False))
            paragraph.clear()

    for line in text.splitlines():
        if line.startswith("```"):
            flush()
            in_code = not in_code
            continue
        if in_code:
            out.append("    " + (style(line, CYAN) if color else line))
            continue
        if not line.strip():
            flush()
            if out and out[-1] != "":
                out.append("")
            continue
        if heading := re.match(r"(#+)\s+(.*)", line):
            flush()
            level, title = len(heading.group(1)), heading.group(2)
            out.append(style(title, BOLD, UNDERLINE) if level == 1 else style(title, BOLD))
            if level == 1 and not color:
                out.append("=" * min(len(title) * 2, WIDTH))
            continue
        if item := re.match(r"(\s*)([-*]|\d+\.)\s+(.*)", line):
            flush()
            indent, mark, rest = item.groups()
            mark = "•" if mark in "-*" else mark
            lead = " " * len(indent) + f"  {mark} "
            out.extend(textwrap.wrap(inline(rest), WIDTH, initial_indent=lead,
                                     subsequent_indent=" " * len(lead), break_on_hyphens=False))
            continue
        if line.startswith(">"):
            flush()
            out.append(style("  │ " + inline(line.lstrip("> ")), DIM))
            continue
        if line.startswith("    ") and not paragraph:
            out.append(line)
            continue
        if out and re.match(r"\s+\S", line) and not paragraph and out[-1].startswith("  "):
            out[-1] += " " + inline(line.strip())  # a list item continued on the next line
            continue
        paragraph.append(line.strip())
    flush()
    return "\n".join(out).strip() + "\n"
