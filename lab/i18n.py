"""The lab's words in the reader's language: gettext catalogs, standard library only.

Every sentence the lab shows a person is written in English in the code and marked, with
named placeholders so that a translator may reorder them:

    _("no message with Message-ID {message_id} yet").format(message_id=wanted)
    ngettext("{count} message saved", "{count} messages saved", n).format(count=n)

A mark does not translate at once. It makes a `Text`: a `str` whose own value is the
English sentence (what json, `==`, `in` and any code that knows nothing of languages
see), and which shows itself in a language when asked: `text.render("ja")`, or `str(text)`
and `f"{text}"` in the language of the enclosing `use(...)` (English outside any). So a
check's steps, written once when its module is imported, are shown to each reader in the
language that reader chose, and a Text given as a value to another is rendered in the
same language as the sentence around it.

The catalogs: lab/locale/<language>/LC_MESSAGES/maillab.po (the translations, English
msgid -> msgstr), compiled to maillab.mo beside it (committed, so that a clean clone and
an installed `lab` need nothing but Python). `make catalogs` extracts every marked
string (Babel, babel.cfg), updates each .po and compiles it. A language is offered
when its .mo exists: adding a third is adding a .po (README, "Languages").
"""

from __future__ import annotations

import contextlib
import gettext
import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

DOMAIN = "maillab"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
SOURCE = "en"  # the language of the code's own strings

_current: ContextVar[str | None] = ContextVar("maillab_language", default=None)


def languages() -> tuple[str, ...]:
    """Every language the lab speaks: English, and each one with a compiled catalog."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (SOURCE, *(language for language in found if language != SOURCE))


def supported(tag: str) -> str | None:
    """The language the lab speaks for a locale or language tag ("ja_JP.UTF-8", "ja-JP",
    "ja", "pt_BR"), or None."""
    tag = re.split(r"[.@]", tag.strip(), maxsplit=1)[0].replace("-", "_")
    spoken = languages()
    for candidate in (tag, tag.split("_")[0].lower()):
        if candidate in spoken:
            return candidate
    return None


def from_environment(environ: Mapping[str, str] | None = None) -> str:
    """The language the environment asks for, as GNU gettext reads it: the locale is
    the first of LC_ALL, LC_MESSAGES and LANG that is set; under the C (or POSIX) locale,
    or none, the messages stay English and LANGUAGE is ignored; otherwise LANGUAGE
    (a list such as "ja:en") comes first, then the locale's own language."""
    env = os.environ if environ is None else environ
    locale = next((env[name] for name in ("LC_ALL", "LC_MESSAGES", "LANG") if env.get(name)), "")
    if locale in ("", "C", "POSIX") or locale.startswith("C."):
        return SOURCE
    for tag in [*env.get("LANGUAGE", "").split(":"), locale]:
        if tag and (language := supported(tag)):
            return language
    return SOURCE


def choose(asked: str | None = None, *, ja: bool = False, en: bool = False,
           environ: Mapping[str, str] | None = None) -> str:
    """The language to speak: the one asked for by name (the web page's switch passes
    its page's language), else `--ja` / `--en`, else the environment's."""
    if asked and (language := supported(asked)):
        return language
    if ja or en:
        return "ja" if ja and "ja" in languages() else SOURCE
    return from_environment(environ)


def current() -> str:
    """The language of the enclosing `use(...)`; English outside any."""
    return _current.get() or SOURCE


@contextlib.contextmanager
def use(language: str) -> Iterator[str]:
    """Speak `language` inside the block: Texts shown with str() or in an f-string."""
    token = _current.set(language)
    try:
        yield language
    finally:
        _current.reset(token)


@cache
def catalog(language: str) -> gettext.NullTranslations:
    if language == SOURCE:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


class Text(str):
    """A marked sentence, rendered in a language when shown (see the module's text)."""

    msgid: str
    plural: str | None
    count: int
    values: dict[str, Any] | None

    def __new__(cls, msgid: str, plural: str | None = None, count: int = 1,
                values: dict[str, Any] | None = None) -> Text:
        english = _fill(msgid if plural is None or count == 1 else plural, values, SOURCE)
        self = super().__new__(cls, english)
        self.msgid, self.plural, self.count, self.values = msgid, plural, count, values
        return self

    def format(self, *args: Any, **values: Any) -> Text:  # type: ignore[override]
        """The same sentence with its placeholders filled: by name only."""
        if args:
            raise TypeError("a marked sentence takes named placeholders only: {name}")
        return Text(self.msgid, self.plural, self.count, {**(self.values or {}), **values})

    def render(self, language: str | None = None) -> str:
        language = language or current()
        if language == SOURCE:
            return str.__str__(self)
        try:
            return _fill(self._translated(language), self.values, language)
        except (KeyError, IndexError, ValueError):  # a broken translation: never a crash
            return str.__str__(self)

    def _translated(self, language: str) -> str:
        translations = catalog(language)
        if self.plural is None:
            return translations.gettext(self.msgid) if self.msgid else ""  # "": the catalog's header
        return translations.ngettext(self.msgid, self.plural, self.count)

    def __str__(self) -> str:
        return self.render()

    def __format__(self, spec: str) -> str:
        return format(self.render(), spec)

    def __repr__(self) -> str:
        return f"Text({str.__repr__(self)})"

    def __reduce__(self) -> tuple[Any, ...]:
        return Text, (self.msgid, self.plural, self.count, self.values)


def _fill(template: str, values: dict[str, Any] | None, language: str) -> str:
    if values is None:
        return template
    return template.format(**{name: render(value, language) if isinstance(value, Text) else value
                              for name, value in values.items()})


def render(value: object, language: str | None = None) -> str:
    """Any value as text in `language` (the current one by default): a Text translated,
    anything else as str() gives it."""
    return value.render(language) if isinstance(value, Text) else str(value)


def message(error: BaseException) -> str:
    """An exception's message as raised: a Text stays one, to be rendered where shown."""
    if len(error.args) == 1 and isinstance(error.args[0], Text):
        return error.args[0]
    return str(error)


def _(msgid: str) -> Text:
    """Mark a sentence for translation (Babel extracts every `_("...")`)."""
    return Text(msgid)


def ngettext(singular: str, plural: str, count: int) -> Text:
    """Mark a sentence with a count: English takes `singular` for 1, `plural` otherwise;
    each language has its own plural rule (Japanese: one form). Fill its placeholders
    with `.format(count=...)`."""
    return Text(singular, plural, count)


def join(parts: list[Any], separator: Text | str = ", ") -> Text:
    """Parts (Texts or plain values) joined into one Text, each rendered in the language
    the whole is shown in ("A、B" in Japanese with the separator `_(", ")`)."""
    template = "{_sep}".join(f"{{p{i}}}" for i in range(len(parts)))
    return _Joined(template, values={"_sep": separator, **{f"p{i}": part for i, part in enumerate(parts)}})


class _Joined(Text):
    """Parts joined: a template of placeholders only, never looked up in a catalog."""

    def _translated(self, language: str) -> str:
        return self.msgid

    def format(self, *args: Any, **values: Any) -> Text:  # type: ignore[override]
        raise TypeError("joined parts have no placeholders of their own")

    def __reduce__(self) -> tuple[Any, ...]:
        return _Joined, (self.msgid, self.plural, self.count, self.values)
