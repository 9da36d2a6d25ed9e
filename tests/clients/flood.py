"""A stranger's flood of connections, bounded in count and time, run inside a lab
container (`python3 - SPEC_JSON`): open `connections` to host:port at once, read each
greeting, hold them all `hold` seconds, then close them. With "rapid": N, then open
and close N more one after the other, as fast as they come.

Prints {"greetings": {first reply line: count}, "failed": count, "rapid": {...}}.
"""

import json
import socket
import sys
import time

spec = json.loads(sys.argv[1])
assert spec["connections"] <= 500 and spec["hold"] <= 30 and spec.get("rapid", 0) <= 1000  # bounded


def greeting(sock: socket.socket) -> str:
    sock.settimeout(10)
    try:
        line = sock.recv(200).decode(errors="replace").split("\r\n")[0]
        return line or "(closed)"
    except OSError as err:
        return f"({err.__class__.__name__})"


def tally(lines: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in lines:
        key = line if not line.startswith("220 ") else "220"
        counts[key] = counts.get(key, 0) + 1
    return counts


held, failed = [], 0
for _ in range(spec["connections"]):
    try:
        held.append(socket.create_connection((spec["host"], spec["port"]), timeout=10))
    except OSError:
        failed += 1
lines = [greeting(s) for s in held]
time.sleep(spec["hold"])  # the flood holds its connections: that is the attack
for s in held:
    s.close()

rapid = []
for _ in range(spec.get("rapid", 0)):
    try:
        with socket.create_connection((spec["host"], spec["port"]), timeout=10) as s:
            rapid.append(greeting(s))
    except OSError:
        failed += 1
print(json.dumps({"greetings": tally(lines), "failed": failed, "rapid": tally(rapid)}))
