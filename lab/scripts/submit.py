"""Submit messages as a mail program would, from inside a client container:
`python3 - SPEC_JSON` (standard library only). Used by the tests and by `make bench`.

SPEC: {"host", "port": 587, "user", "password", "recipient", "tag",
       "sessions": 1, "per_session": 1, "size": 200 (body bytes),
       "rcpt_options": ["NOTIFY=SUCCESS"], "tls_name": name to verify when host is an address,
       "retry": 0 (seconds to keep reconnecting and resending when the server is gone
                   or answers 4xx)}
Each session logs in once (STARTTLS + AUTH) and sends its messages one after the
other; sessions run side by side. Message-IDs are <TAG.SESSION.N.RUN@maillab.test>, RUN
random per invocation, so that no two submissions share one.
Prints {"started": time.time() of the first message, "seconds", "results":
[[message_id, reply code, reply text], ...]} in session order.
"""

import json
import smtplib
import ssl
import sys
import threading
import time
import uuid

RUN = uuid.uuid4().hex[:12]


def message(spec: dict, session: int, n: int) -> tuple[str, bytes]:
    message_id = f"<{spec['tag']}.{session}.{n}.{RUN}@maillab.test>"
    size = spec.get("size", 200)
    body = "".join(("x" * 75 + "\r\n") for _ in range(size // 77)) + "x" * (size % 77)
    text = (f"From: {spec['user']}\r\nTo: {spec['recipient']}\r\nSubject: {spec['tag']} {session}.{n}\r\n"
            f"Message-ID: {message_id}\r\nDate: Fri, 27 Nov 2026 12:00:00 +0900\r\n\r\n{body}\r\n")
    return message_id, text.encode()


def connect(spec: dict) -> smtplib.SMTP:
    smtp = smtplib.SMTP(spec["host"], spec.get("port", 587), timeout=60)
    smtp._host = spec.get("tls_name", spec["host"])  # the name starttls() verifies
    smtp.starttls(context=ssl.create_default_context())
    smtp.login(spec["user"], spec["password"])
    return smtp


def send(smtp: smtplib.SMTP, spec: dict, data: bytes) -> tuple[int, bytes]:
    code, reply = smtp.mail(spec["user"])
    if code == 250:
        code, reply = smtp.rcpt(spec["recipient"], spec.get("rcpt_options", []))
    if code == 250:
        try:
            code, reply = smtp.data(data)
        except smtplib.SMTPDataError as err:
            code, reply = err.smtp_code, err.smtp_error
    else:
        smtp.rset()
    return code, reply


def session(spec: dict, index: int, results: list) -> None:
    """With "retry": N seconds, a lost connection (the server crashed) or a temporary
    refusal (4xx: its disk is full) is met as a mail program meets it: keep the message,
    reconnect if need be, and send it again, until N seconds."""
    patience = spec.get("retry", 0)
    smtp = None
    for n in range(spec.get("per_session", 1)):
        message_id, data = message(spec, index, n)
        deadline = time.monotonic() + patience
        while True:
            try:
                smtp = smtp or connect(spec)
                code, reply = send(smtp, spec, data)
                if not (400 <= code < 500 and time.monotonic() < deadline):
                    break
                time.sleep(0.5)
            except (OSError, smtplib.SMTPException) as err:
                smtp = None
                if time.monotonic() > deadline:
                    code, reply = 0, f"no answer: {err}".encode()
                    break
                time.sleep(0.2)
        results[index].append([message_id, code, reply.decode()])
    if smtp:
        smtp.quit()


def main() -> None:
    spec = json.loads(sys.argv[1])
    results: list[list] = [[] for _ in range(spec.get("sessions", 1))]
    threads = [threading.Thread(target=session, args=(spec, i, results)) for i in range(len(results))]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [row for rows in results for row in rows]
    print(json.dumps({"started": started, "seconds": time.time() - started, "results": flat}))


main()
