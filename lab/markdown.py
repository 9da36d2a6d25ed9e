"""Just enough Markdown for a terminal: the exercise texts, as `lab show` prints them.

Headings, lists, block quotes, fenced code and `inline code`; bold and colour only when
the output is a terminal (and NO_COLOR is unset), so piping to a file gives clean text.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata

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
    block: list[str] = []  # the words of the paragraph or list item being read
    lead = indent = ""  # the first line's prefix and the next lines' (list items)

    def flush() -> None:
        nonlocal lead, indent
        if block and any(width(part) != len(part) for part in block):
            # Japanese: keep the author's line breaks (textwrap counts characters, not
            # columns, and would put spaces between lines)
            out.extend((indent if i else lead) + inline(part) for i, part in enumerate(block))
            block.clear()
        elif block:
            out.extend(textwrap.wrap(inline(" ".join(block)), WIDTH, initial_indent=lead,
                                     subsequent_indent=indent, break_on_hyphens=False))
            block.clear()
        lead = indent = ""

    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            flush()
            in_code = not in_code
            continue
        if in_code or (line.startswith("    ") and line.strip() and not block):
            flush()
            out.append(style(line, CYAN) if color else line)  # code: verbatim
            continue
        if not line.strip():
            flush()
            if out and out[-1] != "":
                out.append("")
            continue
        if heading := re.match(r"(#+)\s+(.*)", line):
            flush()
            title = heading.group(2)
            out.append(style(title, BOLD, UNDERLINE) if len(heading.group(1)) == 1 else style(title, BOLD))
            if not color:
                out.append(("=" if len(heading.group(1)) == 1 else "-") * width(title))
            continue
        if item := re.match(r"(\s*)([-*]|\d+\.)\s+(.*)", line):
            flush()
            spaces, mark, rest = item.groups()
            lead = spaces + f"  {'•' if mark in '-*' else mark} "
            indent = " " * len(lead)
            block.append(rest)
            continue
        if line.startswith(">"):
            flush()
            out.append(style("  | " + inline(line.lstrip("> ")), DIM))
            continue
        if not block and (nested := re.match(r"( {1,3})\S", line)):
            lead = indent = "  " + nested.group(1)  # a list item's next paragraph, under its text
        block.append(line.strip())  # a paragraph, or a list item going on
    flush()
    return "\n".join(out).strip() + "\n"


def width(text: str) -> int:
    """Columns on a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
