#!/usr/bin/env bash
# airdress-dns end to end: the same zone served by airdress-dns and by NSD (both
# started here on loopback), a few thousand generated and hand-picked queries
# compared answer by answer, then kdig/dig checks of the protocol behaviour, claimed
# names through the admin API with change visibility, TCP, reload, and malformed
# packets.
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
command -v nsd >/dev/null || skip "nsd is not installed"
command -v kdig >/dev/null || skip "kdig is not installed"
dns_bin=$BUILD_DIR/bin/airdress-dns
base=$((10000 + RANDOM % 20000))  # below the ephemeral range (32768-)
ours=$base peer=$((base + 1)) admin=$((base + 2))
cd "$TEST_TMP"
cp "$SOURCE_DIR/tests/data/zones/differential.zone" zone.db

# NSD, the reference.
cat >nsd.conf <<EOF
server:
  ip-address: 127.0.0.1@$peer
  port: $peer
  username: ""
  chroot: ""
  zonesdir: "$TEST_TMP"
  database: ""
  zonelistfile: "$TEST_TMP/zone.list"
  xfrdfile: "$TEST_TMP/xfrd.state"
  pidfile: "$TEST_TMP/nsd.pid"
  xfrdir: "$TEST_TMP"
  minimal-responses: yes
  rrl-ratelimit: 0
  hide-version: yes
  verbosity: 0
  server-count: 1
remote-control:
  control-enable: no
zone:
  name: diff.airdr.es
  zonefile: zone.db
  provide-xfr: 127.0.0.1 NOKEY
EOF
nsd -d -c nsd.conf >nsd.log 2>&1 &
TEST_PIDS+=($!)

echo "secret-token" >admin.token
cat >dns.yaml <<EOF
listen: ["127.0.0.1:$ours"]
workers: 2
data_dir: data
zones:
  - name: diff.airdr.es
    file: zone.db
    relay_vip: ["203.0.113.10", "2001:db8::10"]
    allow_transfer: ["127.0.0.1"]
cache_size: 8MiB
batch_wait_us: 100   # every check below also goes through the batched wait
nsid: "pop-test"
admin: { listen: "127.0.0.1:$admin", token_file: admin.token }
EOF
"$dns_bin" -c dns.yaml -t || fail "config check"
"$dns_bin" -c dns.yaml 2>dns.log &
dns=$!
TEST_PIDS+=("$dns")
wait_for 10 grep -q msg=started dns.log || { cat dns.log; fail "airdress-dns did not start"; }
wait_for 10 kdig +short +time=1 +retry=0 @127.0.0.1 -p "$peer" diff.airdr.es SOA || { cat nsd.log; fail "nsd did not start"; }
ok() { echo "ok: $*"; }

# 1. Differential: every answer the same as NSD's.
python3 "$here/dnsdiff.py" 127.0.0.1 "$ours" "$peer" diff.airdr.es. --count 3000 || fail "answers differ from NSD"
# Again, now that the caches are warm: cached answers must be the same too.
python3 "$here/dnsdiff.py" 127.0.0.1 "$ours" "$peer" diff.airdr.es. --count 3000 --seed 2 || fail "cached answers differ"
ok "3000 + 3000 queries answered as NSD answers them (cold and warm cache)"

# 2. Protocol behaviour, asked with kdig.
q() { kdig +time=2 +retry=0 @127.0.0.1 -p "$ours" "$@" 2>&1 || true; }
# has PATTERN: the last q output (in $out) matches PATTERN. No grep -q in a pipe: with
# pipefail, grep leaving early can fail the pipe under the writer.
has() { grep -q -- "$1" <<<"$out"; }
out=$(q www.diff.airdr.es A); has 'status: NOERROR' || fail "NOERROR"
out=$(dig +time=2 +tries=1 @127.0.0.1 -p "$ours" WwW.DiFf.AiRdR.eS A +noall +answer); has '^WwW.DiFf.AiRdR.eS.*CNAME' || fail "question case"
out=$(q nothing.diff.airdr.es A); has 'status: NXDOMAIN' || fail "NXDOMAIN"
out=$(q example.com A); has 'status: REFUSED' || fail "REFUSED outside our zones"
out=$(q +edns=1 www.diff.airdr.es A); has 'status: BADVERS' || fail "BADVERS"
out=$(q +nsid www.diff.airdr.es A); has 'pop-test' || fail "NSID"
out=$(q +cookie www.diff.airdr.es A); grep -qi 'COOKIE: [0-9a-f]\{48\}' <<<"$out" || fail "server cookie"
out=$(q +notcp +bufsize=512 big.diff.airdr.es TXT); has 'Flags: qr aa tc' || fail "TC over UDP"
out=$(q +tcp big.diff.airdr.es TXT); [ "$(grep -c 'TXT.*"' <<<"$out")" = 4 ] || fail "TCP fallback"
out=$(q +notcp diff.airdr.es AXFR); has "NOTIMPL" || fail "AXFR over UDP: NOTIMP"
python3 - "$ours" <<'PY' || fail "NOTIMP for an unknown opcode"
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
q = struct.pack("!HHHHHH", 9, 2 << 11, 1, 0, 0, 0) + b"\x04diff\x05airdr\x02es\x00\x00\x06\x00\x01"
s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
r = s.recv(512)
assert r[:2] == q[:2] and r[3] & 0xF == 4, r
PY
out=$(q diff.airdr.es ANY); has 'ANSWER: 1' || fail "ANY per RFC 8482"
ok "NOERROR, case, NXDOMAIN, REFUSED, BADVERS, NSID, cookies, TC + TCP, NOTIMP, ANY"

# AXFR over TCP to allowed addresses: the same records as NSD's transfer; refused to
# others.
axfr() { kdig +time=5 +retry=0 @127.0.0.1 -p "$1" "${@:2}" diff.airdr.es AXFR +noall +answer 2>&1 |
	awk '$1 !~ /^;/ && NF' | tr 'A-Z' 'a-z' | tr -s ' \t' ' ' | sort; }
axfr "$ours" >axfr.ours
axfr "$peer" >axfr.peer
[ "$(wc -l <axfr.ours)" -gt 30 ] || { cat axfr.ours; fail "AXFR returned too little"; }
diff axfr.ours axfr.peer || fail "AXFR differs from NSD's"
out=$(kdig +time=2 +retry=0 -b 127.0.0.2 @127.0.0.1 -p "$ours" diff.airdr.es AXFR 2>&1 || true)
has 'REFUSED' || fail "AXFR from a non-listed address: $out"
ok "AXFR: same records as NSD's transfer; refused to others"

# 3. Claimed names: the admin API goes through the store and invalidation.
[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$admin/v1/names/app.diff.airdr.es")" = 401 ] ||
	fail "names API without a token"
auth=(-H "Authorization: Bearer secret-token")
out=$(q app.diff.airdr.es A); has 'status: NXDOMAIN' || fail "unclaimed name"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "${auth[@]}" "http://127.0.0.1:$admin/v1/names/app.diff.airdr.es")" = 201 ] || fail "claim"
[ "$(q +short app.diff.airdr.es A)" = 203.0.113.10 ] || fail "claimed A"
[ "$(q +short app.diff.airdr.es AAAA)" = 2001:db8::10 ] || fail "claimed AAAA"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X PUT "${auth[@]}" "http://127.0.0.1:$admin/v1/names/app.diff.airdr.es")" = 200 ] || fail "claim again"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${auth[@]}" "http://127.0.0.1:$admin/v1/names/app.diff.airdr.es")" = 204 ] || fail "release"
out=$(q app.diff.airdr.es A); has 'status: NXDOMAIN' || fail "released name still answers"
ok "claim / release through the admin API"

# 4. Change visibility: a client queries in a loop while names come and go; once the
#    API call returned (invalidation acknowledged by every worker), no stale answer.
python3 - "$ours" "$admin" <<'PY' || fail "stale answer after invalidation"
import socket, struct, sys, urllib.request
port, admin = int(sys.argv[1]), int(sys.argv[2])
def ask(name):
    q = struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\x00" + struct.pack("!HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
    s.sendto(q, ("127.0.0.1", port))
    r = s.recv(4096); s.close()
    return r[3] & 0xF, struct.unpack("!H", r[6:8])[0]
def call(method, name):
    req = urllib.request.Request("http://127.0.0.1:%d/v1/names/%s" % (admin, name), method=method,
                                 headers={"Authorization": "Bearer secret-token"})
    urllib.request.urlopen(req).read()
for i in range(40):
    name = "n%d.diff.airdr.es" % (i % 5)
    for _ in range(3): ask(name)  # warm every worker's cache with NXDOMAIN
    call("PUT", name)
    for _ in range(6):
        rcode, an = ask(name)
        assert rcode == 0 and an == 1, "claimed %s: rcode %d answers %d" % (name, rcode, an)
    call("DELETE", name)
    for _ in range(6):
        rcode, an = ask(name)
        assert rcode == 3, "released %s: rcode %d" % (name, rcode)
print("change visibility: 40 claim/release rounds, no stale answer")
PY
ok "no stale answer after a change is acknowledged"

# 5. Malformed input for a bounded time: the server answers what it should and lives.
python3 - "$ours" <<'PY' || fail "malformed packets"
import os, random, socket, struct, time
port = int(__import__("sys").argv[1])
rng = random.Random(3)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(0.2)
good = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x03www\x04diff\x05airdr\x02es\x00\x00\x01\x00\x01"
end = time.time() + 5; n = 0
while time.time() < end and n < 20000:
    kind = rng.random()
    if kind < 0.3: pkt = os.urandom(rng.randrange(0, 600))
    else:
        b = bytearray(good)
        for _ in range(rng.randrange(1, 6)): b[rng.randrange(len(b))] = rng.randrange(256)
        pkt = bytes(b[:rng.randrange(1, len(b) + 1)])
    s.sendto(pkt, ("127.0.0.1", port)); n += 1
# A fresh socket, so the answers to the flood cannot crowd out this one.
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); c.settimeout(2)
for attempt in range(3):
    c.sendto(good, ("127.0.0.1", port))
    try:
        r = c.recv(4096)
    except socket.timeout:
        continue
    if r[:2] == good[:2] and r[2] & 0x80 and r[3] & 0xF == 0: break
else:
    raise SystemExit("no answer after the flood")
print("malformed: %d packets, still answering" % n)
PY
out=$(q www.diff.airdr.es A); has 'status: NOERROR' || fail "server broken after malformed packets"
ok "malformed and random packets: no crash, still answering"

# 6. SIGHUP reload applies a changed zone file; a broken one changes nothing.
sed -i 's/^web      IN A     192.0.2.80/web      IN A     192.0.2.180/' zone.db
kill -HUP "$dns"
wait_for 5 grep -q 'configuration reloaded' dns.log || fail "reload"
out=$(q +short web.diff.airdr.es A); has '^192.0.2.180$' || fail "reloaded record"
out=$(q +short www.diff.airdr.es A); has '^192.0.2.180$' || fail "CNAME to the reloaded record (cache invalidated)"
echo "garbage ( here" >>zone.db
kill -HUP "$dns"
wait_for 5 grep -q 'zone not reloaded' dns.log || fail "broken zone not reported"
out=$(q +short web.diff.airdr.es A); has '^192.0.2.180$' || fail "old data kept after a broken reload"
ok "SIGHUP: zone changes applied and invalidated; a broken file keeps the old zone"

# 7. A zone added by SIGHUP answers at once, also for names whose REFUSED was asked
# before on every worker (REFUSED is never cached: no change list names what it
# depends on).
printf '$ORIGIN added.airdr.es.\n$TTL 300\n@ IN SOA ns hm 1 2 3 4 5\n@ IN NS ns\nns IN A 192.0.2.2\nwww IN A 192.0.2.3\n' >added.zone
for _ in 1 2 3 4 5 6; do
	for n in added.airdr.es www.added.airdr.es nx.added.airdr.es; do
		out=$(q "$n" A); has 'status: REFUSED' || fail "$n before its zone is served"
	done
done
printf '  - name: added.airdr.es\n    file: added.zone\n' >zones.add
sed -i '/^    allow_transfer:/r zones.add' dns.yaml
kill -HUP "$dns"
wait_for 5 grep -q 'zone=added.airdr.es' dns.log || { cat dns.log; fail "added zone not loaded"; }
for _ in 1 2 3 4 5 6; do
	out=$(q added.airdr.es SOA); has 'status: NOERROR' || fail "added zone's apex still REFUSED"
	out=$(q +short www.added.airdr.es A); has '^192.0.2.3$' || fail "added zone's name"
	out=$(q nx.added.airdr.es A); has 'status: NXDOMAIN' || fail "added zone's NXDOMAIN"
done
ok "SIGHUP: a new zone answers on every worker, no REFUSED left behind"

# A zone taken out of the config is no longer served, on every worker, and stays
# out after a restart (section 8). Put back, it answers again.
cp dns.yaml dns.yaml.with-added
sed -i '/^  - name: added.airdr.es$/,/^    file: added.zone$/d' dns.yaml
grep -q added dns.yaml && fail "test setup: the added zone is still in dns.yaml"
kill -HUP "$dns"
wait_for 5 grep -q 'zone removed: no longer configured" zone=added.airdr.es' dns.log || { cat dns.log; fail "zone not removed"; }
for _ in 1 2 3 4 5 6; do
	out=$(q www.added.airdr.es A); has 'status: REFUSED' || fail "a zone no longer configured still answers"
done
cp dns.yaml.with-added dns.yaml
kill -HUP "$dns"
wait_for 5 bash -c "kdig +short +time=1 +retry=0 @127.0.0.1 -p $ours www.added.airdr.es A | grep -q 192.0.2.3" ||
	fail "zone put back not answered"
sed -i '/^  - name: added.airdr.es$/,/^    file: added.zone$/d' dns.yaml   # and gone by the restart
ok "SIGHUP: a zone no longer configured is no longer served; put back, it is"

curl -fsS "http://127.0.0.1:$admin/metrics" >metrics
grep -q '^dns_cache_hits_total [1-9]' metrics || fail "cache hit metric"
grep -q '^dns_queries_total{proto="udp",qtype="A"} [1-9]' metrics || fail "query metric"
stop_pid "$dns" airdress-dns

# 8. A restart answers from the store at once and reads the zone file once serving:
# a broken file keeps the stored zone, a changed one is applied and invalidated.
start_again() {
	: >dns.log
	"$dns_bin" -c dns.yaml 2>dns.log &
	dns=$!
	TEST_PIDS+=("$dns")
	wait_for 10 grep -q msg=started dns.log || { cat dns.log; fail "airdress-dns did not restart"; }
}
start_again   # zone.db still ends in garbage
grep -q 'zone served from the store' dns.log || fail "restart did not serve the stored zone"
grep -q 'zone removed: no longer configured" zone=added.airdr.es' dns.log ||
	fail "a zone taken out of the config while stopped was not removed at start"
out=$(q www.added.airdr.es A); has 'status: REFUSED' || fail "a zone no longer configured answers after a restart"
out=$(q +short web.diff.airdr.es A); has '^192.0.2.180$' || fail "stored zone not served after a restart"
wait_for 10 grep -q 'zone not reloaded' dns.log || fail "broken zone file not reported after a restart"
out=$(q +short web.diff.airdr.es A); has '^192.0.2.180$' || fail "stored zone not kept"
stop_pid "$dns" airdress-dns
sed -i '/^garbage/d; s/^web      IN A     192.0.2.180/web      IN A     192.0.2.181/' zone.db
start_again
web_is_181() { out=$(q +short web.diff.airdr.es A); has '^192.0.2.181$' && ! has '^192.0.2.180$'; }
wait_for 10 web_is_181 || fail "changed zone file not applied after a restart"
out=$(q +short www.diff.airdr.es A); has '^192.0.2.181$' || fail "CNAME to the changed record after a restart"
grep -q 'zone loaded.*rrsets_changed=1 ' dns.log || { cat dns.log; fail "restart did not apply exactly the change"; }
stop_pid "$dns" airdress-dns
ok "restart: served from the store at once; the zone file checked once serving"
echo PASS
