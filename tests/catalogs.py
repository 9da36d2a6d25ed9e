"""What the language tests read: the marked strings of lab/ as Babel extracts them (with
babel.cfg, as `make catalogs` does), and each language's catalog as its .po says."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from lab import i18n

REPO = Path(__file__).resolve().parent.parent
PO = {language: i18n.LOCALE_DIR / language / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
      for language in i18n.languages() if language != i18n.SOURCE}


@dataclass(frozen=True)
class Marked:
    msgid: str
    plural: str | None
    where: str  # file:line of one place it is marked


@cache
def extracted() -> dict[str, Marked]:
    """msgid -> where it is marked, over every file babel.cfg names."""
    with open(REPO / "babel.cfg") as config:
        method_map, options_map = parse_mapping_cfg(config)
    found: dict[str, Marked] = {}
    for filename, line, message, _comments, _context in extract_from_dir(
            REPO, method_map, options_map, keywords=DEFAULT_KEYWORDS):
        singular, plural = (message[0], message[1]) if isinstance(message, tuple) else (message, None)
        found.setdefault(singular, Marked(singular, plural, f"{filename}:{line}"))
    return found


@dataclass(frozen=True)
class Entry:
    msgid: str
    plural: str | None
    msgstr: tuple[str, ...]  # one per plural form (one for a sentence without a count)
    fuzzy: bool


@cache
def catalog(language: str) -> dict[str, Entry]:
    with open(PO[language], "rb") as f:
        po = read_po(f)
    entries = {}
    for message in po:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            entry = Entry(message.id[0], message.id[1], tuple(message.string), message.fuzzy)
        else:
            entry = Entry(message.id, None, (message.string,), message.fuzzy)
        entries[entry.msgid] = entry
    return entries


@cache
def obsolete(language: str) -> tuple[str, ...]:
    with open(PO[language], "rb") as f:
        return tuple(str(msgid) for msgid in read_po(f).obsolete)


def placeholders(text: str) -> list[tuple[str, str, str]]:
    """The {name!conversion:spec} fields of a brace-format string, sorted."""
    return sorted((name, conversion or "", spec or "")
                  for _, name, spec, conversion in string.Formatter().parse(text) if name is not None)


# What a translation must keep as it is: `code`, and every word that is a command, an
# address, a setting, a reply code or a protocol's keyword rather than English.
_CODE_SPAN = re.compile(r"`[^`]*`")
_TOKEN_CODE = re.compile(r"[@=/<>_$\[\]\\]|--|\d\.\d|[a-z0-9-]{2,}\.[a-z]{2,}|^[A-Z][A-Z0-9-]{2,}$")


@cache
def lab_command() -> re.Pattern[str]:
    """`lab check`, `lab op25b`: a lab command named in a sentence."""
    from lab.cli import REGISTRY  # every `lab` sub-command, once lab/cli.py has imported them all

    return re.compile(rf"\blab (?:{'|'.join(sorted(map(re.escape, REGISTRY), key=len, reverse=True))})\b")


def verbatim(text: str) -> list[str]:
    """The pieces of an English sentence that any translation must hold unchanged."""
    pieces = _CODE_SPAN.findall(text)  # with their placeholders: those are kept too
    prose = re.sub(r"\{[^{}]*\}", " ", _CODE_SPAN.sub(" ", text))
    pieces += lab_command().findall(prose)
    for token in prose.split():
        token = token.strip(",;:()\"'").removesuffix("...")
        if token.endswith(".") and not token.endswith(".."):
            token = token[:-1]
        if len(token) > 1 and _TOKEN_CODE.search(token):
            pieces.append(token)
    return pieces
