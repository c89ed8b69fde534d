"""Raw HTTP/1.1 and WebSocket client for tests/integration/test_demo.sh, run in the lab's
client namespace against the relay VIP: what curl cannot show (when SSE events arrive,
a WebSocket echo, a smuggling attempt on the wire).

  lab_client.py sse  VIP NAME   events arrive one by one, not in a burst
  lab_client.py ws   VIP NAME   WebSocket upgrade through relay and tunnel, echo
  lab_client.py smuggle VIP NAME   Content-Length with Transfer-Encoding: 400, closed
Exits 0 when the check holds; otherwise prints why and exits 1.
"""
import base64
import os
import socket
import sys
import time


def connect(vip):
    return socket.create_connection((vip, 80), timeout=10)


def read_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def sse(vip, name):
    s = connect(vip)
    s.sendall(b"GET /events HTTP/1.1\r\nHost: %s\r\n\r\n" % name.encode())
    head, buf = read_head(s)
    if not head.startswith(b"HTTP/1.1 200"):
        sys.exit("SSE: %r" % head)
    seen = []
    deadline = time.time() + 10
    while len(seen) < 3 and time.time() < deadline:
        while b"\n\n" in buf and len(seen) < 3:
            event, _, buf = buf.partition(b"\n\n")
            if b"data: event" in event:
                seen.append(time.time())
        if len(seen) < 3:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    if len(seen) != 3:
        sys.exit("SSE: %d events" % len(seen))
    # The service sends one every 0.5 s: arriving in one burst would mean buffering.
    if seen[2] - seen[0] < 0.6:
        sys.exit("SSE: events arrived in a burst: %r" % seen)
    print("3 events, %.2f s from the first to the last" % (seen[2] - seen[0]))


def ws(vip, name):
    s = connect(vip)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (name, key)).encode())
    head, rest = read_head(s)
    if not head.startswith(b"HTTP/1.1 101"):
        sys.exit("WebSocket: %r" % head)
    for msg in (b"hello through the tunnel", b"x" * 300):
        mask = os.urandom(4)
        n = len(msg)
        frame = bytes([0x81, 0x80 | n]) if n < 126 else bytes([0x81, 0x80 | 126]) + n.to_bytes(2, "big")
        s.sendall(frame + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
        want = (2 if n < 126 else 4) + n
        while len(rest) < want:
            chunk = s.recv(4096)
            if not chunk:
                sys.exit("WebSocket: closed after %d bytes" % len(rest))
            rest += chunk
        frame, rest = rest[:want], rest[want:]
        if frame[0] != 0x81 or frame[-n:] != msg:
            sys.exit("WebSocket: echo %r" % frame[:40])
    s.sendall(bytes([0x88, 0x80]) + os.urandom(4))
    print("upgrade, two echoes")


def smuggle(vip, name):
    s = connect(vip)
    s.sendall(("POST / HTTP/1.1\r\nHost: %s\r\nContent-Length: 4\r\n"
               "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: %s\r\n\r\n"
               % (name, name)).encode())
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    if not data.startswith(b"HTTP/1.1 400") or data.count(b"HTTP/1.1") != 1:
        sys.exit("smuggling: %r" % data[:200])
    print("400, connection closed, nothing behind it answered")


if __name__ == "__main__":
    {"sse": sse, "ws": ws, "smuggle": smuggle}[sys.argv[1]](sys.argv[2], sys.argv[3])
