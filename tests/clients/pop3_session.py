"""One POP3 session, run inside a client container: `python3 - SPEC_JSON < this file`.

SPEC: {"host": ..., "port": 110, "tls": "stls" | "pop3s" | "none",
       "commands": ["USER y@...", "PASS ...", "STAT", "RETR 1", ...]}
Prints a JSON list of {"command", "reply", "data"}: the first reply line exactly as the
server sent it, and for multi-line replies the data (dot-unstuffed, CRLF line ends) as
base64. The first entry is the greeting; "STLS" upgrades the connection.
"""

import base64
import json
import poplib
import ssl
import sys

MULTILINE = ("CAPA", "RETR", "TOP", "LIST", "UIDL")


def main() -> None:
    spec = json.loads(sys.argv[1])
    context = ssl.create_default_context()
    if spec["tls"] == "pop3s":
        pop = poplib.POP3_SSL(spec["host"], spec.get("port", 995), context=context, timeout=10)
    else:
        pop = poplib.POP3(spec["host"], spec.get("port", 110), timeout=10)
    results = [{"command": None, "reply": pop.getwelcome().decode(), "data": None}]
    if spec["tls"] == "stls":
        spec["commands"].insert(0, "STLS")
    for command in spec["commands"]:
        verb, _, arg = command.partition(" ")
        data = None
        try:
            if verb == "STLS":
                reply = pop.stls(context)
            elif verb in MULTILINE and not (verb in ("LIST", "UIDL") and arg):
                reply, lines, _ = pop._longcmd(command)
                data = base64.b64encode(b"".join(line + b"\r\n" for line in lines)).decode()
            else:
                reply = pop._shortcmd(command)
        except poplib.error_proto as err:
            reply = err.args[0]
        except (OSError, EOFError) as err:
            results.append({"command": command, "reply": f"(connection lost: {err})", "data": None})
            break
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        results.append({"command": command, "reply": text, "data": data})
    print(json.dumps(results))


main()
