"""The lab's languages (lab/i18n.py): how the language is chosen; that a marked sentence
keeps its English value and shows itself in the language asked for; that every string
marked in lab/ has a Japanese entry that is neither fuzzy nor stale, with the English
placeholders and every command, address and reply code of the English kept verbatim;
that the compiled .mo says what the .po says and ships with the package; and that no
sentence a learner meets in the checks, `lab check`, `lab trace`, dial-up and reset,
`lab up`/`status`/`config`, faults, switches, `lab postconf`, `lab class`, `lab web`,
.env's errors, make's own words, the web view's words and the class server is left
unmarked. The glossary's words: test_32_glossary.py; a Japanese learner's run
against a live lab: test_33_japanese_run.py."""

from __future__ import annotations

import ast
import gettext
import json
import os
import pickle
import re
import subprocess
import sys
from fnmatch import fnmatch

import pytest

from lab import exercises, i18n
from lab.i18n import Text, _, ngettext
from tests.catalogs import PO, REPO, catalog, extracted, obsolete, placeholders, verbatim

LANGUAGES = sorted(PO)


def test_japanese_is_offered():
    assert i18n.languages() == ("en", "ja")


@pytest.mark.parametrize(("environ", "expected"), [
    ({}, "en"),
    ({"LANG": "ja_JP.UTF-8"}, "ja"),
    ({"LANG": "ja_JP.eucJP"}, "ja"),
    ({"LANG": "en_US.UTF-8"}, "en"),
    ({"LANG": "fr_FR.UTF-8"}, "en"),  # a language the lab does not speak: English
    ({"LC_ALL": "ja_JP.UTF-8", "LANG": "en_US.UTF-8"}, "ja"),  # LC_ALL wins over LANG
    ({"LC_ALL": "en_US.UTF-8", "LANG": "ja_JP.UTF-8"}, "en"),
    ({"LC_MESSAGES": "ja_JP.UTF-8", "LANG": "en_US.UTF-8"}, "ja"),
    ({"LANGUAGE": "ja", "LANG": "en_US.UTF-8"}, "ja"),  # LANGUAGE first, as GNU gettext
    ({"LANGUAGE": "fr:ja:en", "LANG": "en_US.UTF-8"}, "ja"),  # the first one spoken
    ({"LANGUAGE": "en", "LANG": "ja_JP.UTF-8"}, "en"),
    ({"LANGUAGE": "ja", "LANG": "C.UTF-8"}, "en"),  # the C locale: LANGUAGE is ignored
    ({"LANGUAGE": "ja"}, "en"),  # no locale at all is the C locale
    ({"LANG": "POSIX"}, "en"),
])
def test_the_environment_chooses_as_gettext_does(environ, expected):
    assert i18n.from_environment(environ) == expected
    assert i18n.choose(environ=environ) == expected


def test_an_asked_language_or_a_flag_wins_over_the_environment():
    japanese, english = {"LANG": "ja_JP.UTF-8"}, {"LANG": "en_US.UTF-8"}
    assert i18n.choose("ja", environ=english) == "ja"  # the web page's switch
    assert i18n.choose("ja-JP", environ=english) == "ja"  # a browser's tag
    assert i18n.choose("en", environ=japanese) == "en"
    assert i18n.choose("xx", environ=japanese) == "ja"  # unknown: the environment decides
    assert i18n.choose(ja=True, environ=english) == "ja"
    assert i18n.choose(en=True, environ=japanese) == "en"


def test_a_marked_sentence_is_english_until_shown_in_a_language():
    inner = _("in the mailbox")
    text = _("the message is {where}").format(where=inner)
    assert isinstance(text, str) and text == "the message is in the mailbox"
    assert json.dumps({"t": text}) == '{"t": "the message is in the mailbox"}'  # what json sees
    assert text.render("en") == "the message is in the mailbox"
    assert str(text) == f"{text}" == "the message is in the mailbox"  # outside use(): English
    assert pickle.loads(pickle.dumps(text)) == text
    with pytest.raises(TypeError):
        _("{0}").format("positional")


def test_plural_forms_follow_each_language():
    for n, english in ((1, "1 message"), (2, "2 messages"), (0, "0 messages")):
        assert ngettext("{count} message", "{count} messages", n).format(count=n) == english
    steps = ngettext("{passed} of {total} step done: exercise {number} is complete.",
                     "{passed} of {total} steps done: exercise {number} is complete.", 7)
    japanese = steps.format(passed=7, total=7, number=1).render("ja")
    assert "7 段階のうち 7 段階" in japanese, japanese  # Japanese has one form


def test_a_text_is_shown_in_the_language_of_its_block_and_values_follow_it():
    text = _("{service} is not running: start the lab with `make up`").format(service="provider-b")
    with i18n.use("ja"):
        japanese = "provider-b が動いていません。`make up` でラボを起動します"
        assert str(text) == f"{text}" == text.render() == japanese
        assert text == "provider-b is not running: start the lab with `make up`"  # its own value
    joined = i18n.join(["provider-a", "provider-b"], _(", "))
    assert joined.render("ja") == "provider-a、provider-b" and joined == "provider-a, provider-b"
    nested = _("not healthy: {services}").format(services=joined)
    assert nested.render("ja") == "正常でないサービス: provider-a、provider-b"


def test_a_broken_translation_falls_back_to_english(monkeypatch):
    class Broken(gettext.NullTranslations):
        def gettext(self, message: str) -> str:
            return "{nothing_like_it}"

    monkeypatch.setattr(i18n, "catalog", lambda language: Broken())
    assert _("hello {name}").format(name="Y").render("ja") == "hello Y"


def test_a_check_run_carries_its_language(monkeypatch):
    """run_steps(..., language=): each Outcome says its language and gives its title,
    detail and hint in it (the web page asks for its own); the report sees it too."""
    from lab import checker
    from lab.compose import LabError

    monkeypatch.setattr(checker, "Evidence", lambda lab: None)

    def broken(ev: None) -> checker.Result:
        raise LabError(_("{service} is not running: start the lab with `make up`").format(service="dns"))

    def logged(ev: None) -> checker.Result:
        return checker.failed(_("A's log: {line}").format(line="warning: TLS library problem"))

    steps = [checker.Step(_("X opened a TLS session to A's submission port"), logged,
                          _("wait a second and check again")),
             checker.Step(_("B is running again"), broken, _("lab restore b-down"))]
    seen = []
    outcomes = checker.run_steps(None, steps, lambda n, o: seen.append(f"{o.step.title}"), language="ja")
    assert [o.language for o in outcomes] == ["ja", "ja"]
    assert outcomes[0].title == "X が A のサブミッションポートへ TLS セッションを開きました" == seen[0]
    assert outcomes[0].detail == "A のログ: 「warning: TLS library problem」"
    assert outcomes[0].hint == "少し待ってから、もう一度確かめます"
    assert outcomes[1].detail == "dns が動いていません。`make up` でラボを起動します"
    english = checker.run_steps(None, steps, lambda n, o: None, language="en")
    assert english[1].detail == "dns is not running: start the lab with `make up`"
    assert outcomes[0].result.detail == english[0].result.detail  # the result itself: one value


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_marked_string_has_an_entry(language):
    entries = catalog(language)
    missing = [f"{m.where}: {m.msgid!r}" for m in extracted().values() if m.msgid not in entries]
    assert missing == [], f"not in {PO[language].relative_to(REPO)} (make catalogs, then translate)"
    untranslated = [e.msgid for e in entries.values() if not all(e.msgstr)]
    assert untranslated == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_entry_is_fuzzy_or_stale(language):
    entries = catalog(language)
    assert [e.msgid for e in entries.values() if e.fuzzy] == [], "fuzzy: the English changed; check the text"
    stale = sorted(set(entries) - set(extracted())) + list(obsolete(language))
    assert stale == [], "in the catalog, no longer in the code: make catalogs"
    plurals = {m.msgid: m.plural for m in extracted().values()}
    assert [e.msgid for e in entries.values() if e.plural != plurals[e.msgid]] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalog_says_what_the_po_says(language):
    mo = PO[language].with_suffix(".mo")
    with open(mo, "rb") as f:
        compiled = gettext.GNUTranslations(f)
    for entry in catalog(language).values():
        if entry.plural is None:
            assert compiled.gettext(entry.msgid) == entry.msgstr[0], f"{mo.name} is old: make catalogs"
        else:
            for n in (1, 2):
                assert compiled.ngettext(entry.msgid, entry.plural, n) == entry.msgstr[compiled.plural(n)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_and_verbatim_text_are_kept(language):
    wrong = []
    for entry in catalog(language).values():
        sources = [entry.msgid] + ([entry.plural] if entry.plural else [])
        for source in sources:
            for translated in entry.msgstr:
                if {p[0] for p in placeholders(translated)} != {p[0] for p in placeholders(source)} or \
                        set(placeholders(translated)) != set(placeholders(source)):
                    wrong.append(f"placeholders of {source!r}: {translated!r}")
        for piece in verbatim(entry.msgid):
            wrong += [f"{piece!r} of {entry.msgid!r} is not in {t!r}" for t in entry.msgstr if piece not in t]
    assert wrong == []


def test_verbatim_pieces_are_commands_addresses_and_codes_not_english():
    sentence = ("send one from X to y@provider-b.test (exercise 2), then lab trace --last; B said 552 5.2.2 "
                "at RCPT, see `make up` and {queue_id}. Start the lab with it.")
    assert verbatim(sentence) == ["`make up`", "lab trace", "y@provider-b.test", "--last", "5.2.2", "RCPT"]
    assert placeholders("{count} of {total:>3} in {who!r}") == [("count", "", ""), ("total", "", ">3"),
                                                                ("who", "r", "")]


def test_the_catalogs_ship_with_the_package():
    data = re.search(r'^"lab" = \[(.*)\]$', (REPO / "pyproject.toml").read_text(), re.M)  # package-data
    patterns = re.findall(r'"([^"]+)"', data.group(1)) if data else []
    for mo in i18n.LOCALE_DIR.glob("*/LC_MESSAGES/*.mo"):
        assert any(fnmatch(str(mo.relative_to(REPO / "lab")), p) for p in patterns), mo


@pytest.mark.parametrize("exercise", exercises.all_exercises(), ids=lambda e: f"{e.number:02d}")
def test_every_step_reads_in_japanese(exercise):
    for step in exercise.steps:
        for text in (step.title, step.hint):
            assert isinstance(text, Text), (exercise.number, text)
            japanese = text.render("ja")
            assert japanese != str.__str__(text), text
            assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", japanese), text


def test_the_web_views_words_are_the_catalogs():
    """lab/web/words.py: every word of the pages has its Japanese; the switch names the other
    language in that language."""
    from lab.web import words

    english, japanese = words.table("en"), words.table("ja")
    assert english.keys() == japanese.keys()
    assert english["exercise.check"] == "Check my work" and japanese["exercise.check"] == "答え合わせ"
    assert (english["language"], english["language.to"]) == ("日本語", "ja")
    assert (japanese["language"], japanese["language.to"]) == ("English", "en")
    same = [key for key in english if english[key] == japanese[key] and not key.startswith("language")]
    assert same == []
    assert "{where}" in japanese["where.waiting"] and "{name}" in japanese["fault.named"]  # lab.js fills them


def _japanese_environment() -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    return {**environ, "LANG": "ja_JP.UTF-8"}


def test_an_env_error_speaks_japanese_with_the_standard_library_only():
    """.env's errors come before any virtualenv exists (`make up`): `python3 -S` (no site
    packages at all) under LANG=ja_JP.UTF-8 says what is wrong in Japanese, the value quoted."""
    done = subprocess.run([sys.executable, "-S", "-m", "lab", "config"], cwd=REPO, capture_output=True,
                          text=True, env={**_japanese_environment(), "OP25B": "maybe"}, timeout=60)
    assert done.returncode == 2, done
    assert done.stderr.splitlines() == ["エラー: OP25B='maybe': on か off にします",
                                        "(.env か環境変数で直します。何も起動しませんでした)"], done.stderr
    english = subprocess.run([sys.executable, "-S", "-m", "lab", "config"], cwd=REPO, capture_output=True,
                             text=True, env={**os.environ, "OP25B": "maybe"}, timeout=60)
    assert english.stderr.splitlines()[0] == "error: OP25B='maybe': must be on or off"


def test_make_speaks_japanese_too():
    """What make itself says (lab/say.py): `make check` without EX."""
    done = subprocess.run(["make", "-s", "check"], cwd=REPO, capture_output=True, text=True,
                          env=_japanese_environment(), timeout=60)
    assert done.returncode == 2
    assert "どの演習かを指定します: make check EX=1 (make lab で一覧を表示します)" in done.stderr, done.stderr


# --- nothing unmarked: every sentence a learner meets is a _() or ngettext() call -------

SCOPE = ["lab/checker.py", "lab/trace.py", "lab/tracedraw.py", "lab/access.py", "lab/reset.py",
         "lab/commands/learner.py", "lab/exercises/__init__.py", "lab/cli.py",
         *sorted(str(p.relative_to(REPO)) for p in (REPO / "lab/exercises").glob("*/check.py")),
         # `lab up`/`status`/`config`, faults and switches, the admin's settings, `lab class`, `lab web`,
         # .env's errors, what make says, the web view's words and the class server
         "lab/commands/lifecycle.py", "lab/commands/switches.py", "lab/commands/admin.py",
         "lab/commands/classroom.py", "lab/commands/web.py", "lab/classroom.py", "lab/provider_settings.py",
         "lab/overrides.py", "lab/faults.py", "lab/switches.py", "lab/config.py", "lab/say.py",
         "lab/web/words.py", "lab/web/views.py", "lab/web/classserver.py", "lab/compose.py",
         "lab/classlinks.py", "lab/console.py"]
MARKS = {"_", "ngettext"}
# Calls whose argument a person reads: it may be a variable or a call, never bare English.
SHOWN = {"passed": 0, "failed": 0, "LabError": 0, "print": 0, "say": 0, "Event": 4}
# Calls whose string arguments are no sentence: patterns, commands, setting names.
NOT_SHOWN = {"re", "search", "match", "fullmatch", "findall", "compile", "sub", "split", "typed", "typed_at",
             "run", "docker_exec", "docker", "postconf", "get", "startswith", "endswith", "label", "events",
             "add_argument", "mailbox_events", "replace", "decode", "encode", "strftime", "removeprefix",
             "add_parser", "become", "docker_fed"}  # argparse's help stays English, as `lab --help` does
WORDS = re.compile(r"[A-Za-z]{2,}[ ,;:']+[A-Za-z]{2,}")
SHELL = re.compile(r"[$|;&]")  # a script run in a container, not a sentence
# Strings with words that no person reads as the lab's sentence, each with why.
NOT_PROSE = {
    ("lab/tracedraw.py", "    Note over "): "Mermaid's own syntax",
    ("lab/exercises/__init__.py", "Model answers"): "a heading the teacher's pack is parsed by",
    ("lab/commands/lifecycle.py", "mx, smtp, pop, imap.provider-a.test"): "the provider's host names",
    ("lab/commands/lifecycle.py", "mx, smtp, pop, imap.provider-b.test"): "the same",
    ("lab/commands/lifecycle.py", "  dig MX provider-b.test"): "a command to type, in `make up`'s summary",
    ("lab/commands/lifecycle.py",
     "  swaks --server smtp.provider-a.test:587 --tls --auth-user x@provider-a.test \\"): "the same",
    ("lab/commands/switches.py", "LAB SWITCH: "): "a switch's line of `lab --help` (which stays English)",
    ("lab/classroom.py", "not created"): "a lab's health as data (the CSV, the class page): see HEALTH",
    ("lab/classroom.py", "lab check "): "a command, as `lab class status` shows a lab's last action",
    ("lab/provider_settings.py", "` at every start)"): "the README's table of settings (English, as is the "
                                                        "README)",
    ("lab/faults.py", "450 4.3.2 Service temporarily unavailable, try again later"): "B's SMTP reply",
    ("lab/config.py", "debian:bookworm-slim"): "an image's name",
    ("lab/compose.py", "maillab: ready"): "the line a container logs when it is ready (READY_LINE)",
    ("lab/compose.py", ": no container\n"): "a heading of the logs a failed start shows, beside Docker's",
    ("lab/web/views.py", "hung up"): "a machine's state as data: the page shows W['state.hung up']",
    ("lab/web/views.py", "cut off"): "the same",
    ("lab/web/classserver.py", "this link was renewed"): "a websocket's close reason: the page shows its own "
                                                          "words for the code (term.revoked)",
}


def _name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def marked(node: ast.AST) -> bool:
    """A _() or ngettext() call, or its .format(...)."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        node = node.func.value
    return isinstance(node, ast.Call) and _name(node) in MARKS


def bare_english(node: ast.AST) -> bool:
    """A string written in place (a literal, an f-string, + of them) that holds words."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(re.search(r"[A-Za-z]{2,}", node.value))
    if isinstance(node, ast.JoinedStr):
        return any(bare_english(v) for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp):
        return bare_english(node.left) or bare_english(node.right)
    if isinstance(node, ast.IfExp):
        return bare_english(node.body) or bare_english(node.orelse)
    return False


def findings(path: str) -> list[str]:
    tree = ast.parse((REPO / path).read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    quiet: set[int] = set(docstrings)  # strings no person reads as a sentence
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):  # log text, a header, a status word looked for
            quiet |= {id(n) for n in ast.walk(node)}
        if isinstance(node, ast.Assert) and node.msg:  # a programmer's mistake, not a learner's
            quiet |= {id(n) for n in ast.walk(node.msg)}
        if isinstance(node, ast.Dict):  # keys: the log's own words (NOTICE, STATUS)
            quiet |= {id(n) for k in node.keys if k is not None for n in ast.walk(k)}
        if not isinstance(node, ast.Call):
            continue
        name = _name(node)
        if name == "format" and marked(node):  # the values of a marked sentence: verbatim
            quiet |= {id(n) for a in (*node.args, *(k.value for k in node.keywords)) for n in ast.walk(a)}
        if name in MARKS:
            if len(node.args) < 1 or not all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                             for a in node.args[:2 if name == "ngettext" else 1]):
                found.append(f"{path}:{node.lineno}: {name}() takes string literals only "
                             "(Babel extracts them)")
            quiet |= {id(n) for n in ast.walk(node)}
        elif name in NOT_SHOWN:
            quiet |= {id(n) for a in (*node.args, *(k.value for k in node.keywords)) for n in ast.walk(a)}
        if name == "Step":
            for index in (0, 2):
                if len(node.args) > index and not marked(node.args[index]):
                    found.append(f"{path}:{node.lineno}: Step's {('title', '', 'hint')[index]} is not marked")
        if name in SHOWN and len(node.args) > SHOWN[name] and bare_english(node.args[SHOWN[name]]):
            found.append(f"{path}:{node.lineno}: {name}() is given English that is not marked")
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in quiet \
                and WORDS.search(node.value) and not SHELL.search(node.value) \
                and (path, node.value) not in NOT_PROSE:
            found.append(f"{path}:{node.lineno}: unmarked words {node.value[:60]!r}")
    return found


@pytest.mark.parametrize("path", SCOPE)
def test_nothing_a_learner_reads_is_left_unmarked(path):
    assert findings(path) == []


def test_the_unmarked_check_finds_what_it_looks_for(tmp_path, monkeypatch):
    """The probe itself: a step, a detail and a sentence left in English are each found."""
    sample = tmp_path / "lab" / "sample.py"
    sample.parent.mkdir()
    sample.write_text('STEPS = [Step("Y read it", test, _("hint"))]\n'
                      'def test(ev):\n    return failed(f"no message for {ev} yet")\n'
                      'WHERE = "waiting in the queue"\nOK = _("fine")\nBAD = _(WHERE)\n')
    monkeypatch.setattr("tests.test_31_language.REPO", tmp_path)
    found = findings("lab/sample.py")
    assert sorted(f.split(": ", 1)[1] for f in found) == sorted([
        "Step's title is not marked", "failed() is given English that is not marked",
        "_() takes string literals only (Babel extracts them)", "unmarked words 'Y read it'",
        "unmarked words 'no message for '", "unmarked words 'waiting in the queue'"]), found
