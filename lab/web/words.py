"""The web view's words, in English and Japanese: the pages' templates and the page's
script (which draws what changes) both take them from here."""

from __future__ import annotations

LANGUAGES = ("en", "ja")

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "maillab: the lab, live",
        "nav.lab": "The lab",
        "nav.exercises": "Exercises",
        "picture": "The lab now",
        "mail": "Mail moving",
        "mail.none": "No message since the last reset. Send one from client-x (exercise 2).",
        "refused": "Stopped at the door",
        "refused.none": "Nobody has been refused since the last reset.",
        "queues": "Queues",
        "queue.empty": "empty",
        "queue.next": "next try",
        "mailboxes": "Mailboxes",
        "mailbox.of": "of",
        "messages": "messages",
        "step.1": "submitted",
        "step.2": "queued",
        "step.3": "MX looked up",
        "step.4": "handed over",
        "step.5": "in the mailbox",
        "step.6": "retrieved",
        "where.mailbox": "in the mailbox",
        "where.retrieved": "fetched by its reader",
        "where.waiting": "waiting at {0}",
        "where.at": "at {0}",
        "where.back": "back at {0}",
        "state.healthy": "running",
        "state.starting": "starting",
        "state.stopped": "stopped",
        "state.paused": "hung (paused)",
        "state.cut off": "cut off",
        "state.hung up": "hung up",
        "faults": "Faults now",
        "faults.none": "no fault",
        "switches": "Switches",
        "trace": "Trace",
        "headers": "Headers, read from the bottom up",
        "headers.none": "No stored copy to read: the message is not (or no longer) in a mailbox.",
        "now": "Now",
        "exercises": "Exercises",
        "exercise.check": "Check my work",
        "exercise.checking": "Checking…",
        "exercise.done": "done",
        "exercise.steps": "steps done",
        "hint": "hint",
        "language": "日本語",
        "live.lost": "The page lost the lab: is `make web` still running?",
        "back": "back to the lab",
        "class": "The class",
        "class.none": "No class on this server: start one with `lab class up N`.",
        "class.lab": "lab",
        "class.health": "health",
        "class.done": "done",
        "class.last": "last action",
        "class.left": "left on",
    },
    "ja": {
        "title": "maillab: 動いているラボ",
        "nav.lab": "ラボ",
        "nav.exercises": "演習",
        "picture": "いまのラボ",
        "mail": "流れているメール",
        "mail.none": "最後のリセットから、まだメールは送られていません。"
                     "client-x から送ってみましょう（演習 2）。",
        "refused": "入り口で止められたもの",
        "refused.none": "最後のリセットから、断られた接続はありません。",
        "queues": "キュー",
        "queue.empty": "空",
        "queue.next": "次の再送",
        "mailboxes": "メールボックス",
        "mailbox.of": "/",
        "messages": "通",
        "step.1": "送信",
        "step.2": "キューへ",
        "step.3": "MX を引いた",
        "step.4": "相手に渡した",
        "step.5": "メールボックスに保存",
        "step.6": "受信者が取り出した",
        "where.mailbox": "メールボックスに届いた",
        "where.retrieved": "受信者が取り出した",
        "where.waiting": "{0} で待っている",
        "where.at": "{0} にある",
        "where.back": "{0} に戻ってきた",
        "state.healthy": "稼働中",
        "state.starting": "起動中",
        "state.stopped": "停止",
        "state.paused": "固まっている（一時停止）",
        "state.cut off": "回線が切れている",
        "state.hung up": "ダイヤルアップ切断中",
        "faults": "いま起きている障害",
        "faults.none": "障害なし",
        "switches": "スイッチ",
        "trace": "経路",
        "headers": "ヘッダー（下から上へ読む）",
        "headers.none": "読める保存コピーがありません（メールボックスにない、またはもう取り出された）。",
        "now": "いま",
        "exercises": "演習",
        "exercise.check": "答え合わせ",
        "exercise.checking": "確認中…",
        "exercise.done": "完了",
        "exercise.steps": "ステップ完了",
        "hint": "ヒント",
        "language": "English",
        "live.lost": "ラボとの接続が切れました。`make web` は動いていますか？",
        "back": "ラボに戻る",
        "class": "クラス",
        "class.none": "このサーバーにはクラスがありません。`lab class up N` で始めます。",
        "class.lab": "ラボ",
        "class.health": "状態",
        "class.done": "完了",
        "class.last": "最後の操作",
        "class.left": "戻し忘れ",
    },
}


def choose(asked: str | None, cookie: str | None, accept_language: str) -> str:
    """?lang= first, then the reader's earlier choice, then the browser's language."""
    for choice in (asked, cookie):
        if choice in LANGUAGES:
            return choice  # type: ignore[return-value]
    ranked = []
    for part in accept_language.split(","):
        tag, _, q = part.strip().partition(";q=")
        try:
            ranked.append((float(q or 1), tag.split("-")[0].lower()))
        except ValueError:
            continue
    for _, tag in sorted(ranked, key=lambda r: -r[0]):
        if tag in LANGUAGES:
            return tag
    return "en"
