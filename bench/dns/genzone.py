#!/usr/bin/env python3
"""Zone and dnsperf query file for bench/dns/run.

    genzone.py ZONE_APEX NAMES ZONEFILE QUERYFILE QUERIES [SEED]

Zone: apex SOA + NS (+ A for the NS name), then NAMES hosts h<i>.<apex> each with one
A and one AAAA. Queries: QUERIES lines, shuffled, 60% "h<i> A" / 30% "h<i> AAAA" with i
uniform over the existing names, 10% "nx<i> A" for names that do not exist (NXDOMAIN),
i uniform over a pool as large as the zone. Deterministic for a given seed.
"""
import random
import sys


def main():
    apex, names, zpath, qpath, queries = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    seed = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    apex = apex.rstrip(".")
    rng = random.Random(seed)
    with open(zpath, "w", buffering=1 << 20) as z:
        z.write(f"$ORIGIN {apex}.\n$TTL 3600\n")
        z.write(f"@ IN SOA ns1.{apex}. hostmaster.{apex}. 2024010101 3600 900 604800 300\n")
        z.write(f"@ IN NS ns1.{apex}.\nns1 IN A 192.0.2.1\n")
        chunk = []
        for i in range(names):
            chunk.append(f"h{i} IN A {10 + (i >> 24) % 200}.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n"
                         f"h{i} IN AAAA 2001:db8::{(i >> 16) & 0xffff:x}:{i & 0xffff:x}\n")
            if len(chunk) >= 10000:
                z.write("".join(chunk))
                chunk = []
        z.write("".join(chunk))
    lines = []
    for _ in range(queries):
        r = rng.random()
        if r < 0.6:
            lines.append(f"h{rng.randrange(names)}.{apex}. A\n")
        elif r < 0.9:
            lines.append(f"h{rng.randrange(names)}.{apex}. AAAA\n")
        else:
            lines.append(f"nx{rng.randrange(names)}.{apex}. A\n")
    rng.shuffle(lines)
    with open(qpath, "w", buffering=1 << 20) as q:
        q.write("".join(lines))


if __name__ == "__main__":
    main()
