"""`lab trace`'s pictures of a message's path (lab/trace.py): a sequence picture for the
terminal, lanes X | A | DNS | B | Y, and a Mermaid file of the same for a report. Both
in the language asked for: the story's step names, the labels and the outcome are marked
sentences (lab/i18n.py); what the logs said stays in them verbatim.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from lab import i18n
from lab.config import STATE_DIR
from lab.i18n import _
from lab.trace import STORY, Trace

LANE = 10  # characters per lane in the terminal picture


def picture(trace: Trace, language: str | None = None) -> str:
    """The trace drawn for a terminal, its words in `language` (the current one)."""
    language = language or i18n.current()

    def say(text: str) -> str:
        return i18n.render(text, language)

    names = [name for name, _what in trace.lanes]
    width = LANE * len(names)
    header = "".join(name.center(LANE) for name in names)
    lines = [say(_("Trace of {message_id}").format(message_id=trace.message_id)), "",
             header + "   " + say(_("time (+s since submission)"))]
    for number, event in enumerate(trace.events, 1):
        row = [" "] * width
        for i in range(len(names)):
            row[i * LANE + LANE // 2] = "|"
        src, dst = names.index(event.source), names.index(event.target)
        s, d = src * LANE + LANE // 2, dst * LANE + LANE // 2
        if s == d:
            row[s] = "*" if event.ok else "x"
        else:
            lo, hi = sorted((s, d))
            for i in range(lo + 1, hi):
                row[i] = "-"
            row[d - 1 if d > s else d + 1] = (">" if d > s else "<") if event.ok else "x"
        clock = time.strftime("%H:%M:%S", time.localtime(event.time)) + f".{int(event.time % 1 * 1000):03d}"
        lines.append("".join(row) + f"   {number:>2}. {clock} +{event.time - trace.start:.3f}")
        lines.append(" " * width + f"       ({event.story}) {say(STORY[event.story])}: {say(event.label)}")
    lines += ["", say(_("Now: {outcome}").format(outcome=trace.outcome))]
    return "\n".join(lines)


def mermaid(trace: Trace, language: str | None = None) -> str:
    """The trace as a Mermaid sequence diagram, its words in `language` (the current one)."""
    language = language or i18n.current()

    def clean(text: str) -> str:
        return re.sub(r"[<>#;]", "", i18n.render(text, language))

    out = ["sequenceDiagram", f"    title {clean(trace.message_id)}"]
    for name, what in trace.lanes:
        out.append(f"    participant {name} as {name} ({clean(what)})")
    for number, e in enumerate(trace.events, 1):
        text = clean(f"{number}. {i18n.render(STORY[e.story], language)}: {i18n.render(e.label, language)}")
        if e.source == e.target:
            out.append(f"    Note over {e.source}: {text}")
        else:
            out.append(f"    {e.source}{'->>' if e.ok else '-x'}{e.target}: {text}")
    now = clean(_("now {outcome}").format(outcome=trace.outcome))
    out.append(f"    Note over {trace.lanes[0][0]},{trace.lanes[-1][0]}: {now}")
    return "\n".join(out) + "\n"


def save(trace: Trace, project: str, language: str | None = None) -> Path:
    folder = STATE_DIR / project / "traces"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (re.sub(r"[^A-Za-z0-9.@_-]", "", trace.message_id) + ".mmd")
    path.write_text(mermaid(trace, language), encoding="utf-8")
    return path
