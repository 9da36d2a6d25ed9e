"""One glossary for every Japanese word the lab uses: the table of exercise 1's 用語 and
of TEACHERS.md (and TEACHERS.ja.md) is the catalogs' reference. Each glossary term's
English word, wherever a marked sentence uses it (relay, deferred, hand-over, delivery,
greylisting ...), must be translated by the glossary's Japanese term, and the spellings
TEACHERS.ja.md fixes (サーバ, not サーバー) hold; the Japanese entries are in the
exercises' polite style (です・ます)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import pytest

from tests.catalogs import REPO, Entry, catalog, lab_command

GLOSSARIES = ["lab/exercises/01-tour/README.ja.md", "lab/TEACHERS.ja.md", "lab/TEACHERS.md"]
HEADER = re.compile(r"^\| 用語 \| 英語 \| 意味 \|\n\| --- \| --- \| --- \|\n((?:\|.*\|\n)+)", re.M)
# English words that look like a term's but are another word; each with why.
NOT_THE_TERM = {
    "holds": "to hold, to contain (a mailbox holds mail), not Postfix's hold queue",
    "holding": "the same",
    "may hold": "the same: what a queue may hold before new mail waits (MAX_QUEUE_SIZE)",
}


@dataclass(frozen=True)
class Term:
    english: tuple[str, ...]  # the spellings of the term in English: "forgery", "spoofing"
    japanese: tuple[str, ...]  # what a translation may say: the term, its bold alternatives


def _words(cell: str) -> list[str]:
    """'容量制限 (クォータ)' -> ['容量制限', 'クォータ']; 'spoofing, forgery' -> both."""
    return [w.strip() for w in re.split(r"[,()、]", cell) if w.strip()]


def parse(table: str) -> list[Term]:
    terms = []
    for row in table.splitlines():
        japanese, english, meaning = (c.strip() for c in row.strip("|").split("|"))
        pairs_ja, pairs_en = japanese.split(" / "), english.split(" / ")
        assert len(pairs_ja) == len(pairs_en), row
        if len(pairs_en) == 2 and " " not in pairs_en[0] and " " in pairs_en[1]:
            # "forward / reverse lookup": the noun after the slash is shared
            pairs_en[0] += " " + pairs_en[1].split(" ", 1)[1]
        bold = re.findall(r"\*\*([^*]+)\*\*(?: \(([^)]+)\))?", meaning)  # **オープンリレー** (第三者中継)
        also = [w for pair in bold for w in pair if w]
        for ja, en in zip(pairs_ja, pairs_en):
            terms.append(Term(tuple(_words(en)), tuple(_words(ja) + also)))
    return terms


@cache
def glossary() -> dict[str, list[Term]]:
    found = {}
    for path in GLOSSARIES:
        tables = HEADER.findall((REPO / path).read_text())
        assert len(tables) == 1, f"{path}: one glossary table (| 用語 | 英語 | 意味 |)"
        found[path] = parse(tables[0])
    return found


def test_the_glossaries_are_one():
    """Exercise 1's table, TEACHERS.md's and TEACHERS.ja.md's name the same terms the same way."""
    first, *others = glossary().values()
    assert len(first) >= 15
    for other in others:
        assert [t.english for t in other] == [t.english for t in first]
        assert [t.japanese for t in other] == [t.japanese for t in first]


def pattern(english: str) -> re.Pattern[str]:
    """A term as it shows in a sentence, with its endings: relay(s|ed|ing), hand(ed)-over,
    deliver(y|ed), greylist(ed|ing), forg(ed|ery), decod(e|es|ing)."""
    words = []
    for word in re.split(r"[ -]", english.lower()):
        stem = (word[:-3] if word.endswith(("ing", "ery")) else word[:-4] if word.endswith("ment")
                else word[:-3] if word.endswith("red") else word)
        words.append(re.escape(stem) + r"\w*")
    return re.compile(r"\b" + r"[- ]".join(words) + r"\b", re.I)


def prose(msgid: str) -> str:
    """The English a translator translates: without placeholders, `code`, quoted text, and
    tokens that are commands or settings (relay=, quota-full, open-relay, status=deferred)."""
    text = lab_command().sub(" ", re.sub(r"\{[^{}]*\}|`[^`]*`|\"[^\"]*\"", " ", msgid))
    tokens = [t for t in text.split() if not re.search(r"[=/_@<>]|\.\w|\w-(?!over\b)\w|^-", t)]
    return " ".join(tokens)


def terms_in(msgid: str, terms: list[Term]) -> list[Term]:
    """The glossary terms a sentence uses, the longest first: "delivery status
    notification" is one term, not a delivery too; "forward lookup" is no forwarding."""
    text, found = prose(msgid), []
    for phrase in (p for p in NOT_THE_TERM if " " in p):  # a phrase: taken out before any term is looked for
        text = re.sub(rf"\b{re.escape(phrase)}\b", " ", text, flags=re.I)
    for term, spelling in sorted(((t, e) for t in terms for e in t.english), key=lambda p: -len(p[1])):
        for match in list(pattern(spelling).finditer(text)):
            if match.group(0).lower() in NOT_THE_TERM:
                continue
            found.append(term)
            text = text.replace(match.group(0), " ")
    return found


def mistranslated(entries: list[Entry], terms: list[Term]) -> list[str]:
    wrong = []
    for entry in entries:
        for source in filter(None, (entry.msgid, entry.plural)):
            for term in terms_in(source, terms):
                wrong += [f"{source!r} uses {term.english[0]!r}: say {' or '.join(term.japanese)} in {t!r}"
                          for t in entry.msgstr if not any(j in t for j in term.japanese)]
    return wrong


@pytest.mark.parametrize("language", ["ja"])
def test_every_glossary_term_is_translated_the_glossary_way(language):
    assert mistranslated(list(catalog(language).values()), glossary()[GLOSSARIES[0]]) == []


def test_a_term_translated_another_way_is_found():
    terms = glossary()[GLOSSARIES[0]]
    entries = [Entry("A relayed the outsider's mail", None, ("A が outsider のメールを転送しました",), False),
               Entry("none of the deferred messages", None, ("保留のメールはどれも",), False),
               Entry("B greylisted it", None, ("B がグレイリスティングで断りました",), False)]
    assert [w.split(":")[0] for w in mistranslated(entries, terms)] == [
        "\"A relayed the outsider's mail\" uses 'relay'", "'none of the deferred messages' uses 'deferred'"]


def test_the_term_finder_finds_what_it_should():
    terms = glossary()[GLOSSARIES[0]]

    def names(msgid: str) -> list[str]:
        return sorted(t.english[0] for t in terms_in(msgid, terms))

    assert names("A relayed it, and B's greylisting deferred it") == ["deferred", "greylisting", "relay"]
    assert names("B sent a delivery status notification to the sender") == [
        "delivery status notification", "sender"]
    assert names("the hand-over; it was handed over") == ["hand-over", "hand-over"]
    assert names("a forged From:, a forwarded copy, a reverse lookup") == [
        "forwarding", "reverse lookup", "spoofing"]
    assert names("lab open-relay on (relay=mx.provider-b.test, status=deferred), lab greylist on") == []
    assert names("Y's mailbox holds no message {delivery}") == []


SPELLING = re.compile(r"([^\s、。]+) \(([^\s)]+)ではなく\)")  # TEACHERS.ja.md: "サーバ (サーバーではなく)"


def test_the_spellings_the_teachers_guide_fixes():
    rules = SPELLING.findall((REPO / "lab/TEACHERS.ja.md").read_text())
    assert ("サーバ", "サーバー") in rules
    wrong = [f"{t!r}: {avoid} (say {say})" for say, avoid in rules
             for e in catalog("ja").values() for t in e.msgstr if avoid in t]
    wrong += [f"{t!r}: IP アドレス has a space" for e in catalog("ja").values() for t in e.msgstr
              if "IPアドレス" in t]
    assert wrong == []


# The polite style of the exercises' texts: a sentence ends in です・ます (or has no verb
# at the end: a label, a list of commands); never in the plain である style.
PLAIN_ENDING = re.compile(r"(である|だ|した|する|いる|ない|った|れる|れた|できる)$")
POLITE_ENDING = re.compile(r"(ます|ました|ません|です|でした|ましょう)$")


def endings(text: str) -> list[str]:
    text = re.sub(r"「[^」]*」|`[^`]*`|\([^()]*\)|\{[^{}]*\}", "", text)  # quoted, code, asides
    return [s.strip() for s in re.split(r"[。\n]|: ", text) if s.strip()]


def test_japanese_is_in_the_polite_style_of_the_exercises():
    plain = [f"{t!r} ends {s!r}" for e in catalog("ja").values() for t in e.msgstr for s in endings(t)
             if (PLAIN_ENDING.search(s) and not POLITE_ENDING.search(s)) or "である" in s]
    assert plain == []
