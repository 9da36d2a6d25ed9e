"""A Japanese learner's run, against a live lab: under LANG=ja_JP.UTF-8 `lab check 1` on a
reset lab prints every step's title and each hint in Japanese, and after the reference
solution its evidence in Japanese, with what the lab saw (the commands typed) quoted
verbatim; `lab trace --last` tells the story's steps in Japanese, in the terminal and in
its Mermaid file, with the servers' replies verbatim; `lab status`, a switch (`lab op25b
off`, then on), `lab postconf`'s answer and `lab class status`'s table of a live lab are
Japanese too, with the settings and commands verbatim. (The web page's Japanese check and
journey: test_23_web.py; .env's errors and make's words: test_31_language.py.)"""

from __future__ import annotations

import re

import pytest

from lab import classroom, config, exercises, i18n
from lab.config import PROVIDER_A, PROVIDER_B, Y
from tests import solutions
from tests.harness import wait_until
from tests.solutions import lab_command, lab_ok, mailbox_count, swaks_x_to, wait_for_check

TOUR = exercises.get(1)


@pytest.fixture
def japanese(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")


def flat(text: str) -> str:
    """Text without its spaces and line breaks: `lab check` wraps long hints (Japanese
    between any two characters)."""
    return re.sub(r"\s+", "", text)


def english_left(out: str) -> list[str]:
    """Runs of English words outside what the lab quotes (「...」, `code`): a sentence the
    catalog missed."""
    rest = re.sub(r"「[^」]*」|`[^`]*`", " ", out)
    return re.findall(r"\b[A-Za-z]{3,}(?: [a-z]{3,}){2,}\b", rest)


@pytest.mark.disruptive
def test_lab_check_speaks_japanese_before_and_after_the_solution(lab, japanese):
    lab_ok(lab, "reset")
    code, out = lab_command(lab, "check", "1")
    assert code == 1, out
    assert out.startswith(f"演習 1 を確かめています: {TOUR.title_in('ja')} (7 段階) ..."), out
    for number, step in enumerate(TOUR.steps, 1):
        assert f"{number}. {step.title.render('ja')}" in out, out
        assert str.__str__(step.title) not in out
    failing = out.count("[FAIL]")
    assert failing >= 1 and out.count("ヒント: ") == failing and "hint:" not in out, out
    hint = "ヒント: client-x (`make shell SERVICE=client-x`) で次のように打ちます: dig MX provider-b.test"
    assert flat(hint) in flat(out), out
    assert "client-x で provider-b.test の MX をまだ引いていません" in out  # why it fails
    assert "上のヒントか、演習の本文を読みましょう: lab show 1" in out
    assert english_left(out) == [], out

    solutions.SOLUTIONS[1](lab)
    wait_for_check(lab, 1)
    code, out = lab_command(lab, "check", "1")
    assert code == 0 and "7 段階のうち 7 段階が完了: 演習 1 はすべて終わりました。" in out, out
    assert f"client-x で打ったコマンド: 「dig MX {PROVIDER_B.domain}」" in out  # the evidence, verbatim
    assert f"dns で打ったコマンド: 「cat /run/nsd/zones/{PROVIDER_B.domain}.zone」" in out
    assert "6 個のサービスがすべて正常 (healthy) です" in out
    assert english_left(out) == [], out


@pytest.mark.disruptive
def test_lab_trace_tells_the_story_in_japanese(lab, japanese):
    lab_ok(lab, "reset")
    message_id = swaks_x_to(lab)
    wait_until(lambda: mailbox_count(lab, Y) == 1, "the message in Y's mailbox")
    out = solutions.trace_saying(lab, "--last", "いま:")
    steps = re.findall(r"\((\d)\) ([^:]+):", out)
    assert [s for s, _ in steps][:4] == ["1", "2", "3", "4"], out
    names = dict(steps)
    assert (names["1"], names["3"], names["4"], names["5"]) == (
        "送信", "MX の問い合わせ", "受け渡し", "配送"), out
    assert out.startswith(f"{message_id} の経路"), out
    assert f"{PROVIDER_B.domain} の MX は? → {PROVIDER_B.mx}" in out
    assert re.search(r"SMTP で mx\.provider-b\.test\[[\d.]+\]:25 へ: 「250 2\.0\.0 Ok: queued as [0-9A-F]+」",
                     out), out  # B's reply, verbatim
    assert f"いま: {PROVIDER_B.service} の {Y} のメールボックスに配送されています" in out
    assert f"{PROVIDER_A.service} のキュー" not in out
    assert english_left(out) == [], out
    mermaid = re.search(r"レポート用の Mermaid の図: (\S+)", out)
    assert mermaid, out
    diagram = (config.REPO / mermaid.group(1)).read_text(encoding="utf-8")
    assert diagram.startswith("sequenceDiagram")
    assert "X->>A: 1. 送信: サブミッション (587、STARTTLS)" in diagram, diagram
    assert "A->>B: 4. 受け渡し: SMTP で" in diagram and "いま " in diagram, diagram


@pytest.mark.disruptive
def test_status_a_switch_and_the_class_table_speak_japanese(lab, japanese, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CLASS_FILE", tmp_path / "class.json")  # no class on this machine
    lab_ok(lab, "reset")
    out = lab_ok(lab, "status")
    assert re.search(r"^  provider-b +正常$", out, re.M), out
    assert re.search(r"^  client-x +正常  \(接続中\)$", out, re.M), out
    assert "スイッチ:" in out and "利用者の 25 番ポートをブロック中、DMARC p=reject、" in out, out
    assert "(最後のリセットから 0 件をブロック)" in out, out
    assert english_left(out) == [], out
    try:
        out = lab_ok(lab, "op25b", "off")
        assert out.startswith("LAB SWITCH: 25 番ポートのブロックは OFF です。"), out
        assert out.rstrip().endswith("元に戻すには: lab op25b on") and english_left(out) == [], out
        out = lab_ok(lab, "postconf", PROVIDER_B.service, "smtpd_banner=$myhostname ESMTP maillab-ja")
        assert out.startswith(f"{PROVIDER_B.service} の Postfix は、いま次の設定で動いています:\n"
                              "  smtpd_banner = $myhostname ESMTP maillab-ja\n"), out  # the setting verbatim
        assert "`lab reset --overrides` で消せます。" in out and english_left(out) == [], out
        with i18n.use("ja"):
            table = classroom.table([classroom.row(lab)])
        head, _rule, line, *more = table.splitlines()
        assert head.startswith("ラボ  状態") and head.endswith("最後の操作"), table
        assert re.search(r"^ +\d+  正常 ", line), table
        assert more == ["      戻し忘れ: A: op25b off、B: op25b off、B: 自分の設定 smtpd_banner = "
                        "$myhostname ESMTP maillab-ja"], table
        assert english_left(table) == [], table
    finally:
        lab_ok(lab, "op25b", "on")
        lab_ok(lab, "reset", "--overrides")
    code, _ = lab_command(lab, "class", "status")  # no class on this machine: refused, in Japanese
    assert code == 1
    assert "エラー: このマシンにはクラスがありません。`lab class up N` で始めます" in capsys.readouterr().err
