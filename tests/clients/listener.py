"""A listener on the Docker host's own addresses, to catch anything that leaves the lab.

Run in the host's network namespace (`docker run --network host`, tests/test_26):
for every ADDRESS and PORT given it listens on TCP, and on UDP at every address of the
machine (so that a broadcast to a lab network's .255 is heard too), and prints one line
per connection or datagram, "tcp ADDRESS:PORT from PEER" or "udp ...", flushed at
once; "listening" once every socket is bound.

    python3 listener.py ADDRESS,ADDRESS... PORT,PORT...
"""

from __future__ import annotations

import selectors
import socket
import sys

addresses, ports = sys.argv[1].split(","), [int(p) for p in sys.argv[2].split(",")]
selector = selectors.DefaultSelector()
for port in ports:
    for address in addresses:
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((address, port))
        tcp.listen(64)
        selector.register(tcp, selectors.EVENT_READ, "tcp")
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", port))
    selector.register(udp, selectors.EVENT_READ, "udp")
print("listening", flush=True)
while True:
    for key, _ in selector.select():
        sock = key.fileobj
        assert isinstance(sock, socket.socket)
        here = "{}:{}".format(*sock.getsockname())
        try:
            if key.data == "tcp":
                connection, peer = sock.accept()
                connection.close()
            else:
                _, peer = sock.recvfrom(65535)
        except OSError as err:  # (a connection reset before it was accepted): keep listening
            print(f"error {here}: {err}", flush=True)
            continue
        print(f"{key.data} {here} from {peer[0]}", flush=True)
