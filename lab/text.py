"""Text that someone else wrote, made safe to print on a terminal or a page.

A mail's Message-ID, a sender's address, a log line a provider's root wrote to its own
output, a command a learner typed: any may hold escape sequences that a terminal obeys
(set the clipboard, retitle the window, clear the screen). Every such text the lab
shows passes through `printable` first. Standard library only.
"""

from __future__ import annotations

# C0 controls but tab and newline, DEL, and C1 controls: shown, never obeyed, in the
# caret notation of `cat -v` (ESC is ^[, BEL ^G) and as \x9b for C1.
_VISIBLE = {c: f"^{chr(c + 64)}" for c in range(32) if chr(c) not in "\t\n"}
_VISIBLE[0x7F] = "^?"
_VISIBLE.update({c: f"\\x{c:02x}" for c in range(0x80, 0xA0)})


def printable(text: str) -> str:
    """`text` with every control character but tab and newline made visible."""
    return text.translate(_VISIBLE)
