"""Throughput load, run inside client-x: `python3 - SPEC_JSON`.

`sessions` concurrent submission sessions (STARTTLS + AUTH as X), each sending
`per_session` messages of `size` bytes to one recipient. Prints {"started", "submitted",
"refused", "seconds"}: started is this container's wall-clock time (time.time()) when
the first message went out, so the caller can time the deliveries from it.
"""

import json
import smtplib
import ssl
import sys
import threading
import time


def session(spec: dict, index: int, counts: list) -> None:
    body = ("x" * 75 + "\r\n") * max(1, spec["size"] // 77)
    context = ssl.create_default_context()
    with smtplib.SMTP(spec["smtp_host"], 587, timeout=60) as smtp:
        smtp.starttls(context=context)
        smtp.login(spec["sender"], spec["password"])
        for n in range(spec["per_session"]):
            data = (f"Subject: load {index}.{n}\r\nMessage-ID: <load.{spec['tag']}.{index}.{n}@maillab.test>"
                    f"\r\n\r\n{body}").encode()
            try:
                smtp.sendmail(spec["sender"], [spec["recipient"]], data)
                counts[index][0] += 1
            except smtplib.SMTPException:
                counts[index][1] += 1


def main() -> None:
    spec = json.loads(sys.argv[1])
    counts = [[0, 0] for _ in range(spec["sessions"])]
    threads = [threading.Thread(target=session, args=(spec, i, counts)) for i in range(spec["sessions"])]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"started": started, "submitted": sum(c[0] for c in counts),
                      "refused": sum(c[1] for c in counts), "seconds": time.time() - started}))


main()
