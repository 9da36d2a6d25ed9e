"""A listener on the Docker host's own addresses, to catch anything that leaves the lab.

Run in the host's network namespace (`docker run --network host`, tests/test_26):
for every ADDRESS and PORT given it listens on TCP and UDP (and on UDP at the .255 of
each ADDRESS's network too, where a directed broadcast arrives), and prints one line
per connection or datagram, "tcp ADDRESS:PORT from PEER" or "udp ...", flushed at
once; "listening" once every socket is bound.

    python3 listener.py ADDRESS,ADDRESS... PORT,PORT...
"""

from __future__ import annotations

import selectors
import socket
import sys

addresses, ports = sys.argv[1].split(","), [int(p) for p in sys.argv[2].split(",")]
# each network's broadcast address too (a.b.c.255): a directed broadcast reaches the host
broadcasts = [a.rsplit(".", 1)[0] + ".255" for a in addresses]
selector = selectors.DefaultSelector()
for port in ports:
    for address in addresses:
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        tcp.bind((address, port))
        tcp.listen(64)
        selector.register(tcp, selectors.EVENT_READ, "tcp")
    for address in addresses + broadcasts:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((address, port))
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
