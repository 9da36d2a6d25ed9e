"""Submit many messages quickly from a client container: `python3 - SPEC_JSON`.

SPEC: {"host", "port": 587, "user", "password", "recipient", "count", "tag",
       "size": body bytes (default 200), "rcpt_options": ["NOTIFY=SUCCESS"],
       "tls_name": the name to verify in A's certificate when "host" is an address}
Logs in once (STARTTLS + AUTH) and sends `count` messages in one session, each with
Message-ID <TAG.N@maillab.test>. Prints a JSON list of [message_id, reply code, reply].
"""

import json
import smtplib
import ssl
import sys


def message(spec: dict, n: int) -> tuple[str, bytes]:
    message_id = f"<{spec['tag']}.{n}@maillab.test>"
    body = ("maillab " * (spec.get("size", 200) // 8 + 1))[: spec.get("size", 200)]
    text = (f"From: {spec['user']}\r\nTo: {spec['recipient']}\r\nSubject: {spec['tag']} {n}\r\n"
            f"Message-ID: {message_id}\r\nDate: Fri, 27 Nov 2026 12:00:00 +0900\r\n\r\n{body}\r\n")
    return message_id, text.encode()


def main() -> None:
    spec = json.loads(sys.argv[1])
    results = []
    with smtplib.SMTP(spec["host"], spec.get("port", 587), timeout=30) as smtp:
        smtp._host = spec.get("tls_name", spec["host"])  # what starttls() verifies
        smtp.starttls(context=ssl.create_default_context())
        smtp.login(spec["user"], spec["password"])
        for n in range(spec["count"]):
            message_id, data = message(spec, n)
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
            results.append([message_id, code, reply.decode()])
    print(json.dumps(results))


main()
