"""Type into an interactive program the way a learner does: one line, then wait for
the reply that line asks for, then the next. Runs inside a client container (stdlib
only); the spec is JSON in argv[1]:
  {"command": [...], "lines": [[line, reply regex or null] or {"pause": seconds}, ...],
   "timeout": 20}
A pause is a learner stopping to do something elsewhere (in another terminal).
Prints the whole transcript; exits 1 if an expected reply did not come in time.
"""

import json
import os
import re
import select
import subprocess
import sys
import time

spec = json.loads(sys.argv[1])
proc = subprocess.Popen(spec["command"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT)
transcript = b""


def read_until(pattern, timeout):
    global transcript
    start = len(transcript)
    deadline = time.monotonic() + timeout
    regex = re.compile(pattern.encode(), re.MULTILINE)
    while not regex.search(transcript, start):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
            return False
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            return False
        transcript += chunk
    return True


ok = True
for item in spec["lines"]:
    if isinstance(item, dict):
        time.sleep(min(float(item["pause"]), 60))
        continue
    line, reply = item
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()
    if reply and not read_until(reply, spec.get("timeout", 20)):
        ok = False
        break
proc.stdin.close()
proc.kill()
sys.stdout.write(transcript.decode(errors="replace"))
sys.exit(0 if ok else 1)
