#!/usr/bin/env python3
"""A backend that expects a PROXY protocol v2 header, for the relay tests.

    proxy_backend.py ADDR PORT MODE

It decodes the header itself (independently of the relay's code). MODE:
  report  read the client's first bytes until a pause or 64 KiB, then answer one line
          "authority=NAME src=IP:PORT uid=ID bytes=N sha256=HEX" and close
  echo    send back every byte after the header; on EOF finish sending, then close
Prints "ready" once listening. Stops on SIGTERM.
"""
import hashlib
import ipaddress
import socket
import struct
import sys
import threading

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed inside the PROXY header")
        buf += chunk
    return buf


def read_proxy_header(s):
    head = read_exact(s, 16)
    if head[:12] != SIG:
        raise ValueError("no PROXY v2 signature")
    ver_cmd, fam, length = head[12], head[13], struct.unpack("!H", head[14:16])[0]
    if ver_cmd >> 4 != 2:
        raise ValueError("not version 2")
    body = read_exact(s, length)
    info = {"command": ver_cmd & 0xF}
    if fam == 0x11:
        src, dst = body[0:4], body[4:8]
        sport, dport = struct.unpack("!HH", body[8:12])
        info["src"] = "%s:%d" % (ipaddress.IPv4Address(src), sport)
        info["dst"] = "%s:%d" % (ipaddress.IPv4Address(dst), dport)
        tlvs = body[12:]
    elif fam == 0x21:
        src, dst = body[0:16], body[16:32]
        sport, dport = struct.unpack("!HH", body[32:36])
        info["src"] = "[%s]:%d" % (ipaddress.IPv6Address(src), sport)
        info["dst"] = "[%s]:%d" % (ipaddress.IPv6Address(dst), dport)
        tlvs = body[36:]
    else:
        raise ValueError("family %#x" % fam)
    while tlvs:
        if len(tlvs) < 3:
            raise ValueError("truncated TLV")
        t, l = tlvs[0], struct.unpack("!H", tlvs[1:3])[0]
        v = tlvs[3:3 + l]
        if len(v) != l:
            raise ValueError("TLV over the header")
        if t == 0x02:
            info["authority"] = v.decode()
        elif t == 0x05:
            info["uid"] = v.decode()
        tlvs = tlvs[3 + l:]
    return info


def serve_report(s, info):
    s.settimeout(0.5)
    data = b""
    try:
        while len(data) < 65536:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        pass
    line = "authority=%s src=%s uid=%s bytes=%d sha256=%s\n" % (
        info.get("authority"), info.get("src"), info.get("uid"), len(data),
        hashlib.sha256(data).hexdigest())
    s.sendall(line.encode())


def serve_echo(s):
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        s.sendall(chunk)
    s.shutdown(socket.SHUT_WR)


def handle(s, mode):
    try:
        info = read_proxy_header(s)
        if mode == "report":
            serve_report(s, info)
        else:
            serve_echo(s)
    except (OSError, ValueError, EOFError) as e:
        sys.stderr.write("backend: %s\n" % e)
    finally:
        s.close()


def main():
    addr, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(128)
    print("ready", flush=True)
    while True:
        s, _ = ls.accept()
        threading.Thread(target=handle, args=(s, mode), daemon=True).start()


if __name__ == "__main__":
    main()
