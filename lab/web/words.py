"""The web view's words: the pages' templates and the page's script (which draws what
changes) both take them from here, by key (`w["nav.lab"]`, `W["state.healthy"]`). Each is
a marked sentence of the one catalog (lab/i18n.py, lab/locale/), and `table(language)`
gives them all in the page's language. The language switch is the one word of its own:
it names the language it switches to, in that language."""

from __future__ import annotations

from lab import i18n
from lab.i18n import Text, _

LANGUAGES = i18n.languages()
# What the switch at the top of a page says: the other language's own name
NAMES = {"en": "English", "ja": "日本語"}

WORDS: dict[str, Text] = {
    "title": _("maillab: the lab, live"),
    "nav.lab": _("The lab"),
    "nav.exercises": _("Exercises"),
    "picture": _("The lab now"),
    "mail": _("Mail moving"),
    "mail.none": _("No message since the last reset. Send one from client-x (exercise 2)."),
    "refused": _("Stopped at the door"),
    "refused.none": _("Nobody has been refused since the last reset."),
    "queues": _("Queues"),
    "queue.empty": _("empty"),
    "queue.next": _("next try"),
    "mailboxes": _("Mailboxes"),
    # Translators: "12 KiB of 10240 KiB", a mailbox's size and its quota
    "mailbox.of": _("of"),
    # Translators: after a count: "3 messages"
    "messages": _("messages"),
    "step.1": _("submitted"),
    "step.2": _("queued"),
    "step.3": _("MX looked up"),
    "step.4": _("handed over"),
    "step.5": _("in the mailbox"),
    "step.6": _("retrieved"),
    "where.mailbox": _("in the mailbox"),
    "where.retrieved": _("fetched by its reader"),
    "where.waiting": _("waiting at {where}"),
    "where.at": _("at {where}"),
    "where.back": _("back at {where}"),
    "state.healthy": _("running"),
    "state.starting": _("starting"),
    "state.stopped": _("stopped"),
    "state.paused": _("hung (paused)"),
    "state.cut off": _("cut off"),
    "state.hung up": _("hung up"),
    "faults": _("Faults now"),
    "faults.none": _("no fault"),
    "fault.named": _("fault: {name}"),
    "switches": _("Switches"),
    "trace": _("Trace"),
    "headers": _("Headers, read from the bottom up"),
    "headers.none": _("No stored copy to read: the message is not (or no longer) in a mailbox."),
    "now": _("Now"),
    "exercises": _("Exercises"),
    "exercise.check": _("Check my work"),
    "exercise.checking": _("Checking…"),
    "exercise.done": _("done"),
    "exercise.steps": _("steps done"),
    "hint": _("hint"),
    "live.lost": _("The page lost the lab: is `make web` still running?"),
    "back": _("back to the lab"),
    "class": _("The class"),
    "class.none": _("No class on this server: start one with `lab class up N`."),
    "class.lab": _("lab"),
    "class.health": _("health"),
    "class.done": _("done"),
    "class.last": _("last action"),
    "class.left": _("left on"),
    "health.healthy": _("healthy"),
    "health.stopped": _("stopped"),
    "health.not created": _("not created"),
    "term.open": _("Terminals"),
    "term.close": _("close this terminal"),
    "term.keys": _("Ctrl+Shift+C copies, Ctrl+Shift+V pastes; `lab` runs the lab's commands"),
    "term.idle": _("closed: nobody typed here for a while. Open it again with its button."),
    "term.revoked": _("closed: this link no longer opens the lab. Ask your teacher for the new one."),
    "term.ended": _("the terminal ended"),
    "class.learners": _("Learners"),
    "class.open": _("open"),
    "class.links": _("Each learner's link: lab class links -o links.csv"),
    "class.forbidden": _("This link does not open that page."),
}


def switch_to(language: str) -> str:
    """The language a page's switch offers: English, or from English the first other."""
    others = [other for other in LANGUAGES if other != i18n.SOURCE]
    return others[0] if language == i18n.SOURCE and others else i18n.SOURCE


def table(language: str) -> dict[str, str]:
    """Every word of the pages in `language`, and the switch to the other language."""
    found = {key: text.render(language) for key, text in WORDS.items()}
    other = switch_to(language)
    found["language"], found["language.to"] = NAMES.get(other, other), other
    return found


def choose(asked: str | None, cookie: str | None, accept_language: str) -> str:
    """?lang= first, then the reader's earlier choice, then the browser's language."""
    for choice in (asked, cookie):
        if choice in LANGUAGES:
            return choice  # type: ignore[return-value]
    ranked = []
    for part in accept_language.split(","):
        tag, _sep, q = part.strip().partition(";q=")
        try:
            ranked.append((float(q or 1), tag.split("-")[0].lower()))
        except ValueError:
            continue
    for _q, tag in sorted(ranked, key=lambda r: -r[0]):
        if tag in LANGUAGES:
            return tag
    return "en"
