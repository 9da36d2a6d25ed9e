"""Just enough Markdown for a terminal: the exercise texts and the teacher's packs, as
`lab show` prints them.

Headings, lists, block quotes, fenced code, tables (columns aligned, long cells wrapped),
rules and `inline code`; a line of HTML alone (a worksheet's page break for printing)
is left out. Bold and colour only when the output is a terminal (and NO_COLOR is
unset), so piping to a file gives clean text.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Callable

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
            # columns, and would put spaces between lines), and wrap a line too long for
            # the terminal by columns (a worksheet's Question is one line: a break inside
            # Japanese prints as a space in a browser)
            pieces = [piece for part in block for piece in wrap(part, WIDTH - len(indent))]
            out.extend((indent if i else lead) + inline(piece) for i, piece in enumerate(pieces))
            block.clear()
        elif block:
            out.extend(textwrap.wrap(inline(" ".join(block)), WIDTH, initial_indent=lead,
                                     subsequent_indent=indent, break_on_hyphens=False))
            block.clear()
        lead = indent = ""

    lines = text.splitlines()
    at = 0
    while at < len(lines):
        line = lines[at]
        at += 1
        if not in_code and line.startswith("|"):
            flush()
            rows = [line]
            while at < len(lines) and lines[at].startswith("|"):
                rows.append(lines[at])
                at += 1
            out.extend(table(rows, lambda s: style(s, BOLD)))
            continue
        if not in_code and re.fullmatch(r"(\s*<[^>]*>)+\s*", line):
            continue  # HTML for a printed page (a page break): nothing on a terminal
        if not in_code and re.fullmatch(r"(-{3,}|_{3,}|\*{3,})\s*", line):
            flush()
            out.append("─" * WIDTH)
            continue
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
    return "\n".join(out).strip("\n") + "\n"


def width(text: str) -> int:
    """Columns on a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(rows: list[str], bold: Callable[[str], str]) -> list[str]:
    """A Markdown table as aligned columns within WIDTH, each cell wrapped in its column;
    the header row in bold, a rule under it, a blank line between rows that wrap."""
    cells = [[_plain(c) for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]
             for row in rows if not re.fullmatch(r"\|?[\s:|-]+\|?", row.strip())]
    count = max(len(r) for r in cells)
    cells = [r + [""] * (count - len(r)) for r in cells]
    widths = [max(width(r[i]) for r in cells) for i in range(count)]
    room = WIDTH - 2 - 3 * (count - 1)
    # A column left empty to write in (a worksheet's) gets two fifths of the line at least,
    # and whatever room is left.
    blank = [i for i in range(count) if len(cells) > 1 and not any(r[i] for r in cells[1:])]
    for i in blank:
        widths[i] = max(widths[i], room * 2 // 5 // len(blank))
    filled = [i for i in range(count) if i not in blank] or list(range(count))
    while sum(widths) > room:  # narrow the widest filled column step by step, then any
        narrowable = [i for i in filled if widths[i] > 12] or [i for i in range(count) if widths[i] > 12]
        if not narrowable:
            break
        widths[max(narrowable, key=lambda i: widths[i])] -= 1
    for i in blank:
        widths[i] += max(0, room - sum(widths)) // len(blank)
    out: list[str] = []
    for n, r in enumerate(cells):
        wrapped = [wrap(c, w) or [""] for c, w in zip(r, widths)]
        height = max(len(w) for w in wrapped)
        if n > 1 and height > 1 and out[-1] != "":
            out.append("")
        for line in range(height):
            parts = [(w[line] if line < len(w) else "") for w in wrapped]
            text = "  " + " │ ".join(p + " " * (widths[i] - width(p)) for i, p in enumerate(parts))
            out.append(bold(text.rstrip()) if n == 0 else text.rstrip())
        if n == 0:
            out.append("  " + "─┼─".join("─" * w for w in widths))
        elif height > 1 and n < len(cells) - 1:
            out.append("")
    return out


def _plain(cell: str) -> str:
    """A table cell as plain text: links as text (target), no bold marks, `code` kept."""
    cell = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"\1 (\2)", cell.strip().replace("\\|", "|"))
    return re.sub(r"&nbsp;|<br>", " ", re.sub(r"\*\*([^*]+)\*\*", r"\1", cell)).strip()


NO_LINE_START = "、。，．・：；？！」』）〕］｝〉》ーぁぃぅぇぉっゃゅょァィゥェォッャュョ),.:;]"  # noqa: RUF001


def wrap(text: str, columns: int) -> list[str]:
    """Wrap text to `columns` terminal columns: at spaces, or between any two Japanese
    characters (never before 、。」 and the like)."""
    tokens = re.findall(r"`[^`]*`|\s+|[^\s`\u2e80-\uffef]+|[\u2e80-\uffef]|`", text)  # `code` whole
    lines: list[str] = []
    line = ""
    for token in tokens:
        if token.isspace():
            if line:
                line += " "
            continue
        while width(token) > columns:  # a word longer than the column: cut it
            cut = len(token)
            while width(line + token[:cut]) > columns and cut > 1:
                cut -= 1
            if line and width(line + token[:cut]) > columns:
                lines.append(line.rstrip())
                line = ""
                continue
            lines.append(line + token[:cut])
            line, token = "", token[cut:]
        if line and width(line + token) > columns:
            carried = ""
            if token in NO_LINE_START and len(line) > 1 and width(line[-1]) == 2:
                line, carried = line[:-1], line[-1]  # 、 never starts a line: take a character with it
            lines.append(line.rstrip())
            line = carried
        line += token
    if line.strip():
        lines.append(line.rstrip())
    return lines
