#!/usr/bin/env python3
"""Differential DNS check: send the same queries to two servers, compare answers.

    dnsdiff.py HOST PORT_OURS PORT_PEER ZONE [--count N] [--seed S]

The queries are generated from a name list (names in the zone, under wildcards,
under delegations, empty non-terminals, missing names, names outside the zone)
crossed with record types, with and without EDNS/DO, in random letter case, plus
hand-picked edge cases. Responses are parsed here (no DNS library) and compared on:
rcode, the AA/TC/RD/QR flags, the question (case included), and the answer,
authority and additional sections as sets of records (order-insensitive within a
section, names compared case-insensitively, TTLs exact). Prints each difference and
a summary line; exits 1 on any difference.
"""
import random
import socket
import struct
import sys

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
         "AAAA": 28, "SRV": 33, "DS": 43, "DNSKEY": 48, "CAA": 257, "HINFO": 13}
NAME_RDATA = {2, 5, 12}  # rdata is one name


def wire_name(text):
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def query(name, qtype, qid, edns=None, do=False, rd=False):
    flags = 0x0100 if rd else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 1 if edns else 0)
    msg += wire_name(name) + struct.pack("!HH", qtype, 1)
    if edns:
        msg += b"\x00" + struct.pack("!HHIH", 41, edns, 0x8000 if do else 0, 0)
    return msg


def read_name(msg, pos):
    labels, jumped, end = [], False, pos
    for _ in range(128):
        n = msg[pos]
        if n >= 0xC0:
            if not jumped:
                end = pos + 2
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            jumped = True
            continue
        pos += 1
        if n == 0:
            break
        labels.append(msg[pos:pos + n])
        pos += n
    if not jumped:
        end = pos
    return b".".join(labels).lower() + b".", end


def parse(msg):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", msg[:12])
    pos = 12
    question = []
    for _ in range(qd):
        start = pos
        _, pos = read_name(msg, pos)
        question.append(msg[start:pos] + msg[pos:pos + 4])  # exact bytes: case kept
        pos += 4
    sections = []
    for count in (an, ns, ar):
        recs = []
        for _ in range(count):
            owner, pos = read_name(msg, pos)
            rtype, rclass, ttl, rdlen = struct.unpack("!HHIH", msg[pos:pos + 10])
            pos += 10
            rd = msg[pos:pos + rdlen]
            if rtype in NAME_RDATA:
                rd, _ = read_name(msg, pos)
            elif rtype == 15:  # MX
                rd = rd[:2] + read_name(msg, pos + 2)[0]
            elif rtype == 6:  # SOA
                m, p = read_name(msg, pos)
                r, p = read_name(msg, p)
                rd = m + b" " + r + b" " + msg[p:p + 20]
            elif rtype == 41:  # OPT: compare payload size, flags and version only
                ttl = ttl & 0xFFFF0000 | (ttl & 0x8000)
                rd = b""
            pos += rdlen
            recs.append((owner, rtype, rclass, ttl, rd))
        sections.append(sorted(recs))
    return {"rcode": flags & 0xF, "flags": flags & 0x8780, "question": question,
            "answer": sections[0], "authority": sections[1], "additional": sections[2]}


def ask(sock, port, msg):
    for attempt in range(3):
        sock.sendto(msg, ("127.0.0.1", port))
        try:
            while True:
                data = sock.recv(65535)
                if data[:2] == msg[:2]:
                    return data
        except socket.timeout:
            continue
    return None


def random_case(rng, name):
    return "".join(c.upper() if rng.random() < 0.3 else c for c in name)


def main():
    host, ours, peer, zone = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    count = 3000
    seed = 1
    if "--count" in sys.argv:
        count = int(sys.argv[sys.argv.index("--count") + 1])
    if "--seed" in sys.argv:
        seed = int(sys.argv[sys.argv.index("--seed") + 1])
    rng = random.Random(seed)
    labels = ["", "ns1", "mail", "www", "web", "chain1", "chain2", "chain3", "dangling",
              "outside", "x.wild", "y.z.wild", "explicit.wild", "wild", "q.wcname",
              "a.b.ent", "b.ent", "ent", "_sip._tcp", "_tcp", "sip", "txt", "ptr", "sub",
              "ns.sub", "deep.sub", "a.b.deep.sub", "deleg2", "x.deleg2", "big",
              "missing", "x.missing", "a.b.c.missing", "*.wild", "*", "web.www"]
    names = [(l + "." if l else "") + zone for l in labels]
    names += ["outside-zone.example.", "airdr.es.", "x.airdr.es."]
    types = list(TYPES.values())
    cases = []
    for name in names:
        for t in types:
            cases.append((name, t))
    queries = []
    for i in range(count):
        name, t = cases[i % len(cases)] if i < len(cases) else rng.choice(cases)
        edns = rng.choice([None, 1232, 4096, 512])
        queries.append((random_case(rng, name), t, edns, edns is not None and rng.random() < 0.5,
                        rng.random() < 0.5))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1.0)
    diffs = 0
    for i, (name, t, edns, do, rd) in enumerate(queries):
        msg = query(name, t, (i * 7919) & 0xFFFF, edns, do, rd)
        a, b = ask(sock, ours, msg), ask(sock, peer, msg)
        if a is None or b is None:
            print("no answer from %s: %s %d" % ("ours" if a is None else "peer", name, t))
            diffs += 1
            continue
        pa, pb = parse(a), parse(b)
        if pa != pb:
            diffs += 1
            if diffs <= 20:
                print("DIFF %s type %d edns=%s do=%s" % (name, t, edns, do))
                for k in pa:
                    if pa[k] != pb[k]:
                        print("  %s: ours %r" % (k, pa[k]))
                        print("  %s: peer %r" % (k, pb[k]))
    print("dnsdiff: %d queries, %d differences" % (len(queries), diffs))
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
