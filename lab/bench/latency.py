"""End-to-end latency, run inside client-x: `python3 - SPEC_JSON`.

For each of `count` messages, sent one by one over one submission session (STARTTLS +
AUTH as X): the time from A's 250 to the moment the message is visible to Y over POP3
(a new STLS session per poll, as a mail program polls). Prints the latencies in
seconds as a JSON list. SPEC: {"sender", "password", "recipient", "recipient_password",
"count", "smtp_host", "pop_host"}
"""

import json
import poplib
import smtplib
import ssl
import sys
import time

POLL = 0.005  # seconds between POP3 polls


def pop_count(host: str, user: str, password: str, context: ssl.SSLContext) -> int:
    pop = poplib.POP3(host, 110, timeout=10)
    pop.stls(context)
    pop.user(user)
    pop.pass_(password)
    count, _ = pop.stat()
    pop.quit()
    return count


def main() -> None:
    spec = json.loads(sys.argv[1])
    context = ssl.create_default_context()
    seen = pop_count(spec["pop_host"], spec["recipient"], spec["recipient_password"], context)
    latencies = []
    with smtplib.SMTP(spec["smtp_host"], 587, timeout=30) as smtp:
        smtp.starttls(context=context)
        smtp.login(spec["sender"], spec["password"])
        for n in range(spec["count"]):
            message_id = f"<latency.{n}.{time.time()}@maillab.test>"
            body = f"Subject: latency {n}\r\nMessage-ID: {message_id}\r\n\r\nping\r\n"
            smtp.sendmail(spec["sender"], [spec["recipient"]], body.encode())
            accepted = time.monotonic()
            deadline = accepted + 30
            while pop_count(spec["pop_host"], spec["recipient"], spec["recipient_password"], context) <= seen:
                if time.monotonic() > deadline:
                    raise SystemExit(f"message {n} not visible over POP after 30 s")
                time.sleep(POLL)
            latencies.append(time.monotonic() - accepted)
            seen += 1
    print(json.dumps(latencies))


main()
